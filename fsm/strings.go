package fsm

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// String commands. Each handler gets args with args[0] the command name and
// arity already checked. Replies, error texts and the order in which errors
// are detected follow Redis 7.0 (t_string.c).

var stringCommands = []*Command{
	{Name: "get", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getCmd},
	{Name: "set", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: setCmd},
	{Name: "setnx", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: setnxCmd},
	{Name: "setex", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: setexCmd},
	{Name: "psetex", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: psetexCmd},
	{Name: "getex", Arity: -2, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getexCmd},
	{Name: "getdel", Arity: 2, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getdelCmd},
	{Name: "getset", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getsetCmd},
	{Name: "mget", Arity: -2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatString, Group: "string", Handler: mgetCmd},
	{Name: "mset", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 2, Categories: CatString, Group: "string", Handler: msetCmd},
	{Name: "msetnx", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 2, Categories: CatString, Group: "string", Handler: msetnxCmd},
	{Name: "append", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: appendCmd},
	{Name: "strlen", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: strlenCmd},
	{Name: "getrange", Arity: 4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getrangeCmd},
	{Name: "substr", Arity: 4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: getrangeCmd},
	{Name: "setrange", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: setrangeCmd},
	{Name: "incr", Arity: 2, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: incrCmd},
	{Name: "decr", Arity: 2, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: decrCmd},
	{Name: "incrby", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: incrbyCmd},
	{Name: "decrby", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: decrbyCmd},
	{Name: "incrbyfloat", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatString, Group: "string", Handler: incrbyfloatCmd},
	{Name: "lcs", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatString, Group: "string", Handler: lcsCmd},
}

// maxStringLen is Redis's default proto-max-bulk-len: no string may grow
// beyond it through APPEND or SETRANGE.
const maxStringLen = 512 << 20

const (
	errStringTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errOffsetRange   = "ERR offset is out of range"
	errDecrOverflow  = "ERR decrement would overflow"
)

// stringItem looks key up for a string command. It returns the live item
// (nil if there is none) and false, after replying WRONGTYPE, when the key
// holds another type.
func stringItem(c *Ctx, key []byte) (*item, bool) {
	it := c.Get(key)
	if it != nil && it.kind != KindString {
		c.Error(resp.ErrWrongType)
		return nil, false
	}
	return it, true
}

// checkStringLength is Redis's checkStringLength: size+add must stay within
// proto-max-bulk-len.
func checkStringLength(c *Ctx, size, add int64) bool {
	if size > maxStringLen || add > maxStringLen || size+add > maxStringLen {
		c.Error(errStringTooLong)
		return false
	}
	return true
}

// --- GET and the SET family -------------------------------------------------

func getCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	switch {
	case !ok:
	case it == nil:
		c.Null()
	default:
		c.BulkString(it.str)
	}
}

// Option flags shared by SET and GETEX (Redis's OBJ_SET_NX, OBJ_EX...).
const (
	setOptNX = 1 << iota
	setOptXX
	setOptGet
	setOptKeepTTL
	setOptEX
	setOptPX
	setOptEXAT
	setOptPXAT
	setOptPersist
)

// cString cuts an option at its first NUL byte: Redis compares options as C
// strings, so "nx\x00junk" is NX.
func cString(b []byte) []byte {
	for i, ch := range b {
		if ch == 0 {
			return b[:i]
		}
	}
	return b
}

