package server

import (
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/fsm"
)

// configParam is one CONFIG GET/SET parameter. set is nil when the
// parameter is fixed at start.
type configParam struct {
	get func(s *Server) string
	set func(s *Server, v string) bool
}

var configParams = map[string]configParam{
	"port": {get: func(s *Server) string {
		a := s.Addr().String()
		return a[strings.LastIndexByte(a, ':')+1:]
	}},
	"bind":      {get: func(s *Server) string { host, _, _ := strings.Cut(s.cfg.Addr, ":"); return host }},
	"databases": {get: func(s *Server) string { return strconv.Itoa(fsm.NumDBs) }},
	"requirepass": {
		get: func(s *Server) string { return *s.password.Load() },
		set: func(s *Server, v string) bool { s.password.Store(&v); return true },
	},
	"maxclients": {
		get: func(s *Server) string { return strconv.FormatInt(s.maxClients.Load(), 10) },
		set: func(s *Server, v string) bool {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return false
			}
			s.maxClients.Store(n)
			return true
		},
	},
	"proto-max-bulk-len": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxBulkLen, 10) },
		set: func(s *Server, v string) bool {
			return s.setLimit(v, func(l *Limits, n int64) { l.MaxBulkLen = n })
		},
	},
	"client-query-buffer-limit": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxRequest, 10) },
		set: func(s *Server, v string) bool {
			return s.setLimit(v, func(l *Limits, n int64) { l.MaxRequest = n })
		},
	},
	"max-args": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxArgs, 10) },
		set: func(s *Server, v string) bool {
			return s.setLimit(v, func(l *Limits, n int64) { l.MaxArgs = n })
		},
	},
	// Persistence is the Raft log, always on; these answer tools that ask.
	"save":       {get: func(s *Server) string { return "" }},
	"appendonly": {get: func(s *Server) string { return "no" }},
	"maxmemory":  {get: func(s *Server) string { return "0" }},
	"timeout":    {get: func(s *Server) string { return "0" }},
}

// setLimit changes a limit for connections accepted from now on.
func (s *Server) setLimit(v string, apply func(*Limits, int64)) bool {
	n, ok := parseMemory(v)
	if !ok || n < 1 {
		return false
	}
	l := *s.limits.Load()
	apply(&l, n)
	s.limits.Store(&l)
	return true
}

// parseMemory parses "512mb", "1gb", "1024" as Redis's config does.
func parseMemory(v string) (int64, bool) {
	v = strings.ToLower(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, false
	}
	return n * mult, true
}

func configCmd(p *pipeline, args [][]byte) {
	s := p.s
	switch strings.ToLower(string(args[1])) {
	case "get":
		if len(args) < 3 {
			break
		}
		names := make([]string, 0, len(configParams))
		for n := range configParams {
			names = append(names, n)
		}
		sortStrings(names)
		seen := map[string]bool{}
		var pairs []string
		for _, pat := range args[2:] {
			for _, n := range names {
				if !seen[n] && fsm.Match([]byte(strings.ToLower(string(pat))), []byte(n)) {
					seen[n] = true
					pairs = append(pairs, n, configParams[n].get(s))
				}
			}
		}
		out := fsm.AppendArray(nil, len(pairs))
		for _, v := range pairs {
			out = fsm.AppendBulkString(out, v)
		}
		p.reply(out)
		return
	case "set":
		if len(args) < 4 || len(args)%2 != 0 {
			break
		}
		for i := 2; i < len(args); i += 2 {
			name := strings.ToLower(string(args[i]))
			prm, ok := configParams[name]
			if !ok {
				p.reply(fsm.AppendError(nil, "ERR Unknown option or number of arguments for CONFIG SET - '"+string(args[i])+"'"))
				return
			}
			if prm.set == nil {
				p.reply(fsm.AppendError(nil, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - can't set immutable config"))
				return
			}
			if !prm.set(s, string(args[i+1])) {
				p.reply(fsm.AppendError(nil, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - argument couldn't be parsed into an integer"))
				return
			}
			s.log.Info("config changed", "param", name)
		}
		p.reply([]byte("+OK\r\n"))
		return
	case "resetstat":
		if len(args) == 2 {
			s.totalCmds.Store(0)
			s.totalConns.Store(0)
			s.rejected.Store(0)
			p.reply([]byte("+OK\r\n"))
			return
		}
	}
	p.reply(fsm.AppendError(nil, "ERR unknown subcommand or wrong number of arguments for '"+string(args[1])+"'. Try CONFIG HELP."))
}

func sortStrings(a []string) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
