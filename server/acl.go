package server

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// ACL users, as Redis 7.0 has them, kept in the log: ACL SETUSER and
// DELUSER are writes every node applies in order, so every node lets in
// the same users and checks the same rules from the moment a change
// commits. The fsm keeps each user's rules; the server compiles them
// against its whole table (the fsm against its own, to check writes again
// as they apply: see fsm.Request.ACLRev).
//
// Until an ACL command changes the users, there is only the default user:
// every command and key, with --requirepass as its password.

// aclUsers is the users compiled against the server's table, at one
// revision of the fsm's users.
type aclUsers struct {
	rev     uint64
	pass    string // the --requirepass the implicit default user was made with
	users   map[string]*fsm.ACLUser
	created map[string]uint64 // when each was made (fsm.ACLRules)
}

// current reports whether the user a connection logged in as still
// exists: deleted, or deleted and made again, it does not.
func (us *aclUsers) current(name string, created uint64) (*fsm.ACLUser, bool) {
	u, ok := us.users[name]
	return u, ok && us.created[name] == created
}

// aclCache recompiles the users when the fsm's change; every command
// reads it without a lock.
type aclCache struct {
	mu  sync.Mutex // one recompiles at a time
	cur atomic.Pointer[aclUsers]
}

// users returns the users as the fsm holds them now.
func (s *Server) users() *aclUsers {
	rev := s.fsm.ACLRev()
	pass := *s.password.Load()
	if c := s.acl.cur.Load(); c != nil && c.rev == rev && c.pass == pass {
		return c
	}
	s.acl.mu.Lock()
	defer s.acl.mu.Unlock()
	if c := s.acl.cur.Load(); c != nil && c.rev == rev && c.pass == pass {
		return c
	}
	rules, created, rev := s.fsm.ACLRules()
	c := &aclUsers{rev: rev, pass: pass, users: map[string]*fsm.ACLUser{}, created: created}
	for name, rs := range rules {
		u, err := fsm.CompileACLUser(name, rs, s.table)
		if err != nil {
			// Every rule was checked against this table before it was
			// proposed (a newer build's may not be): a user that does not
			// compile lets nobody in, the default user included.
			s.log.Error("ACL user does not compile: it may do nothing", "user", name, "err", err)
			u = fsm.NewACLUser(name)
		}
		c.users[name] = u
	}
	if _, ok := c.users["default"]; !ok {
		c.users["default"] = fsm.DefaultACLUser(s.table, pass)
	}
	s.acl.cur.Store(c)
	return c
}