// parseSetOpts is Redis's parseExtendedStringArgumentsOrReply for SET
// (isSet) and GETEX, from args[start]. Conflicting options are a syntax
// error; an option may repeat, and the last expire given wins.
func parseSetOpts(c *Ctx, args [][]byte, start int, isSet bool) (flags int, expire []byte, ok bool) {
	for j := start; j < len(args); j++ {
		opt := cString(args[j])
		next := j < len(args)-1
		switch {
		case resp.EqualFold(opt, "nx") && flags&setOptXX == 0 && isSet:
			flags |= setOptNX
		case resp.EqualFold(opt, "xx") && flags&setOptNX == 0 && isSet:
			flags |= setOptXX
		case resp.EqualFold(opt, "get") && isSet:
			flags |= setOptGet
		case resp.EqualFold(opt, "keepttl") && flags&(setOptPersist|setOptEX|setOptEXAT|setOptPX|setOptPXAT) == 0 && isSet:
			flags |= setOptKeepTTL
		case resp.EqualFold(opt, "persist") && !isSet && flags&(setOptEX|setOptEXAT|setOptPX|setOptPXAT|setOptKeepTTL) == 0:
			flags |= setOptPersist
		case resp.EqualFold(opt, "ex") && flags&(setOptKeepTTL|setOptPersist|setOptEXAT|setOptPX|setOptPXAT) == 0 && next:
			flags |= setOptEX
			expire = args[j+1]
			j++
		case resp.EqualFold(opt, "px") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptEXAT|setOptPXAT) == 0 && next:
			flags |= setOptPX
			expire = args[j+1]
			j++
		case resp.EqualFold(opt, "exat") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptPX|setOptPXAT) == 0 && next:
			flags |= setOptEXAT
			expire = args[j+1]
			j++
		case resp.EqualFold(opt, "pxat") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptEXAT|setOptPX) == 0 && next:
			flags |= setOptPXAT
			expire = args[j+1]
			j++
		default:
			c.Error(resp.ErrSyntax)
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// setExpireDeadline turns the value of an EX/PX/EXAT/PXAT option into an
// absolute deadline in unix ms, as Redis's getExpireMillisecondsOrReply:
// non-positive values and overflow are "invalid expire time in '<name>'".
// Relative expires count from c.Now, the entry's clock.
func setExpireDeadline(c *Ctx, expire []byte, flags int, name string) (int64, bool) {
	n, ok := resp.ParseInt(expire)
	if !ok {
		c.Error(resp.ErrNotInt)
		return 0, false
	}
	seconds := flags&(setOptEX|setOptEXAT) != 0
	if n <= 0 || (seconds && n > math.MaxInt64/1000) {
		c.Error(fmt.Sprintf(ErrInvalidExp, name))
		return 0, false
	}
	if seconds {
		n *= 1000
	}
	if flags&(setOptEX|setOptPX) != 0 {
		if c.Now > 0 && n > math.MaxInt64-c.Now {
			c.Error(fmt.Sprintf(ErrInvalidExp, name))
			return 0, false
		}
		n += c.Now
	}
	if n <= 0 {
		c.Error(fmt.Sprintf(ErrInvalidExp, name))
		return 0, false
	}
	return n, true
}

func setCmd(c *Ctx, args [][]byte) {
	flags, expire, ok := parseSetOpts(c, args, 3, true)
	if !ok {
		return
	}
	setGeneric(c, flags, args[1], args[2], expire, "set", false)
}

func setnxCmd(c *Ctx, args [][]byte) {
	setGeneric(c, setOptNX, args[1], args[2], nil, "setnx", true)
}

func setexCmd(c *Ctx, args [][]byte) {
	setGeneric(c, setOptEX, args[1], args[3], args[2], "setex", false)
}

func psetexCmd(c *Ctx, args [][]byte) {
	setGeneric(c, setOptPX, args[1], args[3], args[2], "psetex", false)
}

// setGeneric is Redis's setGenericCommand. intReply answers :1/:0 (SETNX)
// instead of +OK/null.
func setGeneric(c *Ctx, flags int, key, val, expire []byte, name string, intReply bool) {
	var deadline int64
	if expire != nil {
		var ok bool
		if deadline, ok = setExpireDeadline(c, expire, flags, name); !ok {
			return
		}
	}
	var old *item
	if flags&(setOptNX|setOptXX|setOptGet|setOptKeepTTL) != 0 {
		old = c.Get(key)
	}
	if flags&setOptGet != 0 {
		switch {
		case old == nil:
			c.Null()
		case old.kind != KindString:
			c.Error(resp.ErrWrongType)
			return
		default:
			c.BulkString(old.str)
		}
	}
	if (flags&setOptNX != 0 && old != nil) || (flags&setOptXX != 0 && old == nil) {
		switch {
		case flags&setOptGet != 0:
		case intReply:
			c.Int(0)
		default:
			c.Null()
		}
		return
	}
	it := newString(key, string(val))
	if flags&setOptKeepTTL != 0 && old != nil {
		it.deadline = old.deadline
	}
	if expire != nil {
		it.deadline = deadline
	}
	if it.deadline != 0 && it.deadline < c.Now {
		// An EXAT/PXAT already in the past: the key would be invisible from
		// the start, so drop it now rather than leave it to the reaper.
		c.ks.remove(it.key, c.Rev)
		c.notify(NotifyString, "set", key)
		c.notify(NotifyGeneric, "del", key)
	} else {
		c.Put(it)
		c.notify(NotifyString, "set", key)
		if expire != nil {
			c.notify(NotifyGeneric, "expire", key)
		}
	}
	switch {
	case flags&setOptGet != 0:
	case intReply:
		c.Int(1)
	default:
		c.OK()
	}
}

