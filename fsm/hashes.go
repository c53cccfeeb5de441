package fsm

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// Hash commands. A hash is packed in one string while small, a
// *btree.Map[string, string] beyond (packed.go); replies list fields in
// byte order, where Redis uses insertion order for small
// hashes and table order for large ones (it promises no order).

var hashCommands = []*Command{
	{Name: "hset", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hsetCmd},
	{Name: "hsetnx", Arity: 4, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hsetnxCmd},
	{Name: "hmset", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hmsetCmd},
	{Name: "hdel", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hdelCmd},
	{Name: "hincrby", Arity: 4, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hincrbyCmd},
	{Name: "hincrbyfloat", Arity: 4, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hincrbyfloatCmd},
	{Name: "hget", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hgetCmd},
	{Name: "hmget", Arity: -3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hmgetCmd},
	{Name: "hlen", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hlenCmd},
	{Name: "hexists", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hexistsCmd},
	{Name: "hstrlen", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hstrlenCmd},
	{Name: "hgetall", Arity: 2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hgetallCmd},
	{Name: "hkeys", Arity: 2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hkeysCmd},
	{Name: "hvals", Arity: 2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hvalsCmd},
	{Name: "hscan", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hscanCmd},
	{Name: "hrandfield", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHash, Group: "hash", Handler: hrandfieldCmd},
}

// Error texts of the hash commands, worded as Redis 7.0 words them.
const (
	errHashNotInt      = "ERR hash value is not an integer"
	errHashNotFloat    = "ERR hash value is not a float"
	errIncrNaNOrInf    = "ERR value is NaN or Infinity"
	errRangeLong       = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	errValueOutOfRange = "ERR value is out of range"
)

// maxRandCount bounds the reply of HRANDFIELD with a negative count, which
// repeats fields: Redis 7.0 would build a reply of any length (up to 2^63
// elements) and run out of memory; statehouse answers errValueOutOfRange
// instead, so one command cannot take a node down.
const maxRandCount = 1 << 20

// readHash returns the live hash at key, or nil if there is none. ok is
// false (and the WRONGTYPE error written) if key holds another kind.
func (c *Ctx) readHash(key []byte) (it *item, ok bool) {
	it = c.Get(key)
	if it != nil && it.kind != KindHash {
		c.Error(resp.ErrWrongType)
		return nil, false
	}
	return it, true
}

// writeHash returns a writable item for the hash at key: a clone with its
// own copy-on-write map if the key exists, a new empty hash if not. The
// caller stores it with c.Put (or c.Del if it ends up empty). ok is false
// (WRONGTYPE written) if key holds another kind.
func (c *Ctx) writeHash(key []byte) (cl *item, ok bool) {
	it, ok := c.readHash(key)
	if !ok {
		return nil, false
	}
	if it == nil {
		return &item{key: string(key), kind: KindHash}, true
	}
	cl = it.clone()
	cl.mutHash()
	return cl, true
}

// HSET key field value [field value ...] -> number of new fields.
func hsetCmd(c *Ctx, args [][]byte) {
	if len(args)%2 != 0 {
		c.WrongArity(args[0])
		return
	}
	cl, ok := c.writeHash(args[1])
	if !ok {
		return
	}
	added := cl.hashSet(hashPairs(args[2:])...)
	c.Put(cl)
	c.notify(NotifyHash, "hset", args[1])
	c.Int(int64(added))
}

// hashPairs copies a command's field and value arguments out of the
// request.
func hashPairs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

// HMSET key field value [field value ...] -> OK.
func hmsetCmd(c *Ctx, args [][]byte) {
	if len(args)%2 != 0 {
		c.WrongArity(args[0])
		return
	}
	cl, ok := c.writeHash(args[1])
	if !ok {
		return
	}
	cl.hashSet(hashPairs(args[2:])...)
	c.Put(cl)
	c.notify(NotifyHash, "hset", args[1])
	c.OK()
}

// HSETNX key field value -> 1 if set, 0 if the field existed.
func hsetnxCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it != nil {
		if _, exists := it.hashGet(string(args[2])); exists {
			c.Int(0)
			return
		}
	}
	cl, _ := c.writeHash(args[1])
	cl.hashSet(string(args[2]), string(args[3]))
	c.Put(cl)
	c.notify(NotifyHash, "hset", args[1])
	c.Int(1)
}

