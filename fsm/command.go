package fsm

import (
	"sort"
	"strings"
	"unsafe"

	"github.com/statehouse/statehouse/internal/resp"
)

// Flags are what the front door, MULTI, ACL and scripts need to know about
// a command. The first group are Redis's own, reported by COMMAND in this
// order; the rest are statehouse's and never reported.
type Flags uint32

const (
	FlagWrite           Flags = 1 << iota // changes the keyspace: goes through the log
	FlagReadOnly                          // reads the keyspace only
	FlagDenyOOM                           // may grow memory
	FlagAdmin                             // administration (CONFIG, SAVE, CLIENT KILL...)
	FlagPubSub                            // publish/subscribe
	FlagNoScript                          // refused inside a script
	FlagBlocking                          // may block the client
	FlagLoading                           // allowed while the node loads its data
	FlagStale                             // allowed on a replica out of touch with its master
	FlagFast                              // O(1) or O(log n)
	FlagNoAuth                            // allowed before AUTH
	FlagNoMulti                           // refused inside MULTI
	FlagNoMandatoryKeys                   // may run with no key (EVAL with numkeys 0)
	FlagMovableKeys                       // its keys are found by parsing it (EVAL's numkeys)

	// statehouse's own:

	FlagFrontDoor // answered by the server itself (Conn), never by the fsm
	FlagTxControl // acts at once inside MULTI instead of being queued
	FlagInternal  // proposed by statehouse itself; refused from clients
	// FlagIgnorable marks a command whose ops a replica that does not know
	// the command may skip without diverging (nothing it does is visible
	// to reads): a newer build may add such commands in a rolling upgrade.
	// Any other unknown op in a committed entry stops the node.
	FlagIgnorable
	// FlagKeyAccess marks a write that returns what its keys held (GETDEL,
	// INCR, RENAME's source...): an ACL user needs read permission on its
	// keys too, as Redis's ACCESS key flag asks.
	FlagKeyAccess
	// FlagNotKey marks a command whose key positions name something else
	// (SSUBSCRIBE's shard channels: Redis's not_key key spec): no key
	// permission applies to them.
	FlagNotKey
	// FlagAfterExec marks a front-door command that, queued in MULTI,
	// runs only once the transaction applied (PUBLISH: a transaction that
	// did not run publishes nothing).
	FlagAfterExec
)

// redisFlags names Redis's flags in the order COMMAND lists them.
var redisFlags = [...]struct {
	f    Flags
	name string
}{
	{FlagWrite, "write"}, {FlagReadOnly, "readonly"}, {FlagDenyOOM, "denyoom"}, {FlagAdmin, "admin"},
	{FlagPubSub, "pubsub"}, {FlagNoScript, "noscript"}, {FlagBlocking, "blocking"}, {FlagLoading, "loading"},
	{FlagStale, "stale"}, {FlagFast, "fast"}, {FlagNoAuth, "no_auth"}, {FlagNoMandatoryKeys, "no_mandatory_keys"},
	{FlagNoMulti, "no_multi"}, {FlagMovableKeys, "movablekeys"},
}

// Category is a set of Redis's ACL categories (@read, @string...), in
// Redis's bit order, which is the order COMMAND and ACL CAT list them.
type Category uint32

const (
	CatKeyspace Category = 1 << iota
	CatRead
	CatWrite
	CatSet
	CatSortedSet
	CatList
	CatHash
	CatString
	CatBitmap
	CatHyperLogLog
	CatGeo
	CatStream
	CatPubSub
	CatAdmin
	CatFast
	CatSlow
	CatBlocking
	CatDangerous
	CatConnection
	CatTransaction
	CatScripting
)

var categoryNames = [...]string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
	"geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
	"transaction", "scripting",
}

