package fsm

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/btree"
)

// A sorted set is two copy-on-write B-trees over the same members:
//
//   - byScore, ordered by (score, member bytes) as Redis's skiplist is.
//     tidwall/btree keeps a count in each node, so GetAt(i) is O(log n):
//     ranks and range boundaries are binary searches over GetAt
//     (O(log² n)), and a range is read by Ascend/Descend from its first
//     element.
//   - byMember, ordered by (63-bit hash of the member, member): the lookup
//     of a member's score, and ZSCAN's cursor (the hash of the next member
//     to return, as SCAN's cursor over keys), which stays valid while the
//     set changes between calls.
//
// Both are copied in O(1) (Copy) when a write clones the item, so stored
// values stay immutable and snapshots stream while sets change.
//
// big mirrors Redis's encoding, which shows in two replies: a set Redis
// keeps as a listpack (at most 128 members of at most 64 bytes, until it
// outgrows that once) stores a score of -0 as 0, and ZSCAN returns it
// whole. big is Redis's skiplist: set once the set outgrows the listpack,
// never cleared, as in Redis 7.0.
type zset struct {
	byScore  *btree.BTreeG[zent]
	byMember *btree.BTreeG[zmem]
	big      bool
}

type zent struct {
	score  float64
	member string
}

type zmem struct {
	h      uint64
	member string
	score  float64
}

func zentLess(a, b zent) bool {
	if a.score != b.score {
		return a.score < b.score
	}
	return a.member < b.member
}

func zmemLess(a, b zmem) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.member < b.member
}

func memberHash(m string) uint64 { return xxhash.Sum64String(m) >> 1 }

func newZset() *zset {
	return &zset{
		byScore:  btree.NewBTreeGOptions(zentLess, treeOpts),
		byMember: btree.NewBTreeGOptions(zmemLess, treeOpts),
	}
}

// copy is O(1): both trees are copy-on-write.
func (z *zset) copy() *zset {
	return &zset{byScore: z.byScore.Copy(), byMember: z.byMember.Copy(), big: z.big}
}

func (z *zset) len() int { return z.byScore.Len() }

func (z *zset) score(m string) (float64, bool) {
	e, ok := z.byMember.Get(zmem{h: memberHash(m), member: m})
	return e.score, ok
}

// set stores member m with score s, replacing its old score. An equal
// score (0 and -0 included) leaves the element as it was, as Redis's
// zsetAdd does.
func (z *zset) set(m string, s float64) { z.put(m, s, false) }

// put is set; exact replaces a -0 by a 0 (and back), as Redis's ZUNION
// does writing its accumulator, where ZADD's comparison finds them equal
// and keeps the old one.
func (z *zset) put(m string, s float64, exact bool) {
	k := zmem{h: memberHash(m), member: m, score: s}
	if prev, ok := z.byMember.Get(k); ok {
		if prev.score == s && (!exact || math.Signbit(prev.score) == math.Signbit(s)) {
			return
		}
		z.byScore.Delete(zent{prev.score, m})
	} else if !z.big && (z.len()+1 > zsetMaxListpack || len(m) > zsetMaxListVal) {
		z.big = true
	}
	if s == 0 && !z.big {
		s = 0 // a listpack keeps -0 as 0
		k.score = 0
	}
	z.byMember.Set(k)
	z.byScore.Set(zent{s, m})
}

// settle gives a set built by ZUNIONSTORE and the other STORE commands
// the encoding Redis converts it to: a listpack if it is small enough.
func (z *zset) settle() {
	z.big = z.len() > zsetMaxListpack
	if !z.big {
		z.byScore.Scan(func(e zent) bool {
			z.big = len(e.member) > zsetMaxListVal
			return !z.big
		})
	}
	if z.big {
		return
	}
	var negZero []string
	z.byScore.Scan(func(e zent) bool {
		if e.score == 0 && math.Signbit(e.score) {
			negZero = append(negZero, e.member)
		}
		return true
	})
	for _, m := range negZero {
		z.remove(m)
		z.set(m, 0)
	}
}

