package fsm

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// String commands. Each handler gets args with args[0] the command name and
// arity already checked. Replies, error texts and the order in which errors
// are detected follow Redis 7.0 (t_string.c).

var stringCommands = []*Command{
	{Name: "get", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getCmd},
	{Name: "set", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: setCmd},
	{Name: "setnx", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: setnxCmd},
	{Name: "setex", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: setexCmd},
	{Name: "psetex", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: psetexCmd},
	{Name: "getex", Arity: -2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getexCmd},
	{Name: "getdel", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getdelCmd},
	{Name: "getset", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getsetCmd},
	{Name: "mget", Arity: -2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Group: "string", Handler: mgetCmd},
	{Name: "mset", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 2, Group: "string", Handler: msetCmd},
	{Name: "msetnx", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 2, Group: "string", Handler: msetnxCmd},
	{Name: "append", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: appendCmd},
	{Name: "strlen", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: strlenCmd},
	{Name: "getrange", Arity: 4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getrangeCmd},
	{Name: "substr", Arity: 4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: getrangeCmd},
	{Name: "setrange", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: setrangeCmd},
	{Name: "incr", Arity: 2, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: incrCmd},
	{Name: "decr", Arity: 2, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: decrCmd},
	{Name: "incrby", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: incrbyCmd},
	{Name: "decrby", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: decrbyCmd},
	{Name: "incrbyfloat", Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "string", Handler: incrbyfloatCmd},
	{Name: "lcs", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 2, Step: 1, Group: "string", Handler: lcsCmd},
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
		c.Error(ErrWrongType)
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
		case EqualFold(opt, "nx") && flags&setOptXX == 0 && isSet:
			flags |= setOptNX
		case EqualFold(opt, "xx") && flags&setOptNX == 0 && isSet:
			flags |= setOptXX
		case EqualFold(opt, "get") && isSet:
			flags |= setOptGet
		case EqualFold(opt, "keepttl") && flags&(setOptPersist|setOptEX|setOptEXAT|setOptPX|setOptPXAT) == 0 && isSet:
			flags |= setOptKeepTTL
		case EqualFold(opt, "persist") && !isSet && flags&(setOptEX|setOptEXAT|setOptPX|setOptPXAT|setOptKeepTTL) == 0:
			flags |= setOptPersist
		case EqualFold(opt, "ex") && flags&(setOptKeepTTL|setOptPersist|setOptEXAT|setOptPX|setOptPXAT) == 0 && next:
			flags |= setOptEX
			expire = args[j+1]
			j++
		case EqualFold(opt, "px") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptEXAT|setOptPXAT) == 0 && next:
			flags |= setOptPX
			expire = args[j+1]
			j++
		case EqualFold(opt, "exat") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptPX|setOptPXAT) == 0 && next:
			flags |= setOptEXAT
			expire = args[j+1]
			j++
		case EqualFold(opt, "pxat") && flags&(setOptKeepTTL|setOptPersist|setOptEX|setOptEXAT|setOptPX) == 0 && next:
			flags |= setOptPXAT
			expire = args[j+1]
			j++
		default:
			c.Error(ErrSyntax)
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
	n, ok := ParseInt(expire)
	if !ok {
		c.Error(ErrNotInt)
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
			c.Error(ErrWrongType)
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
	} else {
		c.Put(it)
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
	case expire != nil:
		n := it.clone()
		n.deadline = deadline
		c.Put(n)
	case flags&setOptPersist != 0 && it.deadline != 0:
		n := it.clone()
		n.deadline = 0
		c.Put(n)
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
		c.Int(int64(len(n.str)))
		return
	}
	if !checkStringLength(c, int64(len(it.str)), int64(len(args[2]))) {
		return
	}
	n := it.clone() // keeps the TTL
	n.str = it.str + string(args[2])
	c.Put(n)
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
	start, ok1 := ParseInt(args[2])
	end, ok2 := ParseInt(args[3])
	if !ok1 || !ok2 {
		c.Error(ErrNotInt)
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
	offset, ok := ParseInt(args[2])
	if !ok {
		c.Error(ErrNotInt)
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
	str := setrangeString(old, int(offset), val)
	var n *item
	if it == nil {
		n = newString(args[1], str)
	} else {
		n = it.clone() // keeps the TTL
		n.str = str
	}
	c.Put(n)
	c.Int(int64(len(str)))
}

var zeroPad [4096]byte

// setrangeString returns old with val written at offset, zero-padded as needed.
func setrangeString(old string, offset int, val []byte) string {
	end := offset + len(val)
	var b strings.Builder
	b.Grow(max(len(old), end))
	if offset <= len(old) {
		b.WriteString(old[:offset])
	} else {
		b.WriteString(old)
		for pad := offset - len(old); pad > 0; {
			n := min(pad, len(zeroPad))
			b.Write(zeroPad[:n])
			pad -= n
		}
	}
	b.Write(val)
	if end < len(old) {
		b.WriteString(old[end:])
	}
	return b.String()
}

// lcsCmd is Redis 7.0's LCS: the classic dynamic-programming table, walked
// back from the end exactly as Redis walks it so that IDX reports the same
// ranges. Like Redis, it refuses a table larger than proto-max-bulk-len.
func lcsCmd(c *Ctx, args [][]byte) {
	ia, ib := c.Get(args[1]), c.Get(args[2])
	if (ia != nil && ia.kind != KindString) || (ib != nil && ib.kind != KindString) {
		c.Error("ERR The specified keys must contain string values")
		return
	}
	var a, b string
	if ia != nil {
		a = ia.str
	}
	if ib != nil {
		b = ib.str
	}
	var getLen, getIdx, withMatchLen bool
	var minMatchLen int64
	for j := 3; j < len(args); j++ {
		opt := cString(args[j])
		switch {
		case EqualFold(opt, "idx"):
			getIdx = true
		case EqualFold(opt, "len"):
			getLen = true
		case EqualFold(opt, "withmatchlen"):
			withMatchLen = true
		case EqualFold(opt, "minmatchlen") && j < len(args)-1:
			n, ok := ParseInt(args[j+1])
			if !ok {
				c.Error(ErrNotInt)
				return
			}
			minMatchLen = max(n, 0)
			j++
		default:
			c.Error(ErrSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.Error("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	alen, blen := len(a), len(b)
	if uint64(alen+1)*uint64(blen+1)*4 > maxStringLen {
		c.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
		return
	}
	w := blen + 1
	lcs := make([]uint32, (alen+1)*w)
	for i := 1; i <= alen; i++ {
		for j := 1; j <= blen; j++ {
			if a[i-1] == b[j-1] {
				lcs[i*w+j] = lcs[(i-1)*w+j-1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i-1)*w+j], lcs[i*w+j-1])
			}
		}
	}
	total := int(lcs[alen*w+blen])
	if getLen {
		c.Int(int64(total))
		return
	}
	result := make([]byte, total)
	type lcsRange struct{ a0, a1, b0, b1 int }
	var ranges []lcsRange
	idx := total
	aStart, aEnd, bStart, bEnd := alen, 0, 0, 0 // aStart == alen: no open range
	for i, j := alen, blen; i > 0 && j > 0; {
		emit := false
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			if aStart == alen {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if lcs[(i-1)*w+j] > lcs[i*w+j-1] {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			if matchLen := aEnd - aStart + 1; minMatchLen == 0 || int64(matchLen) >= minMatchLen {
				ranges = append(ranges, lcsRange{aStart, aEnd, bStart, bEnd})
			}
			aStart = alen
		}
	}
	if !getIdx {
		c.Bulk(result)
		return
	}
	c.Array(4)
	c.BulkString("matches")
	c.Array(len(ranges))
	for _, r := range ranges {
		if withMatchLen {
			c.Array(3)
		} else {
			c.Array(2)
		}
		c.Array(2)
		c.Int(int64(r.a0))
		c.Int(int64(r.a1))
		c.Array(2)
		c.Int(int64(r.b0))
		c.Int(int64(r.b1))
		if withMatchLen {
			c.Int(int64(r.a1 - r.a0 + 1))
		}
	}
	c.BulkString("len")
	c.Int(int64(total))
}

// --- counters -----------------------------------------------------------------

func incrCmd(c *Ctx, args [][]byte) { incrDecr(c, args[1], 1) }
func decrCmd(c *Ctx, args [][]byte) { incrDecr(c, args[1], -1) }

func incrbyCmd(c *Ctx, args [][]byte) {
	n, ok := ParseInt(args[2])
	if !ok {
		c.Error(ErrNotInt)
		return
	}
	incrDecr(c, args[1], n)
}

func decrbyCmd(c *Ctx, args [][]byte) {
	n, ok := ParseInt(args[2])
	if !ok {
		c.Error(ErrNotInt)
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
		if v, ok = ParseInt([]byte(it.str)); !ok {
			c.Error(ErrNotInt)
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
			return "", ErrNotFloat
		}
	}
	d, ok := parseLongDouble(incr)
	if !ok {
		return "", ErrNotFloat
	}
	sum, ok := addLongDouble(v, d)
	if !ok {
		return "", ErrNaN
	}
	return formatLongDouble(sum), ""
}

// --- x87 long double emulation ---------------------------------------------------
//
// Redis keeps INCRBYFLOAT in C long double: on x86-64 the 80-bit extended
// format, a 64-bit significand with exponents down to 2^-16382 (normal) and
// 2^-16445 (subnormal). Values here are big.Floats of precision 64 rounded
// to nearest-even, with the exponent range checked by hand.

const (
	ldPrec   = 64
	ldMaxExp = 16384  // big.Float MantExp of the largest finite value
	ldMinExp = -16381 // MantExp of the smallest normal, 2^-16382
	ldSubBit = 16445  // the smallest subnormal is 2^-16445
	ldMaxLen = 5 * 1024
)

func ldIsSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r'
}

// parseLongDouble is Redis's string2ld: the whole string must be one strtold
// number (decimal, hexadecimal, inf or infinity; not NaN), with no leading
// space, shorter than 5 KiB, and neither overflow nor underflow to zero.
func parseLongDouble(s string) (*big.Float, bool) {
	if len(s) == 0 || len(s) >= ldMaxLen || ldIsSpace(s[0]) {
		return nil, false
	}
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var z *big.Float
	var ok bool
	switch {
	case strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity"):
		z, ok = new(big.Float).SetInf(false), true
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		z, ok = parseHexLD(s[2:])
	default:
		z, ok = parseDecLD(s)
	}
	if !ok {
		return nil, false
	}
	if neg {
		z.Neg(z)
	}
	return z, true
}

// ldScanDigits splits s into a mantissa's digits (without the point), the
// number of digits after the point, and the rest of s.
func ldScanDigits(s string, isDigit func(byte) bool) (digits string, frac int, rest string) {
	var b strings.Builder
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	b.WriteString(s[:i])
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		b.WriteString(s[i+1 : j])
		frac = j - i - 1
		i = j
	}
	return b.String(), frac, s[i:]
}

func ldIsDigit(ch byte) bool { return '0' <= ch && ch <= '9' }

func ldIsHex(ch byte) bool {
	return ldIsDigit(ch) || ('a' <= ch && ch <= 'f') || ('A' <= ch && ch <= 'F')
}

// ldParseExp parses an exponent "[+-]digits" that must be all of s, saturating
// far beyond any exponent that can matter.
func ldParseExp(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var e int64
	for i := 0; i < len(s); i++ {
		if !ldIsDigit(s[i]) {
			return 0, false
		}
		if e < 1e9 {
			e = e*10 + int64(s[i]-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

func parseDecLD(s string) (*big.Float, bool) {
	digits, frac, rest := ldScanDigits(s, ldIsDigit)
	if digits == "" {
		return nil, false
	}
	var exp int64
	if rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false
		}
		var ok bool
		if exp, ok = ldParseExp(rest[1:]); !ok {
			return nil, false
		}
	}
	exp -= int64(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return new(big.Float), true
	}
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	// value = digits × 10^exp lies in [10^(nd-1+exp), 10^(nd+exp)).
	nd := int64(len(digits))
	if nd-1+exp > 4932 { // ≥ 10^4933: beyond the largest long double
		return nil, false
	}
	if nd+exp < -4951 { // < 10^-4952: rounds to zero
		return nil, false
	}
	num, _ := new(big.Int).SetString(digits, 10)
	den := big.NewInt(1)
	ten := big.NewInt(10)
	if exp > 0 {
		num.Mul(num, new(big.Int).Exp(ten, big.NewInt(exp), nil))
	} else if exp < 0 {
		den.Exp(ten, big.NewInt(-exp), nil)
	}
	return roundLD(num, den)
}

func parseHexLD(s string) (*big.Float, bool) {
	digits, frac, rest := ldScanDigits(s, ldIsHex)
	if digits == "" {
		return nil, false
	}
	var exp int64
	if rest != "" {
		if rest[0] != 'p' && rest[0] != 'P' {
			return nil, false
		}
		var ok bool
		if exp, ok = ldParseExp(rest[1:]); !ok {
			return nil, false
		}
	}
	exp -= 4 * int64(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return new(big.Float), true
	}
	num, _ := new(big.Int).SetString(digits, 16)
	// value = num × 2^exp lies in [2^(bits-1+exp), 2^(bits+exp)).
	bits := int64(num.BitLen())
	if bits-1+exp >= ldMaxExp {
		return nil, false
	}
	if bits+exp < -ldSubBit-1 {
		return nil, false
	}
	den := big.NewInt(1)
	if exp > 0 {
		num.Lsh(num, uint(exp))
	} else if exp < 0 {
		den.Lsh(den, uint(-exp))
	}
	return roundLD(num, den)
}

// roundLD rounds num/den (num > 0, den > 0) to the nearest long double, as
// strtold does, reporting false where the result overflows or underflows to
// zero.
func roundLD(num, den *big.Int) (*big.Float, bool) {
	a := new(big.Float).SetInt(num) // exact
	b := new(big.Float).SetInt(den)
	z := new(big.Float).SetPrec(ldPrec).Quo(a, b)
	e := z.MantExp(nil)
	if e > ldMaxExp {
		return nil, false
	}
	if e > ldMinExp {
		return z, true
	}
	// Possibly subnormal: precision shrinks with the exponent. Find the exact
	// binade, x in [2^(xe-1), 2^xe), and round again from the exact value.
	d := num.BitLen() - den.BitLen()
	var lhs, rhs big.Int
	if d >= 0 {
		lhs.Set(num)
		rhs.Lsh(den, uint(d))
	} else {
		lhs.Lsh(num, uint(-d))
		rhs.Set(den)
	}
	xe := d
	if lhs.Cmp(&rhs) >= 0 {
		xe = d + 1
	}
	if xe > ldMinExp {
		return z, true
	}
	p := xe + ldSubBit
	switch {
	case p >= 1:
		z = new(big.Float).SetPrec(uint(p)).Quo(a, b)
		return z.SetPrec(ldPrec), true
	case p == 0:
		// In [2^-16446, 2^-16445): rounds up to the smallest subnormal,
		// except an exact half, which rounds to even (zero).
		if lhs.Cmp(&rhs) == 0 {
			return nil, false
		}
		z = new(big.Float).SetPrec(ldPrec).SetMantExp(big.NewFloat(0.5), -ldSubBit+1)
		return z, true
	}
	return nil, false
}

// addLongDouble is a + b in long double; false if the sum is not finite.
func addLongDouble(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	// Sums of two long doubles that land in the subnormal range are exact,
	// so rounding to 64 bits is all the format needs.
	z := new(big.Float).SetPrec(ldPrec).Add(a, b)
	if z.Sign() != 0 && z.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return z, true
}

// formatLongDouble is Redis's ld2string in human mode: "%.17Lf", trailing
// zeroPad and a bare point removed, "-0" written as "0".
func formatLongDouble(f *big.Float) string {
	if f.IsInf() {
		if f.Sign() > 0 {
			return "inf"
		}
		return "-inf"
	}
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
