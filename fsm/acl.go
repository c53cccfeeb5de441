package fsm

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sort"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// ACL users, as Redis 7.0 has them (one root selector; no "(...)"
// selectors). A user is kept as the list of rules that made it, replayed
// from a fresh user: the fsm compiles it against its own table to check
// writes as they apply, the server against the whole table to check every
// command. Rules naming a command a table lacks change nothing in it, so
// both agree on every command the log carries.
//
// Passwords reach the log only as SHA-256 hashes: the server turns
// ">password" into "#hash" before it proposes a rule.

// ACLUser is a user compiled against one command table.
type ACLUser struct {
	Name        string
	On          bool
	NoPass      bool
	Sanitize    int      // 0 unset, 1 sanitize-payload, 2 skip-sanitize-payload
	Passwords   []string // SHA-256 hex, in the order added
	AllKeys     bool
	Keys        []KeyPattern
	AllChannels bool
	Channels    []string
	allFuture   bool // +@all: a command the table does not know is allowed
	allowed     map[*Command]bool
	rules       []string
}

// KeyPattern is one ~pattern (Read and Write), %R~ or %W~ rule.
type KeyPattern struct {
	Pattern     string
	Read, Write bool
}

// ACLError is a rule Redis would refuse, with Redis's reason.
type ACLError struct {
	Rule   string
	Reason string
}

func (e *ACLError) Error() string { return e.Reason }

// Redis's reasons for refusing a rule (ACLSetUserStringError).
const (
	aclErrSyntax   = "Syntax error"
	aclErrUnknown  = "Unknown command or category name in ACL"
	aclErrKeysAll  = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
	aclErrChansAll = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
	aclErrNoPass   = "The password you are trying to remove from the user does not exist"
	aclErrHash     = "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
	aclErrSelector = "Selectors are not supported by statehouse"
	aclErrFirstArg = "Allowing first-arg of a subcommand is not supported"
)

// NewACLUser is a user as ACL SETUSER creates it: off, no password, no
// keys, no channels, no commands.
func NewACLUser(name string) *ACLUser {
	return &ACLUser{Name: name, allowed: map[*Command]bool{}}
}

// DefaultACLUser is the "default" user before any ACL command changed it:
// on, every key, channel and command, and the node's --requirepass as its
// password (nopass without one).
func DefaultACLUser(t *Table, requirepass string) *ACLUser {
	rules := []string{"on", "nopass", "~*", "&*", "+@all"}
	if requirepass != "" {
		rules[1] = "#" + HashPassword(requirepass)
	}
	u, err := CompileACLUser("default", rules, t)
	if err != nil {
		panic("fsm: default user: " + err.Error())
	}
	return u
}

// DefaultACLRules are the rules of the implicit default user, the start of
// its rule list once an ACL command changes it.
func DefaultACLRules(requirepass string) []string {
	return DefaultACLUser(ownTable, requirepass).rules
}

// HashPassword is the SHA-256 hex digest Redis keeps of a password.
func HashPassword(p string) string {
	sum := sha256.Sum256([]byte(p))
	return hex.EncodeToString(sum[:])
}

