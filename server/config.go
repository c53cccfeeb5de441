package server

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// configParam is one CONFIG GET/SET parameter. set is nil when the
// parameter is fixed at start; otherwise it checks v and returns the change
// to make, or Redis's reason for refusing v. CONFIG SET checks every
// parameter before it changes any, so a refused SET changes nothing.
type configParam struct {
	get func(s *Server) string
	set func(s *Server, v string) (apply func(), reason string)
	// commit, for a setting the whole cluster shares, proposes it
	// through the log once every value of the CONFIG SET was checked,
	// before any setting of this node changes.
	commit func(s *Server, v string) error
}

var configParams = withEncodingParams(withTLSParams(map[string]configParam{
	"port":      {get: func(s *Server) string { return portOf(s.plain) }},
	"bind":      {get: func(s *Server) string { host, _, _ := strings.Cut(s.cfg.Addr, ":"); return host }},
	"databases": {get: func(s *Server) string { return strconv.Itoa(fsm.NumDBs) }},
	"requirepass": {
		get: func(s *Server) string { return *s.password.Load() },
		set: func(s *Server, v string) (func(), string) {
			// Who is let in must not differ from node to node.
			if len(s.members()) > 1 {
				return nil, "a cluster's nodes must agree on the password: use ACL SETUSER default resetpass >password, which every node applies"
			}
			return func() {
				s.password.Store(&v)
				// A default user that ACL commands changed is kept in the
				// log: requirepass sets its password there, as in Redis.
				if rules, _, _ := s.fsm.ACLRules(); rules["default"] != nil {
					rule := "nopass"
					if v != "" {
						rule = "#" + fsm.HashPassword(v)
					}
					s.propose(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("__acl_setuser"), []byte("default"), []byte("resetpass"), []byte(rule)}}}})
				}
			}, ""
		},
	},
	"notify-keyspace-events": {
		get: func(s *Server) string { return fsm.FormatNotifyFlags(s.fsm.NotifyFlags()) },
		set: func(s *Server, v string) (func(), string) {
			if _, ok := fsm.ParseNotifyFlags(v); !ok {
				return nil, "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
			}
			return func() {}, ""
		},
		// One setting for the whole cluster, through the log.
		commit: func(s *Server, v string) error {
			_, _, err := s.propose(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte(fsm.NotifyCommand), []byte(v)}}}})
			return err
		},
	},
	"protected-mode": {get: func(s *Server) string {
		if s.cfg.ProtectedMode {
			return "yes"
		}
		return "no"
	}},
	"maxclients": {
		get: func(s *Server) string { return strconv.FormatInt(s.maxClients.Load(), 10) },
		set: func(s *Server, v string) (func(), string) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "argument couldn't be parsed into an integer"
			}
			if n < 1 || n > math.MaxUint32 {
				return nil, "argument must be between 1 and 4294967295 inclusive"
			}
			if why := maxClientsRefusal(int(n)); why != "" {
				return nil, why
			}
			return func() { s.maxClients.Store(n) }, ""
		},
	},
	"proto-max-bulk-len": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxBulkLen, 10) },
		set: func(s *Server, v string) (func(), string) {
			return s.setLimit(v, hardMaxLen, func(l *Limits, n int64) { l.MaxBulkLen = n })
		},
	},
	"client-query-buffer-limit": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxRequest, 10) },
		set: func(s *Server, v string) (func(), string) {
			return s.setLimit(v, hardMaxLen, func(l *Limits, n int64) { l.MaxRequest = n })
		},
	},
	"max-args": {
		get: func(s *Server) string { return strconv.FormatInt(s.limits.Load().MaxArgs, 10) },
		set: func(s *Server, v string) (func(), string) {
			return s.setLimit(v, hardMaxArgs, func(l *Limits, n int64) { l.MaxArgs = n })
		},
	},
	// Persistence is the Raft log, always on; these answer tools that ask.
	"save":       {get: func(s *Server) string { return "" }},
	"appendonly": {get: func(s *Server) string { return "no" }},
	// The memory limit is the cluster's, through the log (memory.go).
	"maxmemory": {
		get: func(s *Server) string { return strconv.FormatInt(s.fsm.MemConfig().MaxMemory, 10) },
		set: func(s *Server, v string) (func(), string) {
			if n, ok := parseMemory(v); !ok || n < 0 {
				return nil, "argument must be a memory value"
			}
			return func() {}, ""
		},
		commit: func(s *Server, v string) error {
			n, _ := parseMemory(v)
			return s.proposeMemConfig("maxmemory", strconv.FormatInt(n, 10))
		},
	},
	"maxmemory-policy": {
		get: func(s *Server) string { return s.fsm.MemConfig().Policy.String() },
		set: func(s *Server, v string) (func(), string) {
			if _, ok := fsm.ParsePolicy(strings.ToLower(v)); !ok {
				return nil, fsm.PolicyError
			}
			return func() {}, ""
		},
		commit: func(s *Server, v string) error { return s.proposeMemConfig("maxmemory-policy", strings.ToLower(v)) },
	},
	"maxmemory-samples": {
		get: func(s *Server) string { return strconv.Itoa(s.fsm.MemConfig().Samples) },
		set: func(s *Server, v string) (func(), string) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "argument couldn't be parsed into an integer"
			}
			if n < 1 || n > math.MaxInt32 {
				return nil, "argument must be between 1 and 2147483647 inclusive"
			}
			return func() {}, ""
		},
		commit: func(s *Server, v string) error { return s.proposeMemConfig("maxmemory-samples", v) },
	},
	"timeout": {
		get: func(s *Server) string { return strconv.FormatInt(int64(time.Duration(s.idle.Load())/time.Second), 10) },
		set: func(s *Server, v string) (func(), string) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "argument couldn't be parsed into an integer"
			}
			if n < 0 || n > math.MaxInt32 {
				return nil, "argument must be between 0 and 2147483647 inclusive"
			}
			return func() { s.idle.Store(int64(time.Duration(n) * time.Second)) }, ""
		},
	},
}))

