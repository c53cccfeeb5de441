package fsm

import (
	"unsafe"

	"github.com/statehouse/statehouse/internal/resp"
)

// Flags describe a command to the server (routing, MULTI, COMMAND replies).
type Flags uint16

const (
	FlagWrite    Flags = 1 << iota // changes the keyspace: goes through the log
	FlagReadOnly                   // reads the keyspace only
	FlagFast                       // O(1) or O(log n)
	FlagInternal                   // proposed by statehouse itself; clients may not call it
	FlagDenyOOM                    // may grow memory
)

// Command is one row of the command table: everything the server, COMMAND
// and the input checks need to know, plus the handler that implements it.
type Command struct {
	Name     string // lower case
	Arity    int    // Redis convention: N exact, -N at least N (name included)
	Flags    Flags
	FirstKey int // position of the first key, 0 if none
	LastKey  int // position of the last key, -1 = last argument
	Step     int
	Group    string // Redis's command group: string, generic, hash, set...
	Handler  func(c *Ctx, args [][]byte)
}

// IsWrite reports whether the command must go through the log.
func (c *Command) IsWrite() bool { return c.Flags&FlagWrite != 0 }

// ArityOK reports whether argc (name included) fits the command's arity.
func (c *Command) ArityOK(argc int) bool {
	if c.Arity >= 0 {
		return argc == c.Arity
	}
	return argc >= -c.Arity
}

// Keys returns the key arguments of args, following FirstKey/LastKey/Step.
func (c *Command) Keys(args [][]byte) [][]byte {
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

// FlagNames returns the flags as COMMAND reports them.
func (c *Command) FlagNames() []string {
	var out []string
	if c.Flags&FlagWrite != 0 {
		out = append(out, "write")
	}
	if c.Flags&FlagReadOnly != 0 {
		out = append(out, "readonly")
	}
	if c.Flags&FlagDenyOOM != 0 {
		out = append(out, "denyoom")
	}
	if c.Flags&FlagFast != 0 {
		out = append(out, "fast")
	}
	return out
}

var table = map[string]*Command{}

func register(cmds []*Command) {
	for _, c := range cmds {
		if _, dup := table[c.Name]; dup {
			panic("fsm: command registered twice: " + c.Name)
		}
		if c.Flags&(FlagWrite|FlagReadOnly) == 0 {
			panic("fsm: command is neither read nor write: " + c.Name)
		}
		table[c.Name] = c
	}
}

func init() {
	// One explicit list: each family lives in its own file.
	register(stringCommands)
	register(keyCommands)
	register(hashCommands)
	register(setCommands)
	register(internalCommands)
}

// Lookup finds a command by name, case-insensitively. Internal commands are
// found too; the server refuses them from clients by their flag.
func Lookup(name []byte) *Command {
	if c, ok := table[string(name)]; ok { // common case: already lower
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
	return table[string(buf[:len(name)])]
}

// Commands returns the public command table (internal commands left out),
// in name order.
func Commands() []*Command {
	out := make([]*Command, 0, len(table))
	for _, c := range table {
		if c.Flags&FlagInternal == 0 {
			out = append(out, c)
		}
	}
	sortCommands(out)
	return out
}

func sortCommands(cs []*Command) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].Name < cs[j-1].Name; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// Ctx is what a handler sees: one database at one instant, and the reply
// buffer. Write handlers run under the FSM's write lock with Write set;
// read handlers under the read lock.
type Ctx struct {
	f     *FSM
	ks    *keyspace
	DB    int
	Now   int64  // unix ms: the entry's now (writes) or the caller's clock (reads)
	Rev   uint64 // log index being applied (writes); 0 for reads
	Rand  uint64 // caller-supplied randomness for RANDOMKEY and friends (reads)
	Write bool
	Out   []byte

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
		}
		return nil
	}
	return it
}

// Put stores it, stamping the revision of this write.
func (c *Ctx) Put(it *item) {
	c.mustWrite()
	it.rev = c.Rev
	c.ks.put(it)
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
