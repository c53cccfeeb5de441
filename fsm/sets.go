package fsm

import (
	"math"
	"strconv"

	"github.com/statehouse/statehouse/internal/resp"
	"github.com/tidwall/btree"
)

// Set commands. A set is packed in one string while small, a
// *btree.Set[string] beyond (packed.go); replies list members in
// tree (byte) order, where Redis 7.0 uses numeric order for small integer
// sets and table order otherwise (it promises no order).

var setCommands = []*Command{
	{Name: "sadd", Arity: -3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: saddCmd},
	{Name: "srem", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: sremCmd},
	{Name: "smembers", Arity: 2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: smembersCmd},
	{Name: "sismember", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: sismemberCmd},
	{Name: "smismember", Arity: -3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: smismemberCmd},
	{Name: "scard", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: scardCmd},
	{Name: "sscan", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: sscanCmd},
	{Name: "sinter", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sinterCmd},
	{Name: "sunion", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sunionCmd},
	{Name: "sdiff", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sdiffCmd},
	{Name: "sinterstore", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sinterstoreCmd},
	{Name: "sunionstore", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sunionstoreCmd},
	{Name: "sdiffstore", Arity: -3, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatSet, Group: "set", Handler: sdiffstoreCmd},
	{Name: "sintercard", Arity: -3, Flags: FlagReadOnly, Categories: CatSet, Group: "set", KeysFunc: sintercardKeys, Handler: sintercardCmd},
	{Name: "smove", Arity: 4, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatSet, Group: "set", Handler: smoveCmd},
	{Name: "spop", Arity: -2, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: spopCmd},
	{Name: "srandmember", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet, Group: "set", Handler: srandmemberCmd},
}

// readSet returns the live set at key, or nil if there is none. ok is
// false (and the WRONGTYPE error written) if key holds another kind.
func (c *Ctx) readSet(key []byte) (it *item, ok bool) {
	it = c.Get(key)
	if it != nil && it.kind != KindSet {
		c.Error(resp.ErrWrongType)
		return nil, false
	}
	return it, true
}

// SADD key member [member ...] -> number of members added. A SADD that
// adds nothing leaves the key (and its WATCH revision) alone, as in Redis.
func saddCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	var fresh []string
	for _, m := range args[2:] {
		if it == nil || !it.members().Contains(string(m)) {
			fresh = append(fresh, string(m))
		}
	}
	var n int64
	if len(fresh) > 0 { // an existing set is cloned only if a member is new
		cl := &item{key: string(args[1]), kind: KindSet}
		if it != nil {
			cl = it.clone()
			cl.mutSet()
		}
		n = int64(cl.setAdd(fresh...))
		c.Put(cl)
		c.notify(NotifySet, "sadd", args[1])
	}
	c.Int(n)
}

// SREM key member [member ...] -> number of members removed. The key goes
// when its last member does.
func sremCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	var gone []string
	for _, m := range args[2:] {
		if it.members().Contains(string(m)) {
			gone = append(gone, string(m))
		}
	}
	var cl *item
	var n int64
	if len(gone) > 0 { // cloned only if something is really removed
		cl = it.clone()
		cl.mutSet()
		n = int64(cl.setDel(gone...))
	}
	switch {
	case n == 0:
	case cl.members().Len() == 0:
		c.Del(args[1])
		c.notify(NotifySet, "srem", args[1])
		c.notify(NotifyGeneric, "del", args[1])
	default:
		c.Put(cl)
		c.notify(NotifySet, "srem", args[1])
	}
	c.Int(n)
}

// SMEMBERS key -> every member.
func smembersCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Array(0)
		return
	}
	c.Array(it.members().Len())
	it.members().Scan(func(m string) bool {
		c.BulkString(m)
		return true
	})
}

// SISMEMBER key member -> 1 or 0.
func sismemberCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it != nil && it.members().Contains(string(args[2])) {
		c.Int(1)
		return
	}
	c.Int(0)
}

// SMISMEMBER key member [member ...] -> 1 or 0 per member.
func smismemberCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	c.Array(len(args) - 2)
	for _, m := range args[2:] {
		if it != nil && it.members().Contains(string(m)) {
			c.Int(1)
		} else {
			c.Int(0)
		}
	}
}

// SCARD key -> number of members.
func scardCmd(c *Ctx, args [][]byte) {
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	c.Int(int64(it.members().Len()))
}

// SSCAN key cursor [MATCH pattern] [COUNT count] -> the next cursor and a
// page of members: as HSCAN, everything at once for a set of up to
// smallScan members, page by page past that.
func sscanCmd(c *Ctx, args [][]byte) {
	if !elemScanCursorOK(args[2]) {
		c.Error(ErrCursor)
		return
	}
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil {
		elemScanReply(c, "0", 0)
		return
	}
	o, ok := elemScanOptions(c, args[3:], false)
	if !ok {
		return
	}
	cur, _ := parseCursor(args[2])
	if it.members().Len() <= smallScan {
		cur = 0
	}
	var hits []string
	next := scanPage(cur, it.members().Len(), o.count, func(pivot string, iter func(string) bool) {
		it.members().Ascend(pivot, func(m string) bool {
			if !iter(m) {
				return false
			}
			if o.pat == nil || Match(o.pat, []byte(m)) {
				hits = append(hits, m)
			}
			return true
		})
	})
	elemScanReply(c, strconv.FormatUint(next, 10), len(hits))
	for _, h := range hits {
		c.BulkString(h)
	}
}