// CompileACLUser replays rules on a fresh user against t.
func CompileACLUser(name string, rules []string, t *Table) (*ACLUser, error) {
	u := NewACLUser(name)
	for _, r := range rules {
		if err := u.Apply(r, t); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// Clone copies u, so rules can be tried on the copy (SETUSER is all or
// nothing).
func (u *ACLUser) Clone() *ACLUser {
	c := *u
	c.Passwords = append([]string(nil), u.Passwords...)
	c.Keys = append([]KeyPattern(nil), u.Keys...)
	c.Channels = append([]string(nil), u.Channels...)
	c.rules = append([]string(nil), u.rules...)
	c.allowed = make(map[*Command]bool, len(u.allowed))
	for k, v := range u.allowed {
		c.allowed[k] = v
	}
	return &c
}

// Rules are the rules that made the user, to be replayed; "reset" and
// "+@all"-like rules drop what they make irrelevant.
func (u *ACLUser) Rules() []string { return u.rules }

// Apply applies one rule (ACLSetUser). It fails with an *ACLError, and
// then leaves u as it was only if u was a Clone the caller discards.
func (u *ACLUser) Apply(rule string, t *Table) error {
	fail := func(reason string) error { return &ACLError{Rule: rule, Reason: reason} }
	lr := strings.ToLower(rule)
	switch {
	case lr == "on":
		u.On = true
	case lr == "off":
		u.On = false
	case lr == "skip-sanitize-payload":
		u.Sanitize = 2
	case lr == "sanitize-payload":
		u.Sanitize = 1
	case lr == "nopass":
		u.NoPass, u.Passwords = true, nil
	case lr == "resetpass":
		u.NoPass, u.Passwords = false, nil
	case lr == "allkeys" || rule == "~*":
		u.AllKeys, u.Keys = true, nil
	case lr == "resetkeys":
		u.AllKeys, u.Keys = false, nil
	case lr == "allchannels" || rule == "&*":
		u.AllChannels, u.Channels = true, nil
	case lr == "resetchannels":
		u.AllChannels, u.Channels = false, nil
	case lr == "allcommands" || lr == "+@all":
		u.setAll(t, true)
	case lr == "nocommands" || lr == "-@all":
		u.setAll(t, false)
	case lr == "reset":
		for _, r := range []string{"resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "-@all"} {
			u.Apply(r, t)
		}
		u.rules = []string{"reset"}
		return nil
	case strings.HasPrefix(rule, ">") || strings.HasPrefix(rule, "<"):
		h := HashPassword(rule[1:])
		if rule[0] == '>' {
			u.addPassword(h)
		} else if !u.removePassword(h) {
			return fail(aclErrNoPass)
		}
		// The password itself is never kept: the rule is replayed as its hash.
		if rule[0] == '>' {
			rule = "#" + h
		} else {
			rule = "!" + h
		}
	case strings.HasPrefix(rule, "#") || strings.HasPrefix(rule, "!"):
		h := rule[1:]
		if !validHash(h) {
			return fail(aclErrHash)
		}
		if rule[0] == '#' {
			u.addPassword(h)
		} else if !u.removePassword(h) {
			return fail(aclErrNoPass)
		}
	case strings.HasPrefix(rule, "~") || strings.HasPrefix(rule, "%"):
		p, err := parseKeyPattern(rule)
		if err != nil {
			return fail(aclErrSyntax)
		}
		if u.AllKeys {
			return fail(aclErrKeysAll)
		}
		if p.Pattern == "*" && p.Read && p.Write {
			u.AllKeys, u.Keys = true, nil
			break
		}
		merged := false
		for i := range u.Keys {
			if u.Keys[i].Pattern == p.Pattern {
				u.Keys[i].Read = u.Keys[i].Read || p.Read
				u.Keys[i].Write = u.Keys[i].Write || p.Write
				merged = true
			}
		}
		if !merged {
			u.Keys = append(u.Keys, p)
		}
	case strings.HasPrefix(rule, "&"):
		if u.AllChannels {
			return fail(aclErrChansAll)
		}
		if !contains(u.Channels, rule[1:]) {
			u.Channels = append(u.Channels, rule[1:])
		}
	case strings.HasPrefix(rule, "+@") || strings.HasPrefix(rule, "-@"):
		cat, ok := CategoryByName(lr[2:])
		if !ok {
			return fail(aclErrUnknown)
		}
		u.setCategory(t, cat, rule[0] == '+')
	case strings.HasPrefix(rule, "+") || strings.HasPrefix(rule, "-"):
		name := lr[1:]
		base, sub, isSub := strings.Cut(name, "|")
		cmd := t.Lookup([]byte(base))
		if cmd != nil && cmd.Flags&FlagInternal != 0 {
			cmd = nil
		}
		switch {
		case cmd == nil && t != ownTable:
			return fail(aclErrUnknown)
		case cmd == nil:
			// A front-door command, unknown to the fsm's own table: it
			// changes nothing the log carries. The server, whose table
			// has every command, refused it if it is no command at all.
		case isSub && cmd.Subcommands == nil:
			return fail(aclErrFirstArg)
		case isSub:
			sc := cmd.Sub([]byte(sub))
			if sc == nil {
				return fail(aclErrUnknown)
			}
			u.allowed[sc] = rule[0] == '+'
		default:
			u.setCommand(cmd, rule[0] == '+')
		}
	case strings.HasPrefix(rule, "("):
		return fail(aclErrSelector)
	default:
		return fail(aclErrSyntax)
	}
	u.rules = append(u.rules, rule)
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func (u *ACLUser) addPassword(h string) {
	u.NoPass = false
	if !contains(u.Passwords, h) {
		u.Passwords = append(u.Passwords, h)
	}
}

func (u *ACLUser) removePassword(h string) bool {
	for i, p := range u.Passwords {
		if p == h {
			u.Passwords = append(u.Passwords[:i:i], u.Passwords[i+1:]...)
			return true
		}
	}
	return false
}

func parseKeyPattern(rule string) (KeyPattern, error) {
	if rule[0] == '~' {
		return KeyPattern{Pattern: rule[1:], Read: true, Write: true}, nil
	}
	perms, pat, ok := strings.Cut(rule[1:], "~")
	if !ok || perms == "" {
		return KeyPattern{}, errors.New("syntax")
	}
	var p KeyPattern
	for _, c := range strings.ToUpper(perms) {
		switch c {
		case 'R':
			p.Read = true
		case 'W':
			p.Write = true
		default:
			return KeyPattern{}, errors.New("syntax")
		}
	}
	p.Pattern = pat
	return p, nil
}

// eachCommand calls fn for every client command of t and each of their
// subcommands, parents first, in name order.
func eachCommand(t *Table, fn func(c *Command)) {
	for _, c := range t.Commands() {
		fn(c)
		subs := append([]*Command(nil), c.Subcommands...)
		sortCommands(subs)
		for _, s := range subs {
			fn(s)
		}
	}
}

func (u *ACLUser) setAll(t *Table, allow bool) {
	u.allFuture = allow
	u.allowed = map[*Command]bool{}
	if allow {
		eachCommand(t, func(c *Command) { u.allowed[c] = true })
	}
}

func (u *ACLUser) setCommand(c *Command, allow bool) {
	u.allowed[c] = allow
	for _, s := range c.Subcommands {
		u.allowed[s] = allow
	}
}

func (u *ACLUser) setCategory(t *Table, cat Category, allow bool) {
	eachCommand(t, func(c *Command) {
		if c.ACLCategories()&cat != 0 {
			u.allowed[c] = allow
		}
	})
}

// CheckPassword compares pass with the user's hashes in constant time.
func (u *ACLUser) CheckPassword(pass []byte) bool {
	if u.NoPass {
		return true
	}
	sum := sha256.Sum256(pass)
	var h [64]byte
	hex.Encode(h[:], sum[:])
	ok := 0
	for _, p := range u.Passwords {
		ok |= subtle.ConstantTimeCompare(h[:], []byte(p))
	}
	return ok == 1
}

// Unrestricted reports whether the user may run every command on every key.
func (u *ACLUser) Unrestricted() bool { return u.allFuture && u.AllKeys && u.allNow() }

func (u *ACLUser) allNow() bool {
	for _, v := range u.allowed {
		if !v {
			return false
		}
	}
	return true
}

// CanRun reports whether the user may run cmd (a subcommand's own row for
// a subcommand).
func (u *ACLUser) CanRun(cmd *Command) bool {
	if v, ok := u.allowed[cmd]; ok {
		return v
	}
	return u.allFuture
}

// CanKey reports whether the user may access key as asked.
func (u *ACLUser) CanKey(key []byte, read, write bool) bool {
	if u.AllKeys {
		return true
	}
	for _, p := range u.Keys {
		if (read && !p.Read) || (write && !p.Write) {
			continue
		}
		if Match([]byte(p.Pattern), key) {
			return true
		}
	}
	return false
}

// CanChannel reports whether the user may use a pub/sub channel; a
// pattern (PSUBSCRIBE) must be allowed as written, as in Redis.
func (u *ACLUser) CanChannel(ch []byte, pattern bool) bool {
	if u.AllChannels {
		return true
	}
	for _, p := range u.Channels {
		if pattern && p == string(ch) || !pattern && Match([]byte(p), ch) {
			return true
		}
	}
	return false
}

// Denial says why a user may not run a command: empty when it may.
type Denial string

// The reasons ACL LOG records and NOPERM words.
const (
	DeniedCommand Denial = "command"
	DeniedKey     Denial = "key"
)

// Check reports whether the user may run cmd with args, and if not, why
// and on what (the command's full name, or the key).
func (u *ACLUser) Check(cmd *Command, args [][]byte) (Denial, string) {
	if !u.CanRun(cmd) {
		return DeniedCommand, cmd.FullName()
	}
	if u.AllKeys || cmd.Flags&FlagNotKey != 0 {
		return "", ""
	}
	read, write := cmd.keyAccess(args)
	for _, k := range cmd.Keys(args) {
		if !u.CanKey(k, read, write) {
			return DeniedKey, string(k)
		}
	}
	return "", ""
}

// keyAccess is what a command does to its keys, for ACL key permissions:
// a read reads them; a write writes them, and reads them too when it
// returns what they held (FlagKeyAccess, SET ... GET).
func (c *Command) keyAccess(args [][]byte) (read, write bool) {
	if c.Flags&FlagWrite == 0 {
		return true, false
	}
	read = c.Flags&FlagKeyAccess != 0
	if c.Name == "set" {
		for _, a := range args[min(3, len(args)):] {
			if strings.EqualFold(string(a), "get") {
				read = true
			}
		}
	}
	return read, true
}

// NoPermError words a denial as Redis's -NOPERM error.
func NoPermError(d Denial, object string) string {
	if d == DeniedKey {
		return "NOPERM this user has no permissions to access one of the keys used as arguments"
	}
	return "NOPERM this user has no permissions to run the '" + object + "' command"
}

// Flags lists the user's flags as ACL GETUSER and ACL LIST name them.
func (u *ACLUser) FlagNames() []string {
	out := []string{"off"}
	if u.On {
		out[0] = "on"
	}
	if u.NoPass {
		out = append(out, "nopass")
	}
	switch u.Sanitize {
	case 1:
		out = append(out, "sanitize-payload")
	case 2:
		out = append(out, "skip-sanitize-payload")
	}
	return out
}

// KeysString is the key rules as ACL GETUSER and ACL LIST show them.
func (u *ACLUser) KeysString() string {
	if u.AllKeys {
		return "~*"
	}
	parts := make([]string, 0, len(u.Keys))
	for _, p := range u.Keys {
		switch {
		case p.Read && p.Write:
			parts = append(parts, "~"+p.Pattern)
		case p.Read:
			parts = append(parts, "%R~"+p.Pattern)
		default:
			parts = append(parts, "%W~"+p.Pattern)
		}
	}
	return strings.Join(parts, " ")
}

// ChannelsString is the channel rules as ACL GETUSER shows them.
func (u *ACLUser) ChannelsString() string {
	if u.AllChannels {
		return "&*"
	}
	parts := make([]string, 0, len(u.Channels))
	for _, c := range u.Channels {
		parts = append(parts, "&"+c)
	}
	return strings.Join(parts, " ")
}

// CommandRules describes the commands the user may run as Redis 7.0 does
// (ACLDescribeSelectorCommandRules): +@all or -@all, then the categories
// that best fit what is allowed, then single commands for the rest.
func (u *ACLUser) CommandRules(t *Table) string {
	additive := !u.allFuture
	rules := []string{"+@all"}
	fake := NewACLUser("")
	if additive {
		rules[0] = "-@all"
	} else {
		fake.setAll(t, true)
	}
	temp := u.Clone()
	applied := make([]bool, len(categoryNames))
	for {
		best, minDiff, maxSame := -1, int(^uint(0)>>1), 0
		for i := range categoryNames {
			if applied[i] {
				continue
			}
			on, off := 0, 0
			eachCommand(t, func(c *Command) {
				if c.ACLCategories()&(1<<i) != 0 {
					if temp.CanRun(c) {
						on++
					} else {
						off++
					}
				}
			})
			diff, same := off, on
			if !additive {
				diff, same = on, off
			}
			if same > diff && (diff < minDiff || diff == minDiff && same > maxSame) {
				best, minDiff, maxSame = i, diff, same
			}
		}
		if best < 0 {
			break
		}
		fake.setCategory(t, 1<<best, additive)
		temp.setCategory(t, 1<<best, !additive)
		sign := "+@"
		if !additive {
			sign = "-@"
		}
		rules = append(rules, sign+categoryNames[best])
		applied[best] = true
	}
	eachCommand(t, func(c *Command) {
		if want := u.CanRun(c); want != fake.CanRun(c) {
			if want {
				rules = append(rules, "+"+c.FullName())
			} else {
				rules = append(rules, "-"+c.FullName())
			}
			fake.allowed[c] = want
		}
	})
	return strings.Join(rules, " ")
}

// Describe is the user's line in ACL LIST, without "user ".
func (u *ACLUser) Describe(t *Table) string {
	parts := []string{u.Name}
	parts = append(parts, u.FlagNames()...)
	for _, p := range u.Passwords {
		parts = append(parts, "#"+p)
	}
	if k := u.KeysString(); k != "" {
		parts = append(parts, k)
	}
	if u.AllChannels {
		parts = append(parts, "&*")
	} else {
		parts = append(parts, "resetchannels")
		if c := u.ChannelsString(); c != "" {
			parts = append(parts, c)
		}
	}
	parts = append(parts, u.CommandRules(t))
	return strings.Join(parts, " ")
}

// --- replicated users ------------------------------------------------------

// aclState is the users as the log made them: each user's rules. A missing
// "default" is the implicit default user (DefaultACLUser).
type aclState struct {
	rules    map[string][]string
	compiled map[string]*ACLUser // against the fsm's table, for checking writes
	// created is the log index each user was made at (0 for default,
	// which is never deleted): a connection logged in as a user that was
	// deleted and made again under the same name is not that user's.
	created map[string]uint64
	rev     uint64 // log index of the last change; 0: never changed
}

// ACLRev is the log index of the last change to the users; 0 if ACL
// commands never changed them.
func (f *FSM) ACLRev() uint64 { return f.aclRev.Load() }

// ACLRules returns a copy of every user's rules, when each was made (see
// aclState.created), and the revision they are at.
func (f *FSM) ACLRules() (map[string][]string, map[string]uint64, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string][]string, len(f.acl.rules))
	created := make(map[string]uint64, len(f.acl.rules))
	for k, v := range f.acl.rules {
		out[k], created[k] = v, f.acl.created[k]
	}
	return out, created, f.acl.rev
}

// madeAt is the index a user made now is known by.
func madeAt(name string, index uint64) uint64 {
	if name == "default" {
		return 0
	}
	return index
}

// sortedNames returns a map's keys, sorted.
func sortedNames(m map[string][]string) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// aclSetUser applies __acl_setuser name rule...: the rules are replayed
// on the user's current state (a fresh user if it has none) and kept all
// or none.
func aclSetUser(c *Ctx, args [][]byte) { setUser(c, args[1], nil, args[2:]) }

// aclSeedUser applies "__acl_seeduser name n seed-rule... rule...": as
// __acl_setuser, but a user the log does not have yet starts from the
// seed rules (the implicit default user's) rather than from nothing. The
// choice is made as the entry applies, so two changes of the implicit
// default user proposed at once both hold.
func aclSeedUser(c *Ctx, args [][]byte) {
	n, ok := parseCount(args[2])
	if !ok || 3+n > len(args) {
		c.Error("ERR malformed seeded user")
		return
	}
	setUser(c, args[1], args[3:3+n], args[3+n:])
}

func setUser(c *Ctx, nameArg []byte, seed, rules [][]byte) {
	name := string(nameArg)
	a := &c.f.acl
	u := NewACLUser(name)
	if old, ok := a.compiled[name]; ok {
		u = old.Clone()
	} else {
		for _, r := range seed {
			if err := u.Apply(string(r), ownTable); err != nil {
				c.Error("ERR Error in ACL SETUSER modifier '" + string(r) + "': " + err.Error())
				return
			}
		}
	}
	for _, r := range rules {
		if err := u.Apply(string(r), ownTable); err != nil {
			c.Error("ERR Error in ACL SETUSER modifier '" + string(r) + "': " + err.Error())
			return
		}
	}
	if a.rules == nil {
		a.rules, a.compiled, a.created = map[string][]string{}, map[string]*ACLUser{}, map[string]uint64{}
	}
	if _, ok := a.rules[name]; !ok {
		a.created[name] = madeAt(name, c.Rev)
	}
	a.rules[name] = u.rules
	a.compiled[name] = u
	a.rev = c.Rev
	c.f.aclRev.Store(c.Rev)
	c.OK()
}

// aclDelUser applies __acl_deluser name...: the number of users removed.
func aclDelUser(c *Ctx, args [][]byte) {
	a := &c.f.acl
	n := 0
	for _, b := range args[1:] {
		if string(b) == "default" {
			c.Error("ERR The 'default' user cannot be removed")
			return
		}
	}
	for _, b := range args[1:] {
		if _, ok := a.rules[string(b)]; ok {
			delete(a.rules, string(b))
			delete(a.compiled, string(b))
			delete(a.created, string(b))
			n++
		}
	}
	if n > 0 {
		a.rev = c.Rev
		c.f.aclRev.Store(c.Rev)
	}
	c.Int(int64(n))
}

// aclSeed applies __acl_seed (name count rule...)...: as __acl_replace,
// only if no ACL command changed the users yet (:0 otherwise): several
// nodes with the same --aclfile may propose it; the first one counts.
func aclSeed(c *Ctx, args [][]byte) {
	if c.f.acl.rev != 0 {
		c.Int(0)
		return
	}
	aclReplace(c, args)
}

// aclReplace applies __acl_replace (name count rule...)...: every user is
// replaced (ACL LOAD).
func aclReplace(c *Ctx, args [][]byte) {
	rules := map[string][]string{}
	compiled := map[string]*ACLUser{}
	created := map[string]uint64{}
	for i := 1; i < len(args); {
		if i+1 >= len(args) {
			c.Error("ERR malformed user list")
			return
		}
		name := string(args[i])
		n, ok := parseCount(args[i+1])
		if !ok || i+2+n > len(args) {
			c.Error("ERR malformed user list")
			return
		}
		var rs []string
		for _, r := range args[i+2 : i+2+n] {
			rs = append(rs, string(r))
		}
		u, err := CompileACLUser(name, rs, ownTable)
		if err != nil {
			c.Error("ERR " + err.Error())
			return
		}
		rules[name], compiled[name] = u.rules, u
		created[name] = madeAt(name, c.Rev)
		if at, ok := c.f.acl.created[name]; ok {
			created[name] = at // a user the file keeps stays logged in
		}
		i += 2 + n
	}
	c.f.acl.rules, c.f.acl.compiled, c.f.acl.created, c.f.acl.rev = rules, compiled, created, c.Rev
	c.f.aclRev.Store(c.Rev)
	c.OK()
}

// parseCount reads a rule count of an ACL op: 0 to 999,999.
func parseCount(b []byte) (int, bool) {
	n, ok := resp.ParseInt(b)
	return int(n), ok && n >= 0 && n < 1_000_000
}

// checkRequest re-checks a user's ops against the users as they are now,
// when they changed after the front door checked them: a rule committed
// on another node applies to every write committed after it. It returns
// the NOPERM error for each op, nil where the op may run.
func (f *FSM) checkRequest(r *Request) []string {
	if r.ACLRev == f.acl.rev {
		return nil
	}
	user := r.User
	if user == "" {
		user = "default" // checked when the users were never changed
	}
	u, ok := f.acl.compiled[user]
	if !ok && user == "default" {
		return nil // the implicit default user may do anything
	}
	denied := make([]string, len(r.Ops))
	for i, op := range r.Ops {
		if !ok { // deleted: its connections are closed, what they sent is refused
			denied[i] = "NOPERM this user has no permissions to run the '" + strings.ToLower(string(op.Args[0])) + "' command"
			continue
		}
		cmd := Lookup(op.Args[0])
		if cmd == nil || cmd.Flags&FlagInternal != 0 {
			continue // exec answers it; a script's calls are checked as they run
		}
		if d, obj := u.Check(cmd, op.Args); d != "" {
			denied[i] = NoPermError(d, obj)
			if r.Atomic {
				// Redis's words when EXEC finds the rules changed.
				reason := "no permission to execute the command or subcommand"
				if d == DeniedKey {
					reason = "no permission to touch the specified keys"
				}
				denied[i] = "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + reason
			}
		}
	}
	return denied
}

// ownTable is the fsm's table, for the ACL handlers: a variable set once
// at start-up, since the table's rows hold those handlers.
var ownTable *Table

func init() { ownTable = commands }

var aclCommands = []*Command{
	{Name: "__acl_setuser", Arity: -2, Flags: FlagWrite | FlagInternal, Categories: CatAdmin, Handler: aclSetUser},
	{Name: "__acl_seeduser", Arity: -3, Flags: FlagWrite | FlagInternal, Categories: CatAdmin, Handler: aclSeedUser},
	{Name: "__acl_deluser", Arity: -2, Flags: FlagWrite | FlagInternal, Categories: CatAdmin, Handler: aclDelUser},
	{Name: "__acl_seed", Arity: -1, Flags: FlagWrite | FlagInternal, Categories: CatAdmin, Handler: aclSeed},
	{Name: "__acl_replace", Arity: -1, Flags: FlagWrite | FlagInternal, Categories: CatAdmin, Handler: aclReplace},
}
