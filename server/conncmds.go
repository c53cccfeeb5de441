package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

func pingCmd(p *pipeline, args [][]byte) {
	if p.st.subscribed() && len(args) <= 2 {
		// RESP2 subscribers get PING's answer as a push.
		msg := []byte{}
		if len(args) == 2 {
			msg = args[1]
		}
		out := resp.AppendArray(nil, 2)
		out = resp.AppendBulkString(out, "pong")
		p.reply(resp.AppendBulk(out, msg))
		return
	}
	switch len(args) {
	case 1:
		p.reply(resp.AppendStatus(nil, "PONG"))
	case 2:
		p.reply(resp.AppendBulk(nil, args[1]))
	default:
		p.reply(wrongArity("ping"))
	}
}

func echoCmd(p *pipeline, args [][]byte) { p.reply(resp.AppendBulk(nil, args[1])) }

func quitCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendOK(nil))
	p.closed = true
	p.conn.Close()
}

func resetCmd(p *pipeline, args [][]byte) {
	st := p.st
	st.multi = nil
	st.watch = nil
	st.readonly = false
	if st.sub != nil {
		p.s.pubsub.removeAll(st.sub) // the connection stays ours (detached), out of subscribed mode
	}
	st.mu.Lock()
	st.db = 0
	st.name = ""
	st.user, st.userAt = "default", 0
	st.mu.Unlock()
	st.setAuthed(p.s.defaultLetsIn())
	p.reply(resp.AppendStatus(nil, "RESET"))
}

func parseDB(b []byte) (int, bool) {
	n, ok := resp.ParseInt(b)
	if !ok || n < 0 || n >= fsm.NumDBs {
		return 0, false
	}
	return int(n), true
}

func selectCmd(p *pipeline, args [][]byte) {
	if _, ok := resp.ParseInt(args[1]); !ok {
		p.reply(resp.AppendError(nil, resp.ErrNotInt))
		return
	}
	db, ok := parseDB(args[1])
	if !ok {
		p.reply(resp.AppendError(nil, resp.ErrDBIndex))
		return
	}
	p.st.mu.Lock()
	p.st.db = db
	p.st.mu.Unlock()
	p.reply(resp.AppendOK(nil))
}

func authCmd(p *pipeline, args [][]byte) {
	var user, pass []byte
	switch len(args) {
	case 2:
		pass = args[1]
	case 3:
		user, pass = args[1], args[2]
	default:
		p.reply(resp.AppendError(nil, resp.ErrSyntax))
		return
	}
	if e := p.authenticate(user, pass); e != nil {
		p.reply(e)
		return
	}
	p.reply(resp.AppendOK(nil))
}