// HDEL key field [field ...] -> number of fields removed. The key goes
// when its last field does.
func hdelCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	var gone []string
	for _, f := range args[2:] {
		if _, exists := it.hashGet(string(f)); exists {
			gone = append(gone, string(f))
		}
	}
	var cl *item
	var n int64
	if len(gone) > 0 { // cloned only if something is really removed
		cl = it.clone()
		cl.mutHash()
		n = int64(cl.hashDel(gone...))
	}
	switch {
	case n == 0:
	case cl.hashLen() == 0:
		c.Del(args[1])
		c.notify(NotifyHash, "hdel", args[1])
		c.notify(NotifyGeneric, "del", args[1])
	default:
		c.Put(cl)
		c.notify(NotifyHash, "hdel", args[1])
	}
	c.Int(n)
}

// HINCRBY key field increment -> the new value.
func hincrbyCmd(c *Ctx, args [][]byte) {
	incr, ok := resp.ParseInt(args[3])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	cl, ok := c.writeHash(args[1])
	if !ok {
		return
	}
	var v int64
	if cur, exists := cl.hashGet(string(args[2])); exists {
		if v, ok = resp.ParseInt([]byte(cur)); !ok {
			c.Error(errHashNotInt)
			return
		}
	}
	if (incr < 0 && v < 0 && incr < math.MinInt64-v) || (incr > 0 && v > 0 && incr > math.MaxInt64-v) {
		c.Error(ErrOverflow)
		return
	}
	v += incr
	cl.hashSet(string(args[2]), strconv.FormatInt(v, 10))
	c.Put(cl)
	c.notify(NotifyHash, "hincrby", args[1])
	c.Int(v)
}

// HINCRBYFLOAT key field increment -> the new value, as a bulk string.
// Redis computes in x87 long double and prints with "%.17Lf"; so do we
// (see parseLongDouble in strings.go), so that 0.1 + 0.2 answers 0.3 as Redis does.
func hincrbyfloatCmd(c *Ctx, args [][]byte) {
	incr, ok := parseLongDouble(string(args[3]))
	if !ok {
		c.Error(resp.ErrNotFloat)
		return
	}
	if incr.IsInf() {
		c.Error(errIncrNaNOrInf)
		return
	}
	cl, ok := c.writeHash(args[1])
	if !ok {
		return
	}
	cur := new(big.Float).SetPrec(ldPrec)
	if s, exists := cl.hashGet(string(args[2])); exists {
		if cur, ok = parseLongDouble(s); !ok {
			c.Error(errHashNotFloat)
			return
		}
	}
	sum, ok := addLongDouble(cur, incr)
	if !ok {
		c.Error(ErrNaN)
		return
	}
	s := formatLongDouble(sum)
	cl.hashSet(string(args[2]), s)
	c.Put(cl)
	c.notify(NotifyHash, "hincrbyfloat", args[1])
	c.BulkString(s)
}

// HGET key field -> the value or null.
func hgetCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it != nil {
		if v, exists := it.hashGet(string(args[2])); exists {
			c.BulkString(v)
			return
		}
	}
	c.Null()
}

// HMGET key field [field ...] -> one value or null per field.
func hmgetCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	c.Array(len(args) - 2)
	for _, f := range args[2:] {
		if it != nil {
			if v, exists := it.hashGet(string(f)); exists {
				c.BulkString(v)
				continue
			}
		}
		c.Null()
	}
}

// HLEN key -> number of fields.
func hlenCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	c.Int(int64(it.hashLen()))
}

// HEXISTS key field -> 1 or 0.
func hexistsCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it != nil {
		if _, exists := it.hashGet(string(args[2])); exists {
			c.Int(1)
			return
		}
	}
	c.Int(0)
}

// HSTRLEN key field -> length of the value, 0 if none.
func hstrlenCmd(c *Ctx, args [][]byte) {
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it != nil {
		if v, exists := it.hashGet(string(args[2])); exists {
			c.Int(int64(len(v)))
			return
		}
	}
	c.Int(0)
}

func hgetallCmd(c *Ctx, args [][]byte) { hashDump(c, args[1], true, true) }
func hkeysCmd(c *Ctx, args [][]byte)   { hashDump(c, args[1], true, false) }
func hvalsCmd(c *Ctx, args [][]byte)   { hashDump(c, args[1], false, true) }

// hashDump replies with the fields and/or values of the hash at key.
func hashDump(c *Ctx, key []byte, fields, values bool) {
	it, ok := c.readHash(key)
	if !ok {
		return
	}
	if it == nil {
		c.Array(0)
		return
	}
	n := it.hashLen()
	if fields && values {
		n *= 2
	}
	c.Array(n)
	it.hashScan(func(k, v string) bool {
		if fields {
			c.BulkString(k)
		}
		if values {
			c.BulkString(v)
		}
		return true
	})
}

// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES] -> the next
// cursor and a page of fields and values (fields only with NOVALUES, the
// Redis 7.4 option). A hash of up to smallScan fields comes back whole with
// cursor 0, as Redis answers for a small (listpack) hash; a larger one
// page by page (see scanPage). The cursor is checked first, then the key,
// then the options, in Redis's order.
func hscanCmd(c *Ctx, args [][]byte) {
	if !elemScanCursorOK(args[2]) {
		c.Error(ErrCursor)
		return
	}
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it == nil {
		elemScanReply(c, "0", 0)
		return
	}
	o, ok := elemScanOptions(c, args[3:], true)
	if !ok {
		return
	}
	cur, _ := parseCursor(args[2])
	if it.hashLen() <= smallScan {
		cur = 0
	}
	var hits []string
	next := scanPage(cur, it.hashLen(), o.count, func(pivot string, iter func(string) bool) {
		it.hashAscend(pivot, func(k, v string) bool {
			if !iter(k) {
				return false
			}
			if o.pat == nil || Match(o.pat, []byte(k)) {
				hits = append(hits, k)
				if !o.noValues {
					hits = append(hits, v)
				}
			}
			return true
		})
	})
	elemScanReply(c, strconv.FormatUint(next, 10), len(hits))
	for _, h := range hits {
		c.BulkString(h)
	}
}

// HRANDFIELD key [count [WITHVALUES]].
//
// Without count: one random field, or null. With a positive count: up to
// count distinct fields (the whole hash if count >= its length), in tree
// order. With a negative count: exactly -count fields picked independently,
// so they may repeat, in the order picked. Randomness comes from c.Rand
// only, so a read is reproducible given its seed.
func hrandfieldCmd(c *Ctx, args [][]byte) {
	if len(args) == 2 {
		it, ok := c.readHash(args[1])
		if !ok {
			return
		}
		if it == nil {
			c.Null()
			return
		}
		r := newElemRand(c.Rand)
		k, _ := it.hashAt(r.intn(it.hashLen()))
		c.BulkString(k)
		return
	}
	l, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if l == math.MinInt64 {
		c.Error(errRangeLong)
		return
	}
	withValues := false
	switch {
	case len(args) > 4 || (len(args) == 4 && !resp.EqualFold(args[3], "withvalues")):
		c.Error(resp.ErrSyntax)
		return
	case len(args) == 4:
		withValues = true
		if l < -math.MaxInt64/2 || l > math.MaxInt64/2 {
			c.Error(errValueOutOfRange)
			return
		}
	}
	it, ok := c.readHash(args[1])
	if !ok {
		return
	}
	if it == nil || l == 0 {
		c.Array(0)
		return
	}
	size := it.hashLen()
	per := 1
	if withValues {
		per = 2
	}
	at := it.hashIndexed()
	emit := func(i int) {
		k, v := at(i)
		c.BulkString(k)
		if withValues {
			c.BulkString(v)
		}
	}
	r := newElemRand(c.Rand)
	if l < 0 {
		if l < -maxRandCount {
			c.Error(errValueOutOfRange)
			return
		}
		c.Array(int(-l) * per)
		for range -l {
			emit(r.intn(size))
		}
		return
	}
	if l >= int64(size) {
		c.Array(size * per)
		it.hashScan(func(k, v string) bool {
			c.BulkString(k)
			if withValues {
				c.BulkString(v)
			}
			return true
		})
		return
	}
	idx := r.sample(size, int(l))
	c.Array(len(idx) * per)
	for _, i := range idx {
		emit(i)
	}
}

// --- shared by HSCAN and SSCAN ---------------------------------------------

// elemScanCursorOK reports whether cursor passes Redis 7.0's check
// (parseScanCursorOrReply: strtoul over the C string, base 10): no leading
// space, an optional sign, digits up to the end or a NUL byte, no overflow
// of 64 bits. An empty cursor is 0, as in Redis.
func elemScanCursorOK(cur []byte) bool {
	for i, ch := range cur { // C string: stop at NUL
		if ch == 0 {
			cur = cur[:i]
			break
		}
	}
	if len(cur) == 0 {
		return true
	}
	switch cur[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return false
	case '+', '-':
		cur = cur[1:]
	}
	if len(cur) == 0 {
		return false
	}
	var v uint64
	for _, ch := range cur {
		if ch < '0' || ch > '9' {
			return false
		}
		hi, lo := bits.Mul64(v, 10)
		lo, carry := bits.Add64(lo, uint64(ch-'0'), 0)
		if hi != 0 || carry != 0 {
			return false
		}
		v = lo
	}
	return true
}

