package fsm

// Generic key commands.

var keyCommands = []*Command{
	{Name: "del", Arity: -2, Flags: FlagWrite, FirstKey: 1, LastKey: -1, Step: 1, Group: "generic", Handler: delCmd},
}

func delCmd(c *Ctx, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.Del(k) {
			n++
		}
	}
	c.Int(n)
}