// helloCmd speaks RESP2 only (redcon writes RESP2): HELLO 3 gets NOPROTO,
// which makes clients such as go-redis fall back to RESP2.
func helloCmd(p *pipeline, args [][]byte) {
	st := p.st
	i := 1
	if len(args) > 1 {
		v, ok := resp.ParseInt(args[1])
		if !ok {
			p.reply(resp.AppendError(nil, "ERR Protocol version is not an integer or out of range"))
			return
		}
		if v != 2 {
			p.reply(resp.AppendError(nil, "NOPROTO unsupported protocol version"))
			return
		}
		i = 2
	}
	// As Redis does: check every option and the name first, then
	// authenticate, so a bad option never leaves the client logged in.
	var name, user, pass []byte
	for ; i < len(args); i++ {
		switch {
		case resp.EqualFold(args[i], "auth") && i+2 < len(args):
			user, pass = args[i+1], args[i+2]
			i += 2
		case resp.EqualFold(args[i], "setname") && i+1 < len(args):
			name = args[i+1]
			if !validClientName(name) {
				p.reply(resp.AppendError(nil, "ERR Client names cannot contain spaces, newlines or special characters."))
				return
			}
			i++
		default:
			p.reply(resp.AppendError(nil, "ERR Syntax error in HELLO option '"+string(args[i])+"'"))
			return
		}
	}
	if user != nil {
		if e := p.authenticate(user, pass); e != nil {
			p.reply(e)
			return
		}
	}
	if !st.authed {
		p.reply(resp.AppendError(nil, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"))
		return
	}
	if name != nil {
		st.mu.Lock()
		st.name = string(name)
		st.mu.Unlock()
	}
	role := "master"
	if p.s.cl.Status().State != "Leader" {
		role = "replica"
	}
	out := resp.AppendArray(nil, 14)
	out = resp.AppendBulkString(out, "server")
	out = resp.AppendBulkString(out, "statehouse")
	out = resp.AppendBulkString(out, "version")
	out = resp.AppendBulkString(out, p.s.cfg.Version)
	out = resp.AppendBulkString(out, "proto")
	out = resp.AppendInt(out, 2)
	out = resp.AppendBulkString(out, "id")
	out = resp.AppendInt(out, st.id)
	out = resp.AppendBulkString(out, "mode")
	out = resp.AppendBulkString(out, "standalone")
	out = resp.AppendBulkString(out, "role")
	out = resp.AppendBulkString(out, role)
	out = resp.AppendBulkString(out, "modules")
	out = resp.AppendArray(out, 0)
	p.reply(out)
}

func validClientName(b []byte) bool {
	for _, c := range b {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// The CLIENT subcommands; the dispatcher has checked each one's arity.

func clientIDCmd(p *pipeline, args [][]byte) { p.reply(resp.AppendInt(nil, p.st.id)) }

func clientSetnameCmd(p *pipeline, args [][]byte) {
	if !validClientName(args[2]) {
		p.reply(resp.AppendError(nil, "ERR Client names cannot contain spaces, newlines or special characters."))
		return
	}
	st := p.st
	st.mu.Lock()
	st.name = string(args[2])
	st.mu.Unlock()
	p.reply(resp.AppendOK(nil))
}

func clientGetnameCmd(p *pipeline, args [][]byte) {
	st := p.st
	st.mu.Lock()
	name := st.name
	st.mu.Unlock()
	if name == "" {
		p.reply(resp.AppendNull(nil))
		return
	}
	p.reply(resp.AppendBulkString(nil, name))
}

func clientSetinfoCmd(p *pipeline, args [][]byte) {
	st := p.st
	attr := strings.ToLower(string(args[2]))
	if !validClientName(args[3]) && len(args[3]) > 0 {
		p.reply(resp.AppendError(nil, "ERR "+attr+" cannot contain spaces, newlines or special characters."))
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch attr {
	case "lib-name":
		st.libName = string(args[3])
	case "lib-ver":
		st.libVer = string(args[3])
	default:
		p.reply(resp.AppendError(nil, "ERR Unrecognized option '"+string(args[2])+"'"))
		return
	}
	p.reply(resp.AppendOK(nil))
}

func clientInfoCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendBulkString(nil, p.s.clientLine(p.st)))
}

func clientHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"ID", "INFO", "LIST [TYPE normal|master|replica|pubsub] [ID <id> [<id> ...]]",
		"KILL <ip:port> | ID <id> | ADDR <ip:port> | LADDR <ip:port> | SKIPME yes|no",
		"SETNAME <name>", "GETNAME", "SETINFO <LIB-NAME|LIB-VER> <value>",
	))
}

// clientListCmd is CLIENT LIST [TYPE type] [ID id [id ...]], as in Redis 7.0.
// Every client here is a normal client.
func clientListCmd(p *pipeline, args [][]byte) {
	s := p.s
	all := true
	var ids map[int64]bool
	switch {
	case len(args) == 2:
	case len(args) == 4 && resp.EqualFold(args[2], "type"):
		switch strings.ToLower(string(args[3])) {
		case "normal":
		case "master", "replica", "slave", "pubsub":
			all = false
		default:
			p.reply(resp.AppendError(nil, "ERR Unknown client type '"+string(args[3])+"'"))
			return
		}
	case len(args) >= 4 && resp.EqualFold(args[2], "id"):
		ids = map[int64]bool{}
		for _, a := range args[3:] {
			id, ok := resp.ParseInt(a)
			if !ok {
				p.reply(resp.AppendError(nil, "ERR Invalid client ID"))
				return
			}
			ids[id] = true
		}
	default:
		p.reply(resp.AppendError(nil, resp.ErrSyntax))
		return
	}
	var b strings.Builder
	for _, c := range s.clients() {
		if all && (ids == nil || ids[c.id]) {
			b.WriteString(s.clientLine(c))
		}
	}
	p.reply(resp.AppendBulkString(nil, b.String()))
}

