package fsm

import (
	"math"
	"strconv"
	"strings"
	"unsafe"
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

// Standard error texts, worded exactly as Redis words them.
const (
	ErrWrongType  = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrNotInt     = "ERR value is not an integer or out of range"
	ErrNotFloat   = "ERR value is not a valid float"
	ErrSyntax     = "ERR syntax error"
	ErrNoSuchKey  = "ERR no such key"
	ErrOverflow   = "ERR increment or decrement would overflow"
	ErrInvalidExp = "ERR invalid expire time in '%s' command"
	ErrNaN        = "ERR increment would produce NaN or Infinity"
	ErrDBIndex    = "ERR DB index is out of range"
	ErrCursor     = "ERR invalid cursor"
)

func (c *Ctx) OK()                 { c.Out = append(c.Out, "+OK\r\n"...) }
func (c *Ctx) Null()               { c.Out = append(c.Out, "$-1\r\n"...) }
func (c *Ctx) NullArray()          { c.Out = append(c.Out, "*-1\r\n"...) }
func (c *Ctx) Status(s string)     { c.Out = append(append(append(c.Out, '+'), s...), "\r\n"...) }
func (c *Ctx) Error(msg string)    { c.Out = AppendError(c.Out, msg) }
func (c *Ctx) Int(n int64)         { c.Out = AppendInt(c.Out, n) }
func (c *Ctx) Bulk(b []byte)       { c.Out = AppendBulk(c.Out, b) }
func (c *Ctx) BulkString(s string) { c.Out = AppendBulkString(c.Out, s) }
func (c *Ctx) Array(n int)         { c.Out = AppendArray(c.Out, n) }

// WrongArity writes Redis's arity error for the command.
func (c *Ctx) WrongArity(name []byte) {
	c.Error("ERR wrong number of arguments for '" + strings.ToLower(string(name)) + "' command")
}

// AppendError appends a RESP error. msg must start with the error code
// (ERR, WRONGTYPE...); newlines are replaced so the reply stays one line.
func AppendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, '\r', '\n')
}

func AppendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

func AppendArray(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func AppendBulk(b, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

func AppendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// --- argument parsing --------------------------------------------------------

// ParseInt parses a Redis integer argument (strict: no spaces, no '+',
// no leading zeros beyond "0", fits in int64).
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if (b[0] == '0' && len(b) > 1) || b[0] == '+' {
		return 0, false
	}
	if b[0] == '-' && (len(b) == 1 || b[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// ParseFloat parses a Redis float argument ("inf", "-inf" allowed, NaN not).
func ParseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 5000 {
		return 0, false
	}
	s := string(b)
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.ContainsAny(s, "_xXpP") {
		return 0, false
	}
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return posInf, true
	case "-inf", "-infinity":
		return negInf, true
	case "nan", "+nan", "-nan":
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// FormatFloat formats as Redis does for INCRBYFLOAT/HINCRBYFLOAT replies:
// up to 17 significant digits, no exponent, trailing zeros removed.
func FormatFloat(f float64) string {
	if f == posInf {
		return "inf"
	}
	if f == negInf {
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// EqualFold reports whether arg equals the lower-case word, ignoring case.
func EqualFold(arg []byte, word string) bool {
	if len(arg) != len(word) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		ch := arg[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != word[i] {
			return false
		}
	}
	return true
}

var (
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
)