// authenticate checks a user name and password as Redis's AUTH does,
// and on success makes the connection that user's.
func (p *pipeline) authenticate(user, pass []byte) []byte {
	name := "default"
	if user != nil {
		name = string(user)
	}
	if user == nil && p.s.users().users["default"].NoPass {
		return resp.AppendError(nil, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
	}
	// The users as the log has them: a password changed or a user made
	// on another node a moment ago holds here too. (With no leader the
	// node's own users answer: it serves nothing else anyway.)
	p.barrier()
	ok := p.s.passwordOK(name, pass)
	if !ok {
		p.s.aclLog.add(p.s, p.st, "auth", "AUTH", name)
		return resp.AppendError(nil, "WRONGPASS invalid username-password pair or user is disabled.")
	}
	p.st.mu.Lock()
	p.st.user, p.st.userAt = name, p.s.users().created[name]
	p.st.mu.Unlock()
	p.st.setAuthed(true)
	return nil
}

func (s *Server) passwordOK(name string, pass []byte) bool {
	u, ok := s.users().users[name]
	return ok && u.On && u.CheckPassword(pass)
}

// defaultLetsIn reports whether a new connection starts authenticated as
// the default user: it is on and needs no password.
func (s *Server) defaultLetsIn() bool {
	u := s.users().users["default"]
	return u.On && u.NoPass
}

// aclCheck checks the connection's user may run cmd with args; it returns
// the error to answer, or nil. It notes the revision of the users it
// checked against (p.cmdRev), which a write carries to the log.
func (p *pipeline) aclCheck(cmd *fsm.Command, args [][]byte) []byte {
	us := p.s.users()
	p.cmdRev = us.rev
	if cmd.Flags&fsm.FlagNoAuth != 0 {
		return nil // AUTH, HELLO, QUIT, RESET: anyone may
	}
	u, ok := us.current(p.st.user, p.st.userAt)
	if !ok {
		// The user was deleted (enforceUsers closes its connections as
		// soon as that applies; this is a command already under way).
		p.closed = true
		p.conn.NetConn().Close()
		return nil
	}
	d, obj := u.Check(cmd, args)
	if d == "" {
		if e := fsm.SortPatternDenied(cmd, args, u.AllKeys); e != "" {
			return resp.AppendError(nil, e)
		}
		return nil
	}
	if p.barrier() == nil && p.s.fsm.ACLRev() != us.rev {
		// A rule committed elsewhere may not be applied here yet: a
		// permission granted before this command was sent holds.
		return p.aclCheck(cmd, args)
	}
	p.s.aclLog.add(p.s, p.st, string(d), obj, u.Name)
	return resp.AppendError(nil, fsm.NoPermError(d, obj))
}

// --- ACL subcommands -------------------------------------------------------

func aclSetuserCmd(p *pipeline, args [][]byte) {
	name := string(args[2])
	if strings.ContainsAny(name, " \x00") {
		p.reply(resp.AppendError(nil, "ERR Usernames can't contain spaces or null characters"))
		return
	}
	if err := p.barrier(); err != nil { // rules apply to the user as the log has it
		p.reply(errorReply(err))
		return
	}
	us := p.s.users()
	u, exists := us.users[name]
	if exists {
		u = u.Clone()
	} else {
		u = fsm.NewACLUser(name)
	}
	op := [][]byte{[]byte("__acl_setuser"), args[2]}
	if name == "default" {
		// If the log has no default user yet when this applies, the
		// implicit one becomes a kept one: its rules first.
		seed := fsm.DefaultACLRules(us.pass)
		op = [][]byte{[]byte("__acl_seeduser"), args[2], []byte(strconv.Itoa(len(seed)))}
		for _, r := range seed {
			op = append(op, []byte(r))
		}
	}
	for _, a := range args[3:] {
		rule := string(a)
		if err := u.Apply(rule, p.s.table); err != nil {
			p.reply(resp.AppendError(nil, "ERR Error in ACL SETUSER modifier '"+rule+"': "+err.Error()))
			return
		}
		op = append(op, []byte(hashedRule(rule))) // passwords go to the log as their hashes only
	}
	p.aclWrite(op)
}

func aclDeluserCmd(p *pipeline, args [][]byte) {
	for _, a := range args[2:] {
		if string(a) == "default" {
			p.reply(resp.AppendError(nil, "ERR The 'default' user cannot be removed"))
			return
		}
	}
	op := append([][]byte{[]byte("__acl_deluser")}, args[2:]...)
	p.aclWrite(cloneArgs(op))
}

// aclWrite proposes a change of the users and answers with the fsm's
// reply.
func (p *pipeline) aclWrite(op [][]byte) {
	reply, index, err := p.s.propose(fsm.Request{Ops: []fsm.Op{{Args: cloneArgs(op)}}})
	if err != nil {
		p.reply(errorReply(err))
		return
	}
	if index > p.st.lastIndex {
		p.st.lastIndex = index
	}
	if len(op) > 1 && strings.HasPrefix(string(op[0]), "__acl_se") && strings.HasPrefix(string(reply), "+") {
		p.s.log.Info("ACL user changed", "user", string(op[1]), "by", p.st.user, "client", p.st.addr)
	}
	p.reply(reply)
}

// aclRead runs an ACL read after the read barrier, so it sees every change
// committed before it.
func aclRead(h func(p *pipeline, us *aclUsers, args [][]byte)) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		if err := p.barrier(); err != nil {
			p.reply(errorReply(err))
			return
		}
		h(p, p.s.users(), args)
	}
}