// Names returns the categories without their '@', in Redis's order.
func (c Category) Names() []string {
	var out []string
	for i, name := range categoryNames {
		if c&(1<<i) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// CategoryByName finds a category by its name, without the '@'.
func CategoryByName(name string) (Category, bool) {
	for i, n := range categoryNames {
		if n == name {
			return 1 << i, true
		}
	}
	return 0, false
}

// Command is one row of the command table: everything the server, COMMAND,
// ACL, MULTI and the input checks need to know, and the handler.
type Command struct {
	Name     string // lower case; a subcommand's own name ("list")
	Arity    int    // Redis convention: N exact, -N at least N (name included)
	Flags    Flags
	FirstKey int // position of the first key, 0 if none
	LastKey  int // position of the last key, -1 = last argument
	Step     int
	// Categories are the ACL categories Redis lists for the command itself
	// (@string, @keyspace, @dangerous...); ACLCategories adds those its
	// flags imply, as Redis does.
	Categories Category
	Group      string // Redis's command group: string, generic, hash, set...
	// KeysFunc finds the keys of a command whose keys move with its other
	// arguments (LMPOP's numkeys): Redis's "movablekeys", with FirstKey,
	// LastKey and Step 0 as COMMAND reports them. Keys calls it.
	KeysFunc func(args [][]byte) [][]byte
	// Version of what the command does to the keyspace, carried by each op
	// in the log (0 means 1). Bump it when a write's effect changes, and
	// keep answering ops of older versions as before (Ctx.Version): a
	// replica that meets an op of a version it does not know stops rather
	// than apply it differently from its peers.
	Version int

	// Subcommands of a container command (CLIENT, CONFIG, COMMAND): each
	// has its own arity, flags, categories and handler.
	Subcommands []*Command

	// Handler runs a keyspace command: in Apply for writes, in Read for
	// reads. Nil for front-door commands.
	Handler func(c *Ctx, args [][]byte)
	// Conn runs a front-door command (FlagFrontDoor). Its first argument is
	// the server's per-pipeline state; the fsm only carries it.
	Conn func(p any, args [][]byte)

	full string // FullName, set by the table
	acl  Category
	subs map[string]*Command
}

// version is Version with 0 read as 1.
func (c *Command) version() int { return max(c.Version, 1) }

// IsWrite reports whether the command must go through the log.
func (c *Command) IsWrite() bool { return c.Flags&FlagWrite != 0 }

// FullName is the name Redis reports: "get", or "client|list" for a
// subcommand.
func (c *Command) FullName() string {
	if c.full == "" { // a row no table has taken yet
		return c.Name
	}
	return c.full
}

// ArityOK reports whether argc (name included) fits the command's arity.
func (c *Command) ArityOK(argc int) bool {
	if c.Arity >= 0 {
		return argc == c.Arity
	}
	return argc >= -c.Arity
}

// Keys returns the key arguments of args, following FirstKey/LastKey/Step
// (or KeysFunc).
func (c *Command) Keys(args [][]byte) [][]byte {
	if c.KeysFunc != nil {
		return c.KeysFunc(args)
	}
	if c.FirstKey == 0 || len(args) <= c.FirstKey {
		return nil
	}
	last := c.LastKey
	if last < 0 {
		last = len(args) + last
	}
	if last >= len(args) {
		last = len(args) - 1
	}
	var keys [][]byte
	for i := c.FirstKey; i <= last; i += max(c.Step, 1) {
		keys = append(keys, args[i])
	}
	return keys
}

// FlagNames returns Redis's flags of the command as COMMAND reports them.
func (c *Command) FlagNames() []string {
	out := []string{}
	for _, f := range redisFlags {
		if c.Flags&f.f != 0 {
			out = append(out, f.name)
		}
	}
	if c.KeysFunc != nil { // Redis derives it, and lists it last
		out = append(out, "movablekeys")
	}
	return out
}

// ACLCategories are the command's categories and those its flags imply
// (Redis's setImplicitACLCategories): @write, @read, @admin and
// @dangerous, @pubsub, @fast, @blocking, and @slow for what is not fast.
func (c *Command) ACLCategories() Category { return c.acl }

func implicitCategories(c *Command) Category {
	cat := c.Categories
	if c.Flags&FlagWrite != 0 {
		cat |= CatWrite
	}
	if c.Flags&FlagReadOnly != 0 && cat&CatScripting == 0 {
		cat |= CatRead
	}
	if c.Flags&FlagAdmin != 0 {
		cat |= CatAdmin | CatDangerous
	}
	if c.Flags&FlagPubSub != 0 {
		cat |= CatPubSub
	}
	if c.Flags&FlagFast != 0 {
		cat |= CatFast
	}
	if c.Flags&FlagBlocking != 0 {
		cat |= CatBlocking
	}
	if cat&CatFast == 0 {
		cat |= CatSlow
	}
	return cat
}

// Sub finds a subcommand by name, case-insensitively, or returns nil.
func (c *Command) Sub(name []byte) *Command {
	if c.subs == nil {
		return nil
	}
	return lookupFold(c.subs, name)
}

// Table is a command table: built once from its rows, read by everyone.
type Table struct {
	byName map[string]*Command
	public []*Command // top-level commands clients may call, in name order
}

// NewTable builds a table from families of rows (one family per file:
// strings, keys, hashes...). It panics on a row that cannot be right: a
// duplicate name, a keyspace command that is neither read nor write, a
// handler missing or in the wrong place. Rows are completed in place
// (subcommand lookup, ACL categories) the first time a table takes them;
// after that a row is only read, so tables may share it.
func NewTable(families ...[]*Command) *Table {
	t := &Table{byName: map[string]*Command{}}
	for _, fam := range families {
		for _, c := range fam {
			if _, dup := t.byName[c.Name]; dup {
				panic("fsm: command in the table twice: " + c.Name)
			}
			if c.acl == 0 { // the fsm's rows are completed once, by its own table
				complete(c, nil)
			}
			t.byName[c.Name] = c
			if c.Flags&FlagInternal == 0 {
				t.public = append(t.public, c)
			}
		}
	}
	sortCommands(t.public)
	return t
}

// complete checks a row and fills in what is derived from it.
func complete(c *Command, parent *Command) {
	name := c.Name
	if parent != nil {
		name = parent.Name + "|" + c.Name
	}
	if c.Name == "" || c.Name != lower(c.Name) || c.Arity == 0 {
		panic("fsm: command row without a lower-case name and an arity: " + name)
	}
	front := c.Flags&FlagFrontDoor != 0
	switch {
	case front && c.Handler != nil:
		panic("fsm: front-door command with a keyspace handler: " + name)
	case front && c.Conn == nil && len(c.Subcommands) == 0:
		panic("fsm: front-door command without a handler: " + name)
	case !front && len(c.Subcommands) > 0:
		// A keyspace container (OBJECT): its subcommands are the rows.
		if c.Handler != nil || c.Conn != nil {
			panic("fsm: keyspace container with a handler of its own: " + name)
		}
	case !front && (c.Handler == nil || c.Conn != nil):
		panic("fsm: keyspace command needs a handler and nothing else: " + name)
	case !front && (c.Flags&FlagWrite == 0) == (c.Flags&FlagReadOnly == 0):
		panic("fsm: keyspace command must be either read or write: " + name)
	}
	c.full = name
	c.acl = implicitCategories(c)
	if len(c.Subcommands) > 0 {
		c.subs = map[string]*Command{}
		for _, s := range c.Subcommands {
			if _, dup := c.subs[s.Name]; dup {
				panic("fsm: subcommand in the table twice: " + name + "|" + s.Name)
			}
			s.Flags |= FlagFrontDoor & c.Flags
			complete(s, c)
			c.subs[s.Name] = s
		}
	}
}

// Lookup finds a command by name, case-insensitively. Internal commands are
// found too; the server refuses them from clients by their flag.
func (t *Table) Lookup(name []byte) *Command { return lookupFold(t.byName, name) }

// LookupFull finds a command by the name Redis reports, "get" or
// "client|list", case-insensitively; internal commands are not found.
func (t *Table) LookupFull(name string) *Command {
	base, sub, isSub := strings.Cut(name, "|")
	c := t.Lookup([]byte(base))
	if c == nil || c.Flags&FlagInternal != 0 {
		return nil
	}
	if isSub {
		return c.Sub([]byte(sub))
	}
	return c
}

// Commands returns the commands clients may call, in name order.
func (t *Table) Commands() []*Command { return t.public }

func lookupFold(m map[string]*Command, name []byte) *Command {
	if c, ok := m[string(name)]; ok { // common case: already lower
		return c
	}
	var buf [32]byte // command names are short: lower-case them without allocating
	if len(name) > len(buf) {
		return nil
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return m[string(buf[:len(name)])]
}

func lower(s string) string { return strings.ToLower(s) }

func sortCommands(cs []*Command) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
}

// KeyspaceCommands are the rows of every command the fsm runs itself, the
// internal ones included: the server puts them in its table beside its own.
func KeyspaceCommands() []*Command {
	var out []*Command
	for _, fam := range keyspaceFamilies {
		out = append(out, fam...)
	}
	return out
}

// keyspaceFamilies lists the fsm's command families, one file each.
var keyspaceFamilies = [][]*Command{stringCommands, bitmapCommands, hllCommands, keyCommands, hashCommands, setCommands, listCommands, zsetCommands, dumpCommands, objectCommands, sortingCommands, internalCommands, aclCommands}

// commands is the fsm's own view of the table: the commands a log entry
// may carry.
var commands = NewTable(keyspaceFamilies...)

// Lookup finds a keyspace command by name, case-insensitively (internal
// commands included).
func Lookup(name []byte) *Command { return commands.Lookup(name) }

// resolve finds the row that runs args: the command, or the subcommand of
// a keyspace container (OBJECT ENCODING). It writes the error and returns
// nil for an unknown subcommand.
func (c *Ctx) resolve(cmd *Command, args [][]byte) *Command {
	if len(cmd.Subcommands) == 0 {
		return cmd
	}
	if len(args) < 2 {
		c.WrongArity(args[0])
		return nil
	}
	sub := cmd.Sub(args[1])
	if sub == nil {
		c.Error("ERR unknown subcommand '" + string(cString(args[1])) + "'. Try " + strings.ToUpper(cmd.Name) + " HELP.")
		return nil
	}
	if !sub.ArityOK(len(args)) {
		c.Error(resp.WrongArity(sub.FullName()))
		return nil
	}
	return sub
}

// Ctx is what a handler sees: one database at one instant, and the reply
// buffer. Write handlers run under the FSM's write lock with Write set;
// read handlers under the read lock.
type Ctx struct {
	f    *FSM
	ks   *keyspace
	DB   int
	Now  int64  // unix ms: the entry's now (writes) or the caller's clock (reads)
	Rev  uint64 // log index being applied (writes); 0 for reads
	Rand uint64 // caller-supplied randomness for RANDOMKEY and friends (reads)
	// Version is the version of the command the op was proposed with
	// (writes; this build's for reads): a handler whose command changed
	// keeps answering older versions as they were.
	Version int
	Write   bool
	Out     []byte
	// user is the ACL user whose request this is, for the commands a
	// script calls; nil for a user that may do anything.
	user *ACLUser

	probe item // search item for lookups (see keyspace.rawProbe)
}

// --- keyspace access -------------------------------------------------------

// Get returns the live item for key, or nil. In a write, an expired item is
// removed here, deterministically, since Now comes from the log.
func (c *Ctx) Get(key []byte) *item {
	// The key only searches the tree, so it may alias the argument.
	k := unsafe.String(unsafe.SliceData(key), len(key))
	it := c.ks.rawProbe(&c.probe, k)
	if it == nil {
		return nil
	}
	if it.expired(c.Now) {
		if c.Write {
			c.ks.remove(it.key, c.Rev)
			c.notify(NotifyExpired, "expired", key)
		}
		return nil
	}
	return it
}

// Put stores it, stamping the revision of this write.
func (c *Ctx) Put(it *item) {
	c.mustWrite()
	it.rev, it.wrote = c.Rev, c.Now
	if c.f.notifyFlags.Load()&NotifyNew != 0 {
		if old := c.ks.raw(it.key); old == nil || old.expired(c.Now) {
			c.notify(NotifyNew, "new", []byte(it.key))
		}
	}
	c.ks.put(it)
	if (it.kind == KindList || it.kind == KindZSet) && c.f.onListWrite != nil {
		c.f.onListWrite(c.DB, it.key)
	}
}

// Del removes key and reports whether a live key was removed.
func (c *Ctx) Del(key []byte) bool {
	c.mustWrite()
	it := c.ks.remove(string(key), c.Rev)
	return it != nil && !it.expired(c.Now)
}

func (c *Ctx) mustWrite() {
	if !c.Write {
		panic("fsm: write in a read handler")
	}
}

// NewString builds a string item for key.
func newString(key []byte, val string) *item {
	k := string(key)
	return &item{h: keyHash(k), key: k, kind: KindString, str: val}
}

// --- replies ---------------------------------------------------------------

// Error texts of the fsm's commands, worded exactly as Redis words them
// (the ones every command shares are in internal/resp).
const (
	ErrNoSuchKey  = "ERR no such key"
	ErrOverflow   = "ERR increment or decrement would overflow"
	ErrInvalidExp = "ERR invalid expire time in '%s' command"
	ErrNaN        = "ERR increment would produce NaN or Infinity"
	ErrCursor     = "ERR invalid cursor"
)

func (c *Ctx) OK()                 { c.Out = resp.AppendOK(c.Out) }
func (c *Ctx) Null()               { c.Out = resp.AppendNull(c.Out) }
func (c *Ctx) NullArray()          { c.Out = resp.AppendNullArray(c.Out) }
func (c *Ctx) Status(s string)     { c.Out = resp.AppendStatus(c.Out, s) }
func (c *Ctx) Error(msg string)    { c.Out = resp.AppendError(c.Out, msg) }
func (c *Ctx) Int(n int64)         { c.Out = resp.AppendInt(c.Out, n) }
func (c *Ctx) Bulk(b []byte)       { c.Out = resp.AppendBulk(c.Out, b) }
func (c *Ctx) BulkString(s string) { c.Out = resp.AppendBulkString(c.Out, s) }
func (c *Ctx) Array(n int)         { c.Out = resp.AppendArray(c.Out, n) }

// WrongArity writes Redis's arity error for the command.
func (c *Ctx) WrongArity(name []byte) { c.Error(resp.WrongArity(string(name))) }