// scanOpts are the options of HSCAN and SSCAN.
type scanOpts struct {
	pat      []byte // nil: no MATCH, or "*"
	count    int    // COUNT, 10 by default
	noValues bool   // HSCAN's NOVALUES
}

// elemScanOptions parses [MATCH pattern] [COUNT count] (and NOVALUES for
// HSCAN, as Redis 7.4 does) as Redis's scanGenericCommand does: the last
// MATCH wins; COUNT must be >= 1. On error it has written the reply.
func elemScanOptions(c *Ctx, opts [][]byte, hash bool) (o scanOpts, ok bool) {
	o.count = 10
	for i := 0; i < len(opts); {
		more := len(opts) - i
		switch {
		case resp.EqualFold(opts[i], "count") && more >= 2:
			n, ok := resp.ParseInt(opts[i+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return o, false
			}
			if n < 1 {
				c.Error(resp.ErrSyntax)
				return o, false
			}
			o.count = int(min(n, math.MaxInt32))
			i += 2
		case resp.EqualFold(opts[i], "match") && more >= 2:
			o.pat = opts[i+1]
			if len(o.pat) == 1 && o.pat[0] == '*' {
				o.pat = nil
			}
			i += 2
		case hash && resp.EqualFold(opts[i], "novalues"):
			o.noValues = true
			i++
		default:
			c.Error(resp.ErrSyntax)
			return o, false
		}
	}
	return o, true
}

// elemScanReply writes the head of a scan reply: the cursor and an array
// of n elements, which the caller writes next.
func elemScanReply(c *Ctx, cursor string, n int) {
	c.Array(2)
	c.BulkString(cursor)
	c.Array(n)
}

// smallScan is the size up to which HSCAN and SSCAN answer everything at
// once with cursor 0, as Redis does for its small encodings (a listpack
// hash holds up to 128 fields by default).
const smallScan = 128

// scanPage walks one page of a collection in byte order, from the cursor,
// through ascend (the collection's Ascend from a pivot, calling iter for
// each member in order until it returns false), and returns the next
// cursor, 0 when the walk is done.
//
// A cursor is 1<<56 | the first 7 bytes of the next member (zero-padded):
// the walk resumes at the first member whose 7-byte prefix is at least
// that. A page takes count members, then any that share the last one's
// prefix, so every cursor moves past the one before. So a cursor stays
// valid across writes, every member present for the whole scan is
// returned at least once, and one may come back twice only if a page
// ends amid members sharing a 7-byte prefix with one written meanwhile.
func scanPage(cur uint64, size, count int, ascend func(pivot string, iter func(m string) bool)) uint64 {
	pivot := ""
	if cur != 0 {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], cur)
		pivot = strings.TrimRight(string(b[1:]), "\x00")
	}
	if size <= smallScan {
		count = math.MaxInt
	}
	n := 0
	var last, next uint64
	ascend(pivot, func(m string) bool {
		p := scanCursorOf(m)
		if n >= count && p != last {
			next = p
			return false
		}
		n++
		last = p
		return true
	})
	return next
}

// scanCursorOf is the cursor that resumes a scan at member m.
func scanCursorOf(m string) uint64 {
	var b [8]byte
	b[0] = 1
	copy(b[1:], m)
	return binary.BigEndian.Uint64(b[:])
}

// --- deterministic randomness for reads --------------------------------------

// elemRand is splitmix64 seeded from the caller's Ctx.Rand: reads that
// pick at random are a pure function of their seed.
type elemRand struct{ s uint64 }

func newElemRand(seed uint64) *elemRand { return &elemRand{s: seed} }

func (r *elemRand) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform int in [0, n), n > 0 (Lemire's method, unbiased).
func (r *elemRand) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int(hi)
}

// sample returns k distinct indices in [0, n), sorted (Floyd's algorithm;
// the map is only probed, never iterated).
func (r *elemRand) sample(n, k int) []int {
	seen := make(map[int]struct{}, k)
	out := make([]int, 0, k)
	for j := n - k; j < n; j++ {
		t := r.intn(j + 1)
		if _, dup := seen[t]; dup {
			t = j
		}
		seen[t] = struct{}{}
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}
