package fsm

// String commands. Each handler gets args with args[0] the command name and
// arity already checked.

var stringCommands = []*Command{
	{Name: "get", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getCmd},
	{Name: "set", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: setCmd},
}

func getCmd(c *Ctx, args [][]byte) {
	it := c.Get(args[1])
	switch {
	case it == nil:
		c.Null()
	case it.kind != KindString:
		c.Error(ErrWrongType)
	default:
		c.BulkString(it.str)
	}
}

// setCmd is a placeholder until the full SET (options) lands.
func setCmd(c *Ctx, args [][]byte) {
	c.Put(newString(args[1], string(args[2])))
	c.OK()
}