func getexCmd(c *Ctx, args [][]byte) {
	flags, expire, ok := parseSetOpts(c, args, 2, false)
	if !ok {
		return
	}
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Null()
		return
	}
	var deadline int64
	if expire != nil {
		if deadline, ok = setExpireDeadline(c, expire, flags, "getex"); !ok {
			return
		}
	}
	c.BulkString(it.str)
	switch {
	case flags&(setOptEXAT|setOptPXAT) != 0 && deadline <= c.Now:
		// Redis deletes at once when an absolute deadline has passed.
		c.Del(args[1])
		c.notify(NotifyGeneric, "del", args[1])
	case expire != nil:
		n := it.clone()
		n.deadline = deadline
		c.Put(n)
		c.notify(NotifyGeneric, "expire", args[1])
	case flags&setOptPersist != 0 && it.deadline != 0:
		n := it.clone()
		n.deadline = 0
		c.Put(n)
		c.notify(NotifyGeneric, "persist", args[1])
	}
}

func getdelCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Null()
		return
	}
	c.BulkString(it.str)
	c.Del(args[1])
	c.notify(NotifyGeneric, "del", args[1])
}

func getsetCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Null()
	} else {
		c.BulkString(it.str)
	}
	c.Put(newString(args[1], string(args[2]))) // clears the TTL, as Redis
	c.notify(NotifyString, "set", args[1])
}

func mgetCmd(c *Ctx, args [][]byte) {
	c.Array(len(args) - 1)
	for _, k := range args[1:] {
		if it := c.Get(k); it != nil && it.kind == KindString {
			c.BulkString(it.str)
		} else {
			c.Null()
		}
	}
}

func msetCmd(c *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		c.WrongArity(args[0])
		return
	}
	for i := 1; i < len(args); i += 2 {
		c.Put(newString(args[i], string(args[i+1])))
		c.notify(NotifyString, "set", args[i])
	}
	c.OK()
}

func msetnxCmd(c *Ctx, args [][]byte) {
	if len(args)%2 == 0 {
		c.WrongArity(args[0])
		return
	}
	for i := 1; i < len(args); i += 2 {
		if c.Get(args[i]) != nil {
			c.Int(0)
			return
		}
	}
	for i := 1; i < len(args); i += 2 {
		c.Put(newString(args[i], string(args[i+1])))
		c.notify(NotifyString, "set", args[i])
	}
	c.Int(1)
}

// --- APPEND, STRLEN, GETRANGE, SETRANGE, LCS ------------------------------

func appendCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		n := newString(args[1], string(args[2]))
		c.Put(n)
		c.notify(NotifyString, "append", args[1])
		c.Int(int64(len(n.str)))
		return
	}
	if !checkStringLength(c, int64(len(it.str)), int64(len(args[2]))) {
		return
	}
	n := it.clone() // keeps the TTL
	n.str, n.grown = extendString(it, 0, args[2])
	c.Put(n)
	c.notify(NotifyString, "append", args[1])
	c.Int(int64(len(n.str)))
}

func strlenCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	switch {
	case !ok:
	case it == nil:
		c.Int(0)
	default:
		c.Int(int64(len(it.str)))
	}
}

// getrangeCmd is GETRANGE and its old name SUBSTR, with Redis 7.0's index
// rules (a negative end below -len clamps to 0, so "0 -100" gives the first
// byte).
func getrangeCmd(c *Ctx, args [][]byte) {
	start, ok1 := resp.ParseInt(args[2])
	end, ok2 := resp.ParseInt(args[3])
	if !ok1 || !ok2 {
		c.Error(resp.ErrNotInt)
		return
	}
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.BulkString("")
		return
	}
	s := it.str
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		c.BulkString("")
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		c.BulkString("")
		return
	}
	c.BulkString(s[start : end+1])
}

