package server

import (
	"strings"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// COMMAND and its subcommands describe the command table: the one the
// dispatcher checks every command against.

// appendCommandEntry writes the 10-field entry of Redis 7's COMMAND reply:
// name, arity, flags, first key, last key, step, ACL categories, tips, key
// specs, subcommands (each an entry of its own). Clients use the flags
// ("readonly" routes reads) and key positions.
func appendCommandEntry(b []byte, c *fsm.Command) []byte {
	b = resp.AppendArray(b, 10)
	b = resp.AppendBulkString(b, c.FullName())
	b = resp.AppendInt(b, int64(c.Arity))
	flags := c.FlagNames()
	b = resp.AppendArray(b, len(flags))
	for _, f := range flags {
		b = resp.AppendStatus(b, f)
	}
	b = resp.AppendInt(b, int64(c.FirstKey))
	b = resp.AppendInt(b, int64(c.LastKey))
	b = resp.AppendInt(b, int64(c.Step))
	cats := c.ACLCategories().Names()
	b = resp.AppendArray(b, len(cats))
	for _, cat := range cats {
		b = resp.AppendStatus(b, "@"+cat)
	}
	b = resp.AppendArray(b, 0) // tips
	b = resp.AppendArray(b, 0) // key specs
	b = resp.AppendArray(b, len(c.Subcommands))
	for _, sub := range c.Subcommands {
		b = appendCommandEntry(b, sub)
	}
	return b
}

func commandEntries(cmds []*fsm.Command) []byte {
	out := resp.AppendArray(nil, len(cmds))
	for _, c := range cmds {
		out = appendCommandEntry(out, c)
	}
	return out
}

// commandCmd is COMMAND alone: every command.
func commandCmd(p *pipeline, args [][]byte) { p.reply(commandEntries(p.s.table.Commands())) }

func commandCountCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendInt(nil, int64(len(p.s.table.Commands()))))
}

// commandInfoCmd is COMMAND INFO [name ...]; a name may be a subcommand's
// ("client|list"), and an unknown one gets a null, as in Redis.
func commandInfoCmd(p *pipeline, args [][]byte) {
	if len(args) == 2 {
		p.reply(commandEntries(p.s.table.Commands()))
		return
	}
	out := resp.AppendArray(nil, len(args)-2)
	for _, n := range args[2:] {
		if c := p.s.table.LookupFull(string(n)); c != nil {
			out = appendCommandEntry(out, c)
		} else {
			out = resp.AppendNull(out) // Redis's RESP2 null for an unknown name
		}
	}
	p.reply(out)
}

// commandDocsCmd is COMMAND DOCS [name ...]: a flat map, as RESP2 shows
// Redis's: name -> [summary, ..., group, ...]. Unknown names are left out.
func commandDocsCmd(p *pipeline, args [][]byte) {
	var cmds []*fsm.Command
	if len(args) == 2 {
		cmds = p.s.table.Commands()
	} else {
		for _, n := range args[2:] {
			if c := p.s.table.LookupFull(string(n)); c != nil {
				cmds = append(cmds, c)
			}
		}
	}
	out := resp.AppendArray(nil, 2*len(cmds))
	for _, c := range cmds {
		out = resp.AppendBulkString(out, c.FullName())
		out = resp.AppendArray(out, 4)
		out = resp.AppendBulkString(out, "summary")
		out = resp.AppendBulkString(out, strings.ToUpper(strings.ReplaceAll(c.FullName(), "|", " "))+" as in Redis")
		out = resp.AppendBulkString(out, "group")
		out = resp.AppendBulkString(out, c.Group)
	}
	p.reply(out)
}

// commandGetkeysCmd is COMMAND GETKEYS, worded as Redis 7.0 words it.
func commandGetkeysCmd(p *pipeline, args [][]byte) {
	argv := args[2:]
	c := p.s.table.Lookup(argv[0])
	if c == nil || c.Flags&fsm.FlagInternal != 0 {
		p.reply(resp.AppendError(nil, "ERR Invalid command specified"))
		return
	}
	if c.Subcommands != nil && len(argv) > 1 {
		if sub := c.Sub(argv[1]); sub != nil {
			c = sub
		}
	}
	if !c.ArityOK(len(argv)) {
		p.reply(resp.AppendError(nil, "ERR Invalid number of arguments specified for command"))
		return
	}
	keys := c.Keys(argv)
	if len(keys) == 0 {
		p.reply(resp.AppendError(nil, "ERR The command has no key arguments"))
		return
	}
	out := resp.AppendArray(nil, len(keys))
	for _, k := range keys {
		out = resp.AppendBulk(out, k)
	}
	p.reply(out)
}

func commandHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"(no subcommand)", "COUNT", "INFO [<command-name> ...]", "DOCS [<command-name> ...]",
		"GETKEYS <full-command>", "HELP",
	))
}
