package fsm

// Hash commands.

var hashCommands = []*Command{}