// --- set algebra ----------------------------------------------------------------

const (
	errNumkeysArgs = "ERR Number of keys can't be greater than number of args"
	errLimitNeg    = "ERR LIMIT can't be negative"
)

// readSets looks every key up, as Redis's set algebra does: all types are
// checked (a missing key is an empty set, nil here) before anything else.
func (c *Ctx) readSets(keys [][]byte) ([]setReader, bool) {
	sets := make([]setReader, len(keys))
	for i, k := range keys {
		it, ok := c.readSet(k)
		if !ok {
			return nil, false
		}
		if it != nil {
			sets[i] = it.members()
		}
	}
	return sets, true
}

// interSets is the intersection of sets (nil if any is missing or empty),
// walking the smallest; limit > 0 stops once it has that many members.
func interSets(sets []setReader, limit int) *btree.Set[string] {
	out := new(btree.Set[string])
	small := -1
	for i, s := range sets {
		if s == nil || s.Len() == 0 {
			return out
		}
		if small < 0 || s.Len() < sets[small].Len() {
			small = i
		}
	}
	sets[small].Scan(func(m string) bool {
		for i, s := range sets {
			if i != small && !s.Contains(m) {
				return true
			}
		}
		out.Insert(m)
		return limit == 0 || out.Len() < limit
	})
	return out
}

// unionSets and diffSets are SUNION and SDIFF of sets (nil = empty).
func unionSets(sets []setReader) *btree.Set[string] {
	var out *btree.Set[string]
	for _, s := range sets {
		switch {
		case s == nil:
		case out == nil:
			out = toTree(s)
		default:
			s.Scan(func(m string) bool { out.Insert(m); return true })
		}
	}
	if out == nil {
		out = new(btree.Set[string])
	}
	return out
}

func diffSets(sets []setReader) *btree.Set[string] {
	if sets[0] == nil {
		return new(btree.Set[string])
	}
	out := toTree(sets[0])
	for _, s := range sets[1:] {
		if s == nil {
			continue
		}
		if s == sets[0] { // the same set (or equal packed ones): nothing is left
			return new(btree.Set[string])
		}
		s.Scan(func(m string) bool { out.Delete(m); return true })
	}
	return out
}

func setReply(c *Ctx, s setReader) {
	c.Array(s.Len())
	s.Scan(func(m string) bool {
		c.BulkString(m)
		return true
	})
}

func sinterCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[1:]); ok {
		setReply(c, interSets(sets, 0))
	}
}

func sunionCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[1:]); ok {
		setReply(c, unionSets(sets))
	}
}

func sdiffCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[1:]); ok {
		setReply(c, diffSets(sets))
	}
}

// storeSet is the end of SINTERSTORE, SUNIONSTORE and SDIFFSTORE: a
// non-empty result replaces dest (whatever it held, without TTL), an
// empty one deletes it.
func storeSet(c *Ctx, dest []byte, s *btree.Set[string], event string) {
	if s.Len() == 0 {
		c.Int(0)
		if c.Del(dest) {
			c.notify(NotifyGeneric, "del", dest)
		}
		return
	}
	c.Put(setItemOf(string(dest), s))
	c.Int(int64(s.Len()))
	c.notify(NotifySet, event, dest)
}

func sinterstoreCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[2:]); ok {
		storeSet(c, args[1], interSets(sets, 0), "sinterstore")
	}
}

func sunionstoreCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[2:]); ok {
		storeSet(c, args[1], unionSets(sets), "sunionstore")
	}
}

func sdiffstoreCmd(c *Ctx, args [][]byte) {
	if sets, ok := c.readSets(args[2:]); ok {
		storeSet(c, args[1], diffSets(sets), "sdiffstore")
	}
}

// sintercardKeys finds SINTERCARD's keys from its numkeys.
func sintercardKeys(args [][]byte) [][]byte {
	if len(args) < 2 {
		return nil
	}
	n, ok := resp.ParseInt(args[1])
	if !ok || n < 1 || n > int64(len(args)-2) {
		return nil
	}
	return args[2 : 2+n]
}

// SINTERCARD numkeys key [key ...] [LIMIT limit] -> size of the
// intersection, at most limit (0: no limit).
func sintercardCmd(c *Ctx, args [][]byte) {
	n, ok := resp.ParseInt(args[1])
	if !ok || n < 1 {
		c.Error(errNumkeys)
		return
	}
	if n > int64(len(args)-2) {
		c.Error(errNumkeysArgs)
		return
	}
	limit := int64(0)
	for j := 2 + int(n); j < len(args); j++ {
		if !resp.EqualFold(args[j], "limit") || j == len(args)-1 {
			c.Error(resp.ErrSyntax)
			return
		}
		j++
		if limit, ok = resp.ParseInt(args[j]); !ok || limit < 0 {
			c.Error(errLimitNeg)
			return
		}
	}
	sets, ok := c.readSets(args[2 : 2+n])
	if !ok {
		return
	}
	c.Int(int64(interSets(sets, int(min(limit, math.MaxInt32))).Len()))
}