func clientKillCmd(p *pipeline, args [][]byte) {
	s := p.s
	if len(args) == 3 { // old form: CLIENT KILL addr
		for _, c := range s.clients() {
			if c.addr == string(args[2]) {
				c.conn.NetConn().Close()
				p.reply(resp.AppendOK(nil))
				return
			}
		}
		p.reply(resp.AppendError(nil, "ERR No such client"))
		return
	}
	if len(args)%2 != 0 {
		p.reply(resp.AppendError(nil, resp.ErrSyntax))
		return
	}
	var id int64 = -1
	var addr, laddr string
	skipme := true
	for i := 2; i < len(args); i += 2 {
		v := string(args[i+1])
		switch strings.ToLower(string(args[i])) {
		case "id":
			n, ok := resp.ParseInt(args[i+1])
			if !ok || n <= 0 {
				p.reply(resp.AppendError(nil, "ERR client-id should be greater than 0"))
				return
			}
			id = n
		case "addr":
			addr = v
		case "laddr":
			laddr = v
		case "skipme":
			switch strings.ToLower(v) {
			case "yes":
				skipme = true
			case "no":
				skipme = false
			default:
				p.reply(resp.AppendError(nil, resp.ErrSyntax))
				return
			}
		default:
			p.reply(resp.AppendError(nil, resp.ErrSyntax))
			return
		}
	}
	killed := 0
	for _, c := range s.clients() {
		if (id >= 0 && c.id != id) || (addr != "" && c.addr != addr) || (laddr != "" && c.laddr != laddr) {
			continue
		}
		if skipme && c == p.st {
			continue
		}
		c.conn.NetConn().Close()
		killed++
	}
	p.reply(resp.AppendInt(nil, int64(killed)))
}

func (s *Server) clients() []*connState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*connState, 0, len(s.conns))
	for _, c := range s.conns {
		out = append(out, c)
	}
	// Stable order for CLIENT LIST: by id.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].id < out[j-1].id; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func (s *Server) clientLine(c *connState) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	flags := "N"
	if c.multiN >= 0 {
		flags = "x"
	}
	var subs, psubs, ssubs int
	if c.pubsub.Load() {
		s.pubsub.mu.RLock()
		subs, psubs, ssubs = len(c.sub.channels), len(c.sub.patterns), len(c.sub.shards)
		s.pubsub.mu.RUnlock()
		if subs+psubs+ssubs > 0 {
			flags = "P"
		}
	}
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=0 name=%s age=%d idle=%d flags=%s db=%d sub=%d psub=%d ssub=%d multi=%d qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=%s redir=-1 resp=2 lib-name=%s lib-ver=%s\n",
		c.id, c.addr, c.laddr, c.name, int(now.Sub(c.created).Seconds()), int(now.Sub(c.lastUsed).Seconds()),
		flags, c.db, subs, psubs, ssubs, c.multiN, c.lastCmd, c.user, c.libName, c.libVer)
}

func timeCmd(p *pipeline, args [][]byte) {
	now := time.Now()
	out := resp.AppendArray(nil, 2)
	out = resp.AppendBulkString(out, strconv.FormatInt(now.Unix(), 10))
	out = resp.AppendBulkString(out, strconv.FormatInt(int64(now.Nanosecond()/1000), 10))
	p.reply(out)
}

func saveCmd(p *pipeline, args [][]byte) {
	if err := p.s.cl.Snapshot(); err != nil {
		p.reply(resp.AppendError(nil, "ERR "+err.Error()))
		return
	}
	p.reply(resp.AppendOK(nil))
}

func bgsaveCmd(p *pipeline, args [][]byte) {
	go func() {
		if err := p.s.cl.Snapshot(); err != nil {
			p.s.log.Warn("BGSAVE failed", "err", err)
		}
	}()
	p.reply(resp.AppendStatus(nil, "Background saving started"))
}