// withEncodingParams adds Redis's encoding thresholds, under their 7.0
// names and the older ziplist ones. statehouse stores every value in a
// B-tree whatever its size: the thresholds change only what OBJECT
// ENCODING reports (the encoding redis-server would use), on this node.
func withEncodingParams(params map[string]configParam) map[string]configParam {
	limit := func(field func(*fsm.EncodingLimits) *int64, lo, hi int64) configParam {
		return configParam{
			get: func(s *Server) string {
				l := s.fsm.EncodingLimits()
				return strconv.FormatInt(*field(&l), 10)
			},
			set: func(s *Server, v string) (func(), string) {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, "argument couldn't be parsed into an integer"
				}
				if n < lo || n > hi {
					return nil, "argument must be between " + strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10) + " inclusive"
				}
				return func() {
					l := s.fsm.EncodingLimits()
					*field(&l) = n
					s.fsm.SetEncodingLimits(l)
				}, ""
			},
		}
	}
	for _, p := range []struct {
		names  []string
		field  func(*fsm.EncodingLimits) *int64
		lo, hi int64
	}{
		{[]string{"hash-max-listpack-entries", "hash-max-ziplist-entries"}, func(l *fsm.EncodingLimits) *int64 { return &l.HashMaxListpackEntries }, 0, math.MaxInt64},
		{[]string{"hash-max-listpack-value", "hash-max-ziplist-value"}, func(l *fsm.EncodingLimits) *int64 { return &l.HashMaxListpackValue }, 0, math.MaxInt64},
		{[]string{"set-max-intset-entries"}, func(l *fsm.EncodingLimits) *int64 { return &l.SetMaxIntsetEntries }, 0, math.MaxInt64},
		{[]string{"list-max-listpack-size", "list-max-ziplist-size"}, func(l *fsm.EncodingLimits) *int64 { return &l.ListMaxListpackSize }, math.MinInt32, math.MaxInt32},
		{[]string{"zset-max-listpack-entries", "zset-max-ziplist-entries"}, func(l *fsm.EncodingLimits) *int64 { return &l.ZSetMaxListpackEntries }, 0, math.MaxInt64},
		{[]string{"zset-max-listpack-value", "zset-max-ziplist-value"}, func(l *fsm.EncodingLimits) *int64 { return &l.ZSetMaxListpackValue }, 0, math.MaxInt64},
	} {
		for _, name := range p.names {
			params[name] = limit(p.field, p.lo, p.hi)
		}
	}
	return params
}