// SMOVE source destination member -> 1 if moved (or already a member of
// source when source is destination), 0 if not a member of source.
func smoveCmd(c *Ctx, args [][]byte) {
	src, dst, m := args[1], args[2], string(args[3])
	sit := c.Get(src)
	dit := c.Get(dst)
	if sit == nil {
		c.Int(0)
		return
	}
	if sit.kind != KindSet || (dit != nil && dit.kind != KindSet) {
		c.Error(resp.ErrWrongType)
		return
	}
	if string(src) == string(dst) {
		if sit.members().Contains(m) {
			c.Int(1)
		} else {
			c.Int(0)
		}
		return
	}
	if !sit.members().Contains(m) {
		c.Int(0)
		return
	}
	cl := sit.clone()
	cl.mutSet()
	cl.setDel(m)
	c.notify(NotifySet, "srem", src)
	if cl.members().Len() == 0 {
		c.Del(src)
		c.notify(NotifyGeneric, "del", src)
	} else {
		c.Put(cl)
	}
	var dcl *item
	if dit == nil {
		dcl = &item{key: string(dst), kind: KindSet}
	} else if !dit.members().Contains(m) {
		dcl = dit.clone()
		dcl.mutSet()
	}
	if dcl != nil {
		dcl.setAdd(m)
		c.Put(dcl)
		c.notify(NotifySet, "sadd", dst)
	}
	c.Int(1)
}

// writeRand is the randomness of a write (SPOP): a pure function of the
// entry's log index, the key and the set's size, so every replica and
// every replay pops the same members, and two SPOPs of one entry differ.
func writeRand(c *Ctx, key []byte, size int) *elemRand {
	return newElemRand(c.Rev*0x9e3779b97f4a7c15 ^ keyHash(string(key)) ^ uint64(size)<<32)
}

// SPOP key [count] -> a random member (or count distinct ones), removed.
func spopCmd(c *Ctx, args [][]byte) {
	if len(args) > 3 {
		c.Error(resp.ErrSyntax)
		return
	}
	count := int64(-1)
	if len(args) == 3 {
		n, ok := resp.ParseInt(args[2])
		if !ok || n < 0 {
			c.Error(errPopCount)
			return
		}
		count = n
	}
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil {
		if count < 0 {
			c.Null()
		} else {
			c.Array(0)
		}
		return
	}
	if count == 0 {
		c.Array(0)
		return
	}
	size := it.members().Len()
	c.notify(NotifySet, "spop", args[1])
	if count >= int64(size) {
		setReply(c, it.members())
		c.Del(args[1])
		c.notify(NotifyGeneric, "del", args[1])
		return
	}
	r := writeRand(c, args[1], size)
	var idx []int
	if count < 0 {
		idx = []int{r.intn(size)}
	} else {
		idx = r.sample(size, int(count))
	}
	popped := make([]string, len(idx))
	at := indexed(it.members())
	for i, j := range idx {
		popped[i] = at(j)
	}
	cl := it.clone()
	cl.mutSet()
	cl.setDel(popped...)
	if cl.members().Len() == 0 {
		c.Del(args[1])
		c.notify(NotifyGeneric, "del", args[1])
	} else {
		c.Put(cl)
	}
	if count < 0 {
		c.BulkString(popped[0])
		return
	}
	c.Array(len(popped))
	for _, m := range popped {
		c.BulkString(m)
	}
}

// SRANDMEMBER key [count], as HRANDFIELD: one member or null; up to count
// distinct members; with a negative count, -count members that may repeat
// (at most maxRandCount). Randomness from c.Rand only.
func srandmemberCmd(c *Ctx, args [][]byte) {
	if len(args) > 3 {
		c.Error(resp.ErrSyntax)
		return
	}
	if len(args) == 2 {
		it, ok := c.readSet(args[1])
		if !ok {
			return
		}
		if it == nil {
			c.Null()
			return
		}
		m, _ := it.members().GetAt(newElemRand(c.Rand).intn(it.members().Len()))
		c.BulkString(m)
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
	it, ok := c.readSet(args[1])
	if !ok {
		return
	}
	if it == nil || l == 0 {
		c.Array(0)
		return
	}
	s := it.members()
	size := s.Len()
	at := indexed(s)
	r := newElemRand(c.Rand)
	switch {
	case l < 0:
		if l < -maxRandCount {
			c.Error(errValueOutOfRange)
			return
		}
		c.Array(int(-l))
		for range -l {
			c.BulkString(at(r.intn(size)))
		}
	case l >= int64(size):
		setReply(c, s)
	default:
		idx := r.sample(size, int(l))
		c.Array(len(idx))
		for _, i := range idx {
			c.BulkString(at(i))
		}
	}
}
