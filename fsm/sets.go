package fsm

// Set commands.

var setCommands = []*Command{}
