package server

import (
	"sort"
	"strings"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
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
	b = resp.AppendArray(b, 10)
	b = resp.AppendBulkString(b, c.name)
	b = resp.AppendInt(b, int64(c.arity))
	b = resp.AppendArray(b, len(c.flags))
	for _, f := range c.flags {
		b = append(append(append(b, '+'), f...), "\r\n"...)
	}
	b = resp.AppendInt(b, int64(c.first))
	b = resp.AppendInt(b, int64(c.last))
	b = resp.AppendInt(b, int64(c.step))
	b = resp.AppendArray(b, 1)
	b = append(append(append(b, "+@"...), c.group...), "\r\n"...)
	b = resp.AppendArray(b, 0) // tips
	b = resp.AppendArray(b, 0) // key specs
	b = resp.AppendArray(b, 0) // subcommands
	return b
}

// commandCmd is COMMAND and its subcommands; the dispatcher has checked
// the subcommand and its arity.
func commandCmd(p *pipeline, args [][]byte) {
	if len(args) == 1 {
		p.reply(commandEntries(allCommands()))
		return
	}
	switch strings.ToLower(string(args[1])) {
	case "count":
		p.reply(resp.AppendInt(nil, int64(len(allCommands()))))
	case "info":
		if len(args) == 2 {
			p.reply(commandEntries(allCommands()))
			return
		}
		out := resp.AppendArray(nil, len(args)-2)
		for _, n := range args[2:] {
			if c, ok := lookupInfo(string(n)); ok {
				out = appendCommandEntry(out, c)
			} else {
				out = resp.AppendNull(out) // Redis's RESP2 null for an unknown name
			}
		}
		p.reply(out)
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
		out := resp.AppendArray(nil, 2*len(cmds))
		for _, c := range cmds {
			out = resp.AppendBulkString(out, c.name)
			out = resp.AppendArray(out, 4)
			out = resp.AppendBulkString(out, "summary")
			out = resp.AppendBulkString(out, strings.ToUpper(c.name)+" as in Redis")
			out = resp.AppendBulkString(out, "group")
			out = resp.AppendBulkString(out, c.group)
		}
		p.reply(out)
	case "getkeys":
		p.reply(getKeys(args[2:]))
	case "help":
		p.reply(resp.AppendStatusArray(nil,
			"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"(no subcommand)", "COUNT", "INFO [<command-name> ...]", "DOCS [<command-name> ...]",
			"GETKEYS <full-command>", "HELP",
		))
	}
}

func commandEntries(cmds []cmdInfo) []byte {
	out := resp.AppendArray(nil, len(cmds))
	for _, c := range cmds {
		out = appendCommandEntry(out, c)
	}
	return out
}

// getKeys is COMMAND GETKEYS for argv, worded as Redis 7.0 words it.
func getKeys(argv [][]byte) []byte {
	name := strings.ToLower(string(argv[0]))
	if h, ok := connCommands[name]; ok {
		if !arityOK(h.arity, len(argv)) {
			return resp.AppendError(nil, "ERR Invalid number of arguments specified for command")
		}
		return resp.AppendError(nil, "ERR The command has no key arguments")
	}
	c := fsm.Lookup(argv[0])
	if c == nil || c.Flags&fsm.FlagInternal != 0 {
		return resp.AppendError(nil, "ERR Invalid command specified")
	}
	if !c.ArityOK(len(argv)) {
		return resp.AppendError(nil, "ERR Invalid number of arguments specified for command")
	}
	keys := c.Keys(argv)
	if len(keys) == 0 {
		return resp.AppendError(nil, "ERR The command has no key arguments")
	}
	out := resp.AppendArray(nil, len(keys))
	for _, k := range keys {
		out = resp.AppendBulk(out, k)
	}
	return out
}