func (us *aclUsers) names() []string {
	names := make([]string, 0, len(us.users))
	for n := range us.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var aclListCmd = aclRead(func(p *pipeline, us *aclUsers, args [][]byte) {
	names := us.names()
	out := resp.AppendArray(nil, len(names))
	for _, n := range names {
		out = resp.AppendBulkString(out, "user "+us.users[n].Describe(p.s.table))
	}
	p.reply(out)
})

var aclUsersCmd = aclRead(func(p *pipeline, us *aclUsers, args [][]byte) {
	names := us.names()
	out := resp.AppendArray(nil, len(names))
	for _, n := range names {
		out = resp.AppendBulkString(out, n)
	}
	p.reply(out)
})

var aclGetuserCmd = aclRead(func(p *pipeline, us *aclUsers, args [][]byte) {
	u, ok := us.users[string(args[2])]
	if !ok {
		p.reply(resp.AppendNull(nil))
		return
	}
	out := resp.AppendArray(nil, 12)
	out = resp.AppendBulkString(out, "flags")
	flags := u.FlagNames()
	out = resp.AppendArray(out, len(flags))
	for _, f := range flags {
		out = resp.AppendBulkString(out, f)
	}
	out = resp.AppendBulkString(out, "passwords")
	out = resp.AppendArray(out, len(u.Passwords))
	for _, h := range u.Passwords {
		out = resp.AppendBulkString(out, h)
	}
	out = resp.AppendBulkString(out, "commands")
	out = resp.AppendBulkString(out, u.CommandRules(p.s.table))
	out = resp.AppendBulkString(out, "keys")
	out = resp.AppendBulkString(out, u.KeysString())
	out = resp.AppendBulkString(out, "channels")
	out = resp.AppendBulkString(out, u.ChannelsString())
	out = resp.AppendBulkString(out, "selectors")
	out = resp.AppendArray(out, 0)
	p.reply(out)
})

var aclDryrunCmd = aclRead(func(p *pipeline, us *aclUsers, args [][]byte) {
	u, ok := us.users[string(args[2])]
	if !ok {
		p.reply(resp.AppendError(nil, "ERR User '"+string(args[2])+"' not found"))
		return
	}
	cargs := args[3:]
	cmd := p.s.table.Lookup(cargs[0])
	if cmd == nil || cmd.Flags&fsm.FlagInternal != 0 {
		p.reply(resp.AppendError(nil, "ERR Command '"+string(cargs[0])+"' not found"))
		return
	}
	if cmd.Subcommands != nil && len(cargs) > 1 {
		if sc := cmd.Sub(cargs[1]); sc != nil {
			cmd = sc
		}
	}
	if !cmd.ArityOK(len(cargs)) {
		p.reply(resp.AppendError(nil, "ERR wrong number of arguments for '"+cmd.FullName()+"' command"))
		return
	}
	switch d, obj := u.Check(cmd, cargs); d {
	case "":
		p.reply(resp.AppendOK(nil))
	case fsm.DeniedKey:
		p.reply(resp.AppendBulkString(nil, "This user has no permissions to access the '"+obj+"' key"))
	default:
		p.reply(resp.AppendBulkString(nil, "This user has no permissions to run the '"+obj+"' command"))
	}
})

func aclWhoamiCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendBulkString(nil, p.st.user))
}

func aclCatCmd(p *pipeline, args [][]byte) {
	if len(args) == 2 {
		names := fsm.Category(^uint32(0)).Names()
		p.reply(resp.AppendStatusArray(nil, names...))
		return
	}
	if len(args) > 3 {
		p.reply(wrongArity("acl|cat"))
		return
	}
	cat, ok := fsm.CategoryByName(strings.ToLower(string(args[2])))
	if !ok {
		p.reply(resp.AppendError(nil, "ERR Unknown category '"+string(args[2])+"'"))
		return
	}
	var names []string
	for _, c := range p.s.table.Commands() {
		if c.ACLCategories()&cat != 0 {
			names = append(names, c.Name)
		}
		for _, sc := range c.Subcommands {
			if sc.ACLCategories()&cat != 0 {
				names = append(names, sc.FullName())
			}
		}
	}
	out := resp.AppendArray(nil, len(names))
	for _, n := range names {
		out = resp.AppendBulkString(out, n)
	}
	p.reply(out)
}

func aclGenpassCmd(p *pipeline, args [][]byte) {
	bits := int64(256)
	if len(args) > 3 {
		p.reply(wrongArity("acl|genpass"))
		return
	}
	if len(args) == 3 {
		n, ok := resp.ParseInt(args[2])
		if !ok || n <= 0 || n > 4096 {
			p.reply(resp.AppendError(nil, "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"))
			return
		}
		bits = n
	}
	chars := int((bits + 3) / 4)
	b := make([]byte, (chars+1)/2)
	rand.Read(b)
	p.reply(resp.AppendBulkString(nil, hex.EncodeToString(b)[:chars]))
}

func aclHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"CAT [<category>]", "DELUSER <username> [<username> ...]", "DRYRUN <username> <command> [<arg> ...]",
		"GETUSER <username>", "LIST", "USERS", "SETUSER <username> <attribute> [<attribute> ...]",
		"WHOAMI", "LOG [<count> | RESET]", "GENPASS [<bits>]",
	))
}

// --- ACL LOG ---------------------------------------------------------------

// aclLogMax is Redis's acllog-max-len default.
const aclLogMax = 128

// aclLog is this node's record of refused commands and failed AUTHs, as
// Redis keeps it: per node, newest first, like entries within a minute
// counted as one.
type aclLog struct {
	mu      sync.Mutex
	entries []*aclLogEntry
}

type aclLogEntry struct {
	count                    int
	reason, object, username string
	created, updated         time.Time
	clientInfo               string
}

func (l *aclLog) add(s *Server, st *connState, reason, object, username string) {
	now := time.Now()
	info := strings.TrimSuffix(s.clientLine(st), "\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if e.reason == reason && e.object == object && e.username == username && now.Sub(e.updated) < time.Minute {
			e.count++
			e.updated = now
			e.clientInfo = info
			return
		}
	}
	e := &aclLogEntry{count: 1, reason: reason, object: object, username: username, created: now, updated: now, clientInfo: info}
	l.entries = append([]*aclLogEntry{e}, l.entries...)
	if len(l.entries) > aclLogMax {
		l.entries = l.entries[:aclLogMax]
	}
}

func aclLogCmd(p *pipeline, args [][]byte) {
	l := &p.s.aclLog
	n := aclLogMax
	if len(args) > 3 {
		p.reply(wrongArity("acl|log"))
		return
	}
	if len(args) == 3 {
		if resp.EqualFold(args[2], "reset") {
			l.mu.Lock()
			l.entries = nil
			l.mu.Unlock()
			p.reply(resp.AppendOK(nil))
			return
		}
		v, ok := resp.ParseInt(args[2])
		if !ok || v < 0 {
			p.reply(resp.AppendError(nil, resp.ErrNotInt))
			return
		}
		n = int(min(v, aclLogMax))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	es := l.entries[:min(n, len(l.entries))]
	out := resp.AppendArray(nil, len(es))
	now := time.Now()
	for _, e := range es {
		out = resp.AppendArray(out, 14)
		out = resp.AppendBulkString(out, "count")
		out = resp.AppendInt(out, int64(e.count))
		out = resp.AppendBulkString(out, "reason")
		out = resp.AppendBulkString(out, e.reason)
		out = resp.AppendBulkString(out, "context")
		out = resp.AppendBulkString(out, "toplevel")
		out = resp.AppendBulkString(out, "object")
		out = resp.AppendBulkString(out, e.object)
		out = resp.AppendBulkString(out, "username")
		out = resp.AppendBulkString(out, e.username)
		out = resp.AppendBulkString(out, "age-seconds")
		out = resp.AppendBulkString(out, strconv.FormatFloat(now.Sub(e.created).Seconds(), 'f', 3, 64))
		out = resp.AppendBulkString(out, "client-info")
		out = resp.AppendBulkString(out, e.clientInfo)
	}
	p.reply(out)
}

// enforceUsers runs when a change of the users applies: as Redis does, it
// disconnects the clients of a user deleted (or deleted and made again),
// and the subscribers whose channels their user may no longer use.
func (s *Server) enforceUsers() {
	us := s.users()
	for _, st := range s.clients() {
		st.mu.Lock()
		name, at := st.user, st.userAt
		st.mu.Unlock()
		u, ok := us.current(name, at)
		if !ok {
			s.log.Info("closed a client of a deleted user", "client", st.addr, "user", name)
			st.conn.NetConn().Close()
			continue
		}
		if st.pubsub.Load() && !s.pubsub.allowed(st.sub, u) {
			s.log.Info("closed a subscriber whose user may no longer use its channels", "client", st.addr, "user", name)
			st.conn.NetConn().Close()
		}
	}
}