// setLimit checks a new limit, from 1 to most; it applies to connections
// accepted from then on.
func (s *Server) setLimit(v string, most int64, apply func(*Limits, int64)) (func(), string) {
	n, ok := parseMemory(v)
	if !ok {
		return nil, "argument must be a memory value"
	}
	if n < 1 || n > most {
		return nil, "argument must be between 1 and " + strconv.FormatInt(most, 10) + " inclusive"
	}
	return func() {
		l := *s.limits.Load()
		apply(&l, n)
		s.limits.Store(&l)
	}, ""
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
	if err != nil || n > math.MaxInt64/mult || n < math.MinInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// configGetCmd is CONFIG GET pattern [pattern ...].
func configGetCmd(p *pipeline, args [][]byte) {
	names := make([]string, 0, len(configParams))
	for n := range configParams {
		names = append(names, n)
	}
	sort.Strings(names)
	seen := map[string]bool{}
	var pairs []string
	for _, pat := range args[2:] {
		for _, n := range names {
			if !seen[n] && fsm.Match([]byte(strings.ToLower(string(pat))), []byte(n)) {
				seen[n] = true
				pairs = append(pairs, n, configParams[n].get(p.s))
			}
		}
	}
	out := resp.AppendArray(nil, len(pairs))
	for _, v := range pairs {
		out = resp.AppendBulkString(out, v)
	}
	p.reply(out)
}

func configSetCmd(p *pipeline, args [][]byte) { p.reply(configSet(p.s, args[2:])) }

func configResetstatCmd(p *pipeline, args [][]byte) {
	s := p.s
	s.totalCmds.Store(0)
	s.totalConns.Store(0)
	s.rejected.Store(0)
	s.protoErrors.Store(0)
	p.reply(resp.AppendOK(nil))
}

func configHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"GET <pattern>", "SET <directive> <value> [<directive> <value> ...]", "RESETSTAT", "HELP",
	))
}

// configSet is CONFIG SET name value [name value ...]: all or nothing, with
// Redis 7.0's checks in its order (names first, then values).
func configSet(s *Server, kv [][]byte) []byte {
	if len(kv)%2 != 0 {
		return resp.AppendError(nil, resp.ErrSyntax)
	}
	failed := func(name, why string) []byte {
		return resp.AppendError(nil, "ERR CONFIG SET failed (possibly related to argument '"+name+"') - "+why)
	}
	seen := map[string]bool{}
	for i := 0; i < len(kv); i += 2 {
		name := strings.ToLower(string(kv[i]))
		prm, ok := configParams[name]
		switch {
		case !ok:
			return resp.AppendError(nil, "ERR Unknown option or number of arguments for CONFIG SET - '"+string(kv[i])+"'")
		case prm.set == nil:
			return failed(name, "can't set immutable config")
		case seen[name]:
			return failed(name, "duplicate parameter")
		}
		seen[name] = true
	}
	var applies []func()
	for i := 0; i < len(kv); i += 2 {
		name := strings.ToLower(string(kv[i]))
		apply, why := configParams[name].set(s, string(kv[i+1]))
		if apply == nil {
			return failed(name, why)
		}
		applies = append(applies, apply)
	}
	// The tls-* settings are loaded together: a certificate needs its key.
	tlsApply, name, why := s.configSetTLS(kv)
	if tlsApply == nil {
		return failed(name, why)
	}
	for i := 0; i < len(kv); i += 2 {
		name := strings.ToLower(string(kv[i]))
		if commit := configParams[name].commit; commit != nil {
			if err := commit(s, string(kv[i+1])); err != nil {
				return failed(name, "the cluster did not take it: "+err.Error())
			}
		}
	}
	for i, apply := range applies {
		apply()
		s.log.Info("config changed", "param", strings.ToLower(string(kv[2*i])))
	}
	tlsApply()
	return resp.AppendOK(nil)
}