func setrangeCmd(c *Ctx, args [][]byte) {
	offset, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if offset < 0 {
		c.Error(errOffsetRange)
		return
	}
	val := args[3]
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	var old string
	if it != nil {
		old = it.str
	}
	if len(val) == 0 {
		// Nothing to write: no key is created and nothing is touched.
		c.Int(int64(len(old)))
		return
	}
	if !checkStringLength(c, offset, int64(len(val))) {
		return
	}
	var n *item
	if it == nil {
		n = newString(args[1], "")
	} else {
		n = it.clone() // keeps the TTL
	}
	if int(offset) >= len(old) {
		// Past the end: the value only grows, maybe in place.
		n.str, n.grown = extendString(it, int(offset)-len(old), val)
	} else {
		n.str = setrangeString(old, int(offset), val) // a clone's string is not grown
	}
	c.Put(n)
	c.notify(NotifyString, "setrange", args[1])
	c.Int(int64(len(n.str)))
}

// setrangeString returns old with val written at offset, which is inside
// old (past its end, extendString pads and appends).
func setrangeString(old string, offset int, val []byte) string {
	end := offset + len(val)
	var b strings.Builder
	b.Grow(max(len(old), end))
	b.WriteString(old[:offset])
	b.Write(val)
	if end < len(old) {
		b.WriteString(old[end:])
	}
	return b.String()
}

// --- counters -----------------------------------------------------------------

func incrCmd(c *Ctx, args [][]byte) { incrDecr(c, args[1], 1) }
func decrCmd(c *Ctx, args [][]byte) { incrDecr(c, args[1], -1) }

func incrbyCmd(c *Ctx, args [][]byte) {
	n, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	incrDecr(c, args[1], n)
}

func decrbyCmd(c *Ctx, args [][]byte) {
	n, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if n == math.MinInt64 {
		c.Error(errDecrOverflow)
		return
	}
	incrDecr(c, args[1], -n)
}

// incrDecr is Redis's incrDecrCommand. The key keeps its TTL.
func incrDecr(c *Ctx, key []byte, incr int64) {
	it, ok := stringItem(c, key)
	if !ok {
		return
	}
	var v int64
	if it != nil {
		if v, ok = resp.ParseInt([]byte(it.str)); !ok {
			c.Error(resp.ErrNotInt)
			return
		}
	}
	if (incr < 0 && v < 0 && incr < math.MinInt64-v) || (incr > 0 && v > 0 && incr > math.MaxInt64-v) {
		c.Error(ErrOverflow)
		return
	}
	v += incr
	s := strconv.FormatInt(v, 10)
	if it == nil {
		c.Put(newString(key, s))
	} else {
		n := it.clone()
		n.str = s
		c.Put(n)
	}
	c.notify(NotifyString, "incrby", key)
	c.Int(v)
}

// incrbyfloatCmd computes in x87 80-bit long double and formats with
// "%.17Lf" minus trailing zeroPad, as Redis does on x86-64, so that
// 0.1 + 0.2 is "0.3" here too. The key keeps its TTL.
func incrbyfloatCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	var cur string
	if it != nil {
		cur = it.str
	}
	res, errMsg := incrByFloat(it != nil, cur, string(args[2]))
	if errMsg != "" {
		c.Error(errMsg)
		return
	}
	if it == nil {
		c.Put(newString(args[1], res))
	} else {
		n := it.clone()
		n.str = res
		c.Put(n)
	}
	c.notify(NotifyString, "incrbyfloat", args[1])
	c.BulkString(res)
}

// incrByFloat adds incr to the current value cur (has: whether there is
// one; a missing value counts as 0) the way INCRBYFLOAT does: both parsed as
// strtold would, summed in 80-bit long double, formatted with "%.17Lf" and
// trailing zeros removed. It returns the new value or a Redis error text.
// HINCRBYFLOAT checks in another order and words its errors differently,
// so it should build on parseLongDouble, addLongDouble and formatLongDouble.
func incrByFloat(has bool, cur, incr string) (string, string) {
	v := new(big.Float)
	if has {
		var ok bool
		if v, ok = parseLongDouble(cur); !ok {
			return "", resp.ErrNotFloat
		}
	}
	d, ok := parseLongDouble(incr)
	if !ok {
		return "", resp.ErrNotFloat
	}
	sum, ok := addLongDouble(v, d)
	if !ok {
		return "", ErrNaN
	}
	return formatLongDouble(sum), ""
}
