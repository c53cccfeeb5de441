package server

import (
	"sort"
	"strings"

	"github.com/statehouse/statehouse/fsm"
)

// cmdInfo is one command as COMMAND describes it, from the fsm's table or
// the server's own.
type cmdInfo struct {
	name              string
	arity             int
	flags             []string
	first, last, step int
	group             string
}

func allCommands() []cmdInfo {
	var out []cmdInfo
	for _, c := range fsm.Commands() {
		out = append(out, cmdInfo{c.Name, c.Arity, c.FlagNames(), c.FirstKey, c.LastKey, c.Step, c.Group})
	}
	for name, c := range connCommands {
		out = append(out, cmdInfo{name, c.arity, c.flags, 0, 0, 0, c.group})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func lookupInfo(name string) (cmdInfo, bool) {
	name = strings.ToLower(name)
	if c, ok := connCommands[name]; ok {
		return cmdInfo{name, c.arity, c.flags, 0, 0, 0, c.group}, true
	}
	if c := fsm.Lookup([]byte(name)); c != nil && c.Flags&fsm.FlagInternal == 0 {
		return cmdInfo{c.Name, c.Arity, c.FlagNames(), c.FirstKey, c.LastKey, c.Step, c.Group}, true
	}
	return cmdInfo{}, false
}

// appendCommandEntry writes the 10-field entry of Redis 7's COMMAND reply.
// Clients use the flags ("readonly" routes reads) and key positions.
func appendCommandEntry(b []byte, c cmdInfo) []byte {
	b = fsm.AppendArray(b, 10)
	b = fsm.AppendBulkString(b, c.name)
	b = fsm.AppendInt(b, int64(c.arity))
	b = fsm.AppendArray(b, len(c.flags))
	for _, f := range c.flags {
		b = append(append(append(b, '+'), f...), "\r\n"...)
	}
	b = fsm.AppendInt(b, int64(c.first))
	b = fsm.AppendInt(b, int64(c.last))
	b = fsm.AppendInt(b, int64(c.step))
	b = fsm.AppendArray(b, 1)
	b = append(append(append(b, "+@"...), c.group...), "\r\n"...)
	b = fsm.AppendArray(b, 0) // tips
	b = fsm.AppendArray(b, 0) // key specs
	b = fsm.AppendArray(b, 0) // subcommands
	return b
}

func commandCmd(p *pipeline, args [][]byte) {
	if len(args) == 1 {
		cmds := allCommands()
		out := fsm.AppendArray(nil, len(cmds))
		for _, c := range cmds {
			out = appendCommandEntry(out, c)
		}
		p.reply(out)
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		if len(args) != 2 {
			break
		}
		p.reply(fsm.AppendInt(nil, int64(len(allCommands()))))
		return
	case "info":
		names := args[2:]
		var out []byte
		if len(names) == 0 {
			cmds := allCommands()
			out = fsm.AppendArray(nil, len(cmds))
			for _, c := range cmds {
				out = appendCommandEntry(out, c)
			}
		} else {
			out = fsm.AppendArray(nil, len(names))
			for _, n := range names {
				if c, ok := lookupInfo(string(n)); ok {
					out = appendCommandEntry(out, c)
				} else {
					out = append(out, "*-1\r\n"...)
				}
			}
		}
		p.reply(out)
		return
	case "docs":
		var cmds []cmdInfo
		if len(args) == 2 {
			cmds = allCommands()
		} else {
			for _, n := range args[2:] {
				if c, ok := lookupInfo(string(n)); ok {
					cmds = append(cmds, c)
				}
			}
		}
		// A flat map, as RESP2 shows Redis's: name -> [summary, ..., group, ...].
		out := fsm.AppendArray(nil, 2*len(cmds))
		for _, c := range cmds {
			out = fsm.AppendBulkString(out, c.name)
			out = fsm.AppendArray(out, 4)
			out = fsm.AppendBulkString(out, "summary")
			out = fsm.AppendBulkString(out, strings.ToUpper(c.name)+" as in Redis")
			out = fsm.AppendBulkString(out, "group")
			out = fsm.AppendBulkString(out, c.group)
		}
		p.reply(out)
		return
	case "getkeys":
		if len(args) < 3 {
			break
		}
		c := fsm.Lookup(args[2])
		if c == nil || c.Flags&fsm.FlagInternal != 0 {
			p.reply(fsm.AppendError(nil, "ERR Invalid command specified"))
			return
		}
		if !c.ArityOK(len(args) - 2) {
			p.reply(fsm.AppendError(nil, "ERR Invalid number of arguments specified for command"))
			return
		}
		keys := c.Keys(args[2:])
		if len(keys) == 0 {
			p.reply(fsm.AppendError(nil, "ERR The command has no key arguments"))
			return
		}
		out := fsm.AppendArray(nil, len(keys))
		for _, k := range keys {
			out = fsm.AppendBulk(out, k)
		}
		p.reply(out)
		return
	}
	p.reply(fsm.AppendError(nil, "ERR unknown subcommand or wrong number of arguments for '"+string(args[1])+"'. Try COMMAND HELP."))
}