// remove deletes m and reports whether it was there.
func (z *zset) remove(m string) bool {
	prev, ok := z.byMember.Delete(zmem{h: memberHash(m), member: m})
	if ok {
		z.byScore.Delete(zent{prev.score, m})
	}
	return ok
}

func (z *zset) at(i int) zent {
	e, _ := z.byScore.GetAt(i)
	return e
}

// search returns the smallest index whose element satisfies pred (pred is
// false then true along the order), or len.
func (z *zset) search(pred func(e zent) bool) int {
	return sort.Search(z.len(), func(i int) bool { return pred(z.at(i)) })
}

// rank is the 0-based position of m in score order.
func (z *zset) rank(m string) (int, bool) {
	s, ok := z.score(m)
	if !ok {
		return 0, false
	}
	k := zent{s, m}
	return z.search(func(e zent) bool { return !zentLess(e, k) }), true
}

// scan calls fn for the elements at indices [from, to) in order, or in
// reverse order from to-1 down to from.
func (z *zset) scan(from, to int, rev bool, fn func(e zent) bool) {
	if from >= to {
		return
	}
	n := to - from
	if !rev {
		z.byScore.Ascend(z.at(from), func(e zent) bool {
			n--
			return fn(e) && n > 0
		})
		return
	}
	z.byScore.Descend(z.at(to-1), func(e zent) bool {
		n--
		return fn(e) && n > 0
	})
}

// --- ranges ---------------------------------------------------------------

// scoreRange is Redis's zrangespec.
type scoreRange struct {
	min, max     float64
	minex, maxex bool
}

func (r *scoreRange) gteMin(s float64) bool {
	if r.minex {
		return s > r.min
	}
	return s >= r.min
}

func (r *scoreRange) lteMax(s float64) bool {
	if r.maxex {
		return s < r.max
	}
	return s <= r.max
}

// indices is the index range [from, to) of the elements in r.
func (z *zset) scoreIndices(r *scoreRange) (int, int) {
	from := z.search(func(e zent) bool { return r.gteMin(e.score) })
	to := z.search(func(e zent) bool { return !r.lteMax(e.score) })
	return from, max(from, to)
}

// lexRange is Redis's zlexrangespec; inf is -1 for "-" and +1 for "+".
type lexRange struct {
	min, max       string
	minInf, maxInf int
	minex, maxex   bool
}

func (r *lexRange) gteMin(m string) bool {
	switch r.minInf {
	case -1:
		return true
	case 1:
		return false
	}
	if r.minex {
		return m > r.min
	}
	return m >= r.min
}

func (r *lexRange) lteMax(m string) bool {
	switch r.maxInf {
	case -1:
		return false
	case 1:
		return true
	}
	if r.maxex {
		return m < r.max
	}
	return m <= r.max
}

// lexIndices is the index range [from, to) of the elements in r, for a set
// whose members all have the same score (otherwise, as in Redis, the
// answer is unspecified).
func (z *zset) lexIndices(r *lexRange) (int, int) {
	from := z.search(func(e zent) bool { return r.gteMin(e.member) })
	to := z.search(func(e zent) bool { return !r.lteMax(e.member) })
	return from, max(from, to)
}

// parseRangeScore is one bound of Redis's zslParseRange: "(" for an
// exclusive bound, then what C's strtod takes whole (leading space,
// overflow to ±inf and an empty string, read as 0, included; NaN not).
func parseRangeScore(b []byte) (v float64, ex, ok bool) {
	s := cString(b)
	if len(s) > 0 && s[0] == '(' {
		ex, s = true, s[1:]
	}
	if len(s) == 0 {
		return 0, ex, true
	}
	i := 0
	for i < len(s) && ldIsSpace(s[i]) {
		i++
	}
	if i == len(s) {
		return 0, ex, false
	}
	v, ok = strtod(string(s[i:]), true)
	return v, ex, ok
}

// parseScore is Redis's getDoubleFromObject: the whole argument one strtod
// number, no leading space, neither overflow nor underflow to zero, not
// NaN.
func parseScore(b []byte) (float64, bool) {
	if len(b) == 0 || ldIsSpace(b[0]) {
		return 0, false
	}
	return strtod(string(b), false)
}

// strtod parses s whole as glibc's strtod would: decimal or hexadecimal
// (its exponent optional), inf, infinity; not nan. A value out of range
// is ±inf (or the nearest denormal/zero) when lenient, an error otherwise
// (Redis's ERANGE check); an underflow to zero is an error unless lenient.
func strtod(s string, lenient bool) (float64, bool) {
	if s == "" || strings.ContainsAny(s, "_ \t\n\v\f\r") {
		return 0, false
	}
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	lower := strings.ToLower(body)
	switch {
	case lower == "inf" || lower == "infinity":
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case strings.HasPrefix(lower, "nan") || strings.HasPrefix(lower, "in"):
		return 0, false
	case strings.HasPrefix(lower, "0x"):
		if !strings.Contains(lower, "p") {
			s += "p0"
		}
	default:
		for _, ch := range lower { // Go takes no more than C does
			if !(ch >= '0' && ch <= '9' || ch == '.' || ch == 'e' || ch == '+' || ch == '-') {
				return 0, false
			}
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, isNum := err.(*strconv.NumError); isNum && ne.Err == strconv.ErrRange && lenient {
			return v, true
		}
		return 0, false
	}
	if math.IsNaN(v) {
		return 0, false
	}
	if v == 0 && !lenient && hasNonZeroMantissa(lower) {
		return 0, false // underflow: ERANGE with a zero result
	}
	return v, true
}

// hasNonZeroMantissa reports whether a number's digits before its
// exponent are not all zero.
func hasNonZeroMantissa(s string) bool {
	hex := strings.HasPrefix(s, "0x")
	if hex {
		s = s[2:]
	}
	for _, ch := range s {
		switch {
		case ch == 'p' || (!hex && ch == 'e'):
			return false
		case ch >= '1' && ch <= '9', hex && ch >= 'a' && ch <= 'f':
			return true
		}
	}
	return false
}

// parseLexItem is Redis's zslParseLexRangeItem.
func parseLexItem(b []byte) (s string, inf int, ex, ok bool) {
	if len(b) == 0 {
		return "", 0, false, false
	}
	switch b[0] {
	case '+':
		return "", 1, true, len(b) == 1 || b[1] == 0
	case '-':
		return "", -1, true, len(b) == 1 || b[1] == 0
	case '(':
		return string(b[1:]), 0, true, true
	case '[':
		return string(b[1:]), 0, false, true
	}
	return "", 0, false, false
}

func parseLexRange(minb, maxb []byte) (r lexRange, ok bool) {
	var ok1, ok2 bool
	r.min, r.minInf, r.minex, ok1 = parseLexItem(minb)
	r.max, r.maxInf, r.maxex, ok2 = parseLexItem(maxb)
	return r, ok1 && ok2
}

func parseScoreRange(minb, maxb []byte) (r scoreRange, ok bool) {
	var ok1, ok2 bool
	r.min, r.minex, ok1 = parseRangeScore(minb)
	r.max, r.maxex, ok2 = parseRangeScore(maxb)
	return r, ok1 && ok2
}

// formatScore is Redis 7.0's addReplyDouble in RESP2: "%.17g", inf, -inf.
func formatScore(s float64) string {
	switch {
	case math.IsInf(s, 1):
		return "inf"
	case math.IsInf(s, -1):
		return "-inf"
	}
	return strconv.FormatFloat(s, 'g', 17, 64)
}
