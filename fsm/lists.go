package fsm

import (
	"math/big"
	"slices"

	"github.com/statehouse/statehouse/internal/resp"
)

// List commands. A list is a persistent B-tree of its elements (list.go).
// Replies, errors and the order in which arguments are checked follow
// Redis 7.0's t_list.c.
//
// The blocking forms (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP) never block
// here: applied from the log they are one attempt, which pops if it can
// and otherwise answers a null, as Redis answers them inside MULTI. The
// server makes the client wait: it proposes the attempt again when a list
// it waits on may have grown (FSM.OnListWrite), until its timeout
// (BlockSpec). Every pop is an entry of the log, applied in order on every
// node, so two waiters, on one node or on two, never get the same element.

var listCommands = []*Command{
	{Name: "lpush", Arity: -3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lpushCmd},
	{Name: "rpush", Arity: -3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: rpushCmd},
	{Name: "lpushx", Arity: -3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lpushxCmd},
	{Name: "rpushx", Arity: -3, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: rpushxCmd},
	{Name: "lpop", Arity: -2, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lpopCmd},
	{Name: "rpop", Arity: -2, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: rpopCmd},
	{Name: "llen", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: llenCmd},
	{Name: "lrange", Arity: 4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lrangeCmd},
	{Name: "lindex", Arity: 3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lindexCmd},
	{Name: "lpos", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lposCmd},
	{Name: "lset", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lsetCmd},
	{Name: "linsert", Arity: 5, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: linsertCmd},
	{Name: "lrem", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: lremCmd},
	{Name: "ltrim", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatList, Group: "list", Handler: ltrimCmd},
	// LMOVE and RPOPLPUSH return what the source held: its key spec is
	// ACCESS, so ACL asks for read permission (on both keys, as for RENAME).
	{Name: "lmove", Arity: 5, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatList, Group: "list", Handler: lmoveCmd},
	{Name: "rpoplpush", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatList, Group: "list", Handler: rpoplpushCmd},
	{Name: "lmpop", Arity: -4, Flags: FlagWrite | FlagKeyAccess, Categories: CatList, Group: "list", KeysFunc: numkeysKeys(1), Handler: lmpopCmd},
	{Name: "blpop", Arity: -3, Flags: FlagWrite | FlagKeyAccess | FlagNoScript | FlagBlocking, FirstKey: 1, LastKey: -2, Step: 1, Categories: CatList, Group: "list", Handler: blpopCmd},
	{Name: "brpop", Arity: -3, Flags: FlagWrite | FlagKeyAccess | FlagNoScript | FlagBlocking, FirstKey: 1, LastKey: -2, Step: 1, Categories: CatList, Group: "list", Handler: brpopCmd},
	{Name: "blmove", Arity: 6, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagNoScript | FlagBlocking, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatList, Group: "list", Handler: blmoveCmd},
	{Name: "brpoplpush", Arity: 4, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM | FlagNoScript | FlagBlocking, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatList, Group: "list", Handler: brpoplpushCmd},
	{Name: "blmpop", Arity: -5, Flags: FlagWrite | FlagKeyAccess | FlagBlocking, Categories: CatList, Group: "list", KeysFunc: numkeysKeys(2), Handler: blmpopCmd},
}

// Error texts of the list commands, worded as Redis 7.0 words them.
const (
	errPopCount     = "ERR value is out of range, must be positive"
	errIndexRange   = "ERR index out of range"
	errRankZero     = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
	errCountNeg     = "ERR COUNT can't be negative"
	errMaxlenNeg    = "ERR MAXLEN can't be negative"
	errNumkeys      = "ERR numkeys should be greater than 0"
	errMpopCountPos = "ERR count should be greater than 0"
	errTimeoutFloat = "ERR timeout is not a float or out of range"
	errTimeoutNeg   = "ERR timeout is negative"
)

// numkeysKeys finds the keys of a command whose argument at idx says how
// many keys follow it, then LEFT|RIGHT (LMPOP, and BLMPOP after its
// timeout). A count that is not a positive number or leaves no room for
// LEFT|RIGHT names no keys: the command then fails before it touches any.
func numkeysKeys(idx int) func(args [][]byte) [][]byte {
	return func(args [][]byte) [][]byte {
		if idx >= len(args) {
			return nil
		}
		n, ok := resp.ParseInt(args[idx])
		if !ok || n < 1 || n > int64(len(args)-idx-2) {
			return nil
		}
		return args[idx+1 : idx+1+int(n)]
	}
}

// readList returns the live list at key, or nil if there is none. ok is
// false (and the WRONGTYPE error written) if key holds another kind.
func (c *Ctx) readList(key []byte) (it *item, ok bool) {
	it = c.Get(key)
	if it != nil && it.kind != KindList {
		c.Error(resp.ErrWrongType)
		return nil, false
	}
	return it, true
}

// editList returns a writable copy of the list item it (or a new, empty
// list for key when it is nil) and a writer for its elements. The caller
// sets cl.list = w.done() and stores cl (storeList).
func editList(it *item, key []byte) (cl *item, w *listWriter) {
	if it == nil {
		cl = &item{key: string(key), kind: KindList, list: &list{}}
	} else {
		cl = it.clone()
	}
	return cl, cl.list.writer()
}

// storeList puts the edited list back, or deletes the key if it is empty,
// as Redis never keeps an empty list; it reports whether it deleted it.
func (c *Ctx) storeList(cl *item, w *listWriter) (deleted bool) {
	cl.list = w.done()
	if cl.list.len() == 0 {
		c.Del([]byte(cl.key))
		return true
	}
	c.Put(cl)
	return false
}

// listChanged gives a list command's keyspace notification, and "del"
// when the command emptied the list (Redis's order).
func (c *Ctx) listChanged(event string, key []byte, deleted bool) {
	c.notify(NotifyList, event, key)
	if deleted {
		c.notify(NotifyGeneric, "del", key)
	}
}

func pushEvent(front bool) string {
	if front {
		return "lpush"
	}
	return "rpush"
}

func popEvent(front bool) string {
	if front {
		return "lpop"
	}
	return "rpop"
}

// parseWhere reads LEFT or RIGHT (LMOVE, LMPOP): front is true for LEFT.
func parseWhere(b []byte) (front, ok bool) {
	switch {
	case resp.EqualFold(b, "left"):
		return true, true
	case resp.EqualFold(b, "right"):
		return false, true
	}
	return false, false
}

func push(w *listWriter, front bool, v string) {
	if front {
		w.insert(0, v)
	} else {
		w.insert(w.len(), v)
	}
}

func pop(w *listWriter, front bool) string {
	if front {
		return w.remove(0)
	}
	return w.remove(w.len() - 1)
}

// popN removes up to n elements from one end of the list at it and
// returns them in the order they were popped.
func (c *Ctx) popN(it *item, front bool, n int64) []string {
	cl, w := editList(it, nil)
	k := int(min(n, int64(w.len())))
	var out []string
	if front {
		out = it.list.slice(0, k)
		w.removeRange(0, k)
	} else {
		out = it.list.slice(w.len()-k, w.len())
		slices.Reverse(out)
		w.removeRange(w.len()-k, w.len())
	}
	c.listChanged(popEvent(front), []byte(it.key), c.storeList(cl, w))
	return out
}

func (c *Ctx) bulkStrings(vs []string) {
	c.Array(len(vs))
	for _, v := range vs {
		c.BulkString(v)
	}
}

// --- push ------------------------------------------------------------------

func lpushCmd(c *Ctx, args [][]byte)  { pushGeneric(c, args, true, false) }
func rpushCmd(c *Ctx, args [][]byte)  { pushGeneric(c, args, false, false) }
func lpushxCmd(c *Ctx, args [][]byte) { pushGeneric(c, args, true, true) }
func rpushxCmd(c *Ctx, args [][]byte) { pushGeneric(c, args, false, true) }

// LPUSH/RPUSH key element [element ...] -> the new length; the X forms
// push only onto a list that exists (0 otherwise).
func pushGeneric(c *Ctx, args [][]byte, front, existing bool) {
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil && existing {
		c.Int(0)
		return
	}
	cl, w := editList(it, args[1])
	for _, v := range args[2:] {
		push(w, front, string(v))
	}
	c.listChanged(pushEvent(front), args[1], c.storeList(cl, w))
	c.Int(int64(w.len()))
}

// --- pop -------------------------------------------------------------------

func lpopCmd(c *Ctx, args [][]byte) { popGeneric(c, args, true) }
func rpopCmd(c *Ctx, args [][]byte) { popGeneric(c, args, false) }

// LPOP/RPOP key [count] -> the element (null if none); with a count, an
// array of up to count elements (a null array if the key is missing).
func popGeneric(c *Ctx, args [][]byte, front bool) {
	if len(args) > 3 {
		c.WrongArity(args[0])
		return
	}
	withCount := len(args) == 3
	count := int64(1)
	if withCount {
		n, ok := resp.ParseInt(args[2])
		if !ok || n < 0 {
			c.Error(errPopCount)
			return
		}
		count = n
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	switch {
	case it == nil && withCount:
		c.NullArray()
	case it == nil:
		c.Null()
	case withCount && count == 0:
		c.Array(0)
	case withCount:
		c.bulkStrings(c.popN(it, front, count))
	default:
		c.BulkString(c.popN(it, front, 1)[0])
	}
}

// --- reads -----------------------------------------------------------------

// LLEN key -> the length, 0 if missing.
func llenCmd(c *Ctx, args [][]byte) {
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	c.Int(int64(it.list.len()))
}

// listRange turns Redis's start/stop (negative from the end, inclusive)
// into [i, j) over a list of n; empty if nothing is in range.
func listRange(start, stop int64, n int) (int, int) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	start = max(start, 0)
	if start > stop || start >= ln {
		return 0, 0
	}
	stop = min(stop, ln-1)
	return int(start), int(stop) + 1
}

// LRANGE key start stop -> the elements in range.
func lrangeCmd(c *Ctx, args [][]byte) {
	start, ok1 := resp.ParseInt(args[2])
	stop, ok2 := resp.ParseInt(args[3])
	if !ok1 || !ok2 {
		c.Error(resp.ErrNotInt)
		return
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Array(0)
		return
	}
	i, j := listRange(start, stop, it.list.len())
	c.Array(j - i)
	it.list.scan(i, func(k int, v string) bool {
		if k >= j {
			return false
		}
		c.BulkString(v)
		return true
	})
}

// listIndex resolves a possibly negative index; ok is false out of range.
func listIndex(idx int64, n int) (int, bool) {
	if idx < 0 {
		idx += int64(n)
	}
	if idx < 0 || idx >= int64(n) {
		return 0, false
	}
	return int(idx), true
}

// LINDEX key index -> the element or null. The key is looked up before
// the index is read, as in Redis.
func lindexCmd(c *Ctx, args [][]byte) {
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Null()
		return
	}
	idx, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if i, ok := listIndex(idx, it.list.len()); ok {
		c.BulkString(it.list.at(i))
		return
	}
	c.Null()
}

// LPOS key element [RANK rank] [COUNT num] [MAXLEN len] -> the index of a
// match (null if none), or with COUNT an array of them. This is Redis's
// loop, with its 64-bit arithmetic: RANK -9223372036854775808 behaves as
// it does there (every match from the tail, COUNT ignored).
func lposCmd(c *Ctx, args [][]byte) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case resp.EqualFold(args[j], "rank") && more:
			j++
			n, ok := resp.ParseInt(args[j])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if n == 0 {
				c.Error(errRankZero)
				return
			}
			rank = n
		case resp.EqualFold(args[j], "count") && more:
			j++
			n, ok := resp.ParseInt(args[j])
			if !ok || n < 0 {
				c.Error(errCountNeg)
				return
			}
			count = n
		case resp.EqualFold(args[j], "maxlen") && more:
			j++
			n, ok := resp.ParseInt(args[j])
			if !ok || n < 0 {
				c.Error(errMaxlenNeg)
				return
			}
			maxlen = n
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		if count != -1 {
			c.Array(0)
		} else {
			c.Null()
		}
		return
	}
	fromHead := true
	if rank < 0 {
		rank = -rank // MinInt64 stays negative, as in C
		fromHead = false
	}
	elem := string(args[2])
	llen := int64(it.list.len())
	var found []int64
	var index, matches int64
	matchIndex := int64(-1)
	visit := func(_ int, v string) bool {
		if maxlen != 0 && index >= maxlen {
			return false
		}
		if v == elem {
			matches++
			matchIndex = index
			if !fromHead {
				matchIndex = llen - index - 1
			}
			if matches >= rank {
				if count == -1 {
					return false
				}
				found = append(found, matchIndex)
				if count != 0 && matches-rank+1 >= count {
					return false
				}
			}
		}
		index++
		matchIndex = -1
		return true
	}
	if fromHead {
		it.list.scan(0, visit)
	} else {
		it.list.rscan(int(llen-1), visit)
	}
	switch {
	case count != -1:
		c.Array(len(found))
		for _, i := range found {
			c.Int(i)
		}
	case matchIndex != -1:
		c.Int(matchIndex)
	default:
		c.Null()
	}
}

// --- changes in place ------------------------------------------------------

// LSET key index element -> OK. The key is looked up before the index is
// read, as in Redis.
func lsetCmd(c *Ctx, args [][]byte) {
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Error(ErrNoSuchKey)
		return
	}
	idx, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	i, ok := listIndex(idx, it.list.len())
	if !ok {
		c.Error(errIndexRange)
		return
	}
	cl, w := editList(it, args[1])
	w.set(i, string(args[3]))
	c.listChanged("lset", args[1], c.storeList(cl, w))
	c.OK()
}

// LINSERT key BEFORE|AFTER pivot element -> the new length, -1 if the
// pivot is not there, 0 if the key is missing.
func linsertCmd(c *Ctx, args [][]byte) {
	var after bool
	switch {
	case resp.EqualFold(args[2], "before"):
	case resp.EqualFold(args[2], "after"):
		after = true
	default:
		c.Error(resp.ErrSyntax)
		return
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	pivot, at := string(args[3]), -1
	it.list.scan(0, func(i int, v string) bool {
		if v == pivot {
			at = i
			return false
		}
		return true
	})
	if at < 0 {
		c.Int(-1)
		return
	}
	if after {
		at++
	}
	cl, w := editList(it, args[1])
	w.insert(at, string(args[4]))
	c.listChanged("linsert", args[1], c.storeList(cl, w))
	c.Int(int64(w.len()))
}

// LREM key count element -> how many were removed: the first count from
// the head (count > 0), from the tail (count < 0), or all (0).
func lremCmd(c *Ctx, args [][]byte) {
	count, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	elem := string(args[3])
	toRemove := count
	if toRemove < 0 {
		toRemove = -toRemove // MinInt64 stays negative and never matches: all go, as in Redis
	}
	var hits []int // positions to remove
	visit := func(i int, v string) bool {
		if v == elem {
			hits = append(hits, i)
			return toRemove == 0 || int64(len(hits)) != toRemove
		}
		return true
	}
	if count >= 0 {
		it.list.scan(0, visit)
	} else {
		it.list.rscan(it.list.len()-1, visit)
	}
	if len(hits) == 0 {
		c.Int(0)
		return
	}
	slices.Sort(hits)
	cl, w := editList(it, args[1])
	if n := it.list.len(); len(hits) > n/8 { // many: rebuild from what stays
		keep := make([]string, 0, n-len(hits))
		h := 0
		it.list.scan(0, func(i int, v string) bool {
			if h < len(hits) && hits[h] == i {
				h++
			} else {
				keep = append(keep, v)
			}
			return true
		})
		w.l = *newList(keep)
	} else {
		for k := len(hits) - 1; k >= 0; k-- {
			w.remove(hits[k])
		}
	}
	c.listChanged("lrem", args[1], c.storeList(cl, w))
	c.Int(int64(len(hits)))
}

// LTRIM key start stop -> OK, keeping only the range (the key goes if the
// range is empty).
func ltrimCmd(c *Ctx, args [][]byte) {
	start, ok1 := resp.ParseInt(args[2])
	stop, ok2 := resp.ParseInt(args[3])
	if !ok1 || !ok2 {
		c.Error(resp.ErrNotInt)
		return
	}
	it, ok := c.readList(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.OK()
		return
	}
	n := it.list.len()
	i, j := listRange(start, stop, n)
	cl, w := editList(it, args[1])
	if j-i < n/2 {
		w.l = *newList(it.list.slice(i, j))
	} else {
		w.removeRange(j, n)
		w.removeRange(0, i)
	}
	c.listChanged("ltrim", args[1], c.storeList(cl, w)) // Redis counts the key as changed even if nothing went
	c.OK()
}

// --- moving between lists --------------------------------------------------

// LMOVE source destination LEFT|RIGHT LEFT|RIGHT -> the element moved, or
// null if the source is missing.
func lmoveCmd(c *Ctx, args [][]byte) {
	from, to, ok := parseSides(args[3], args[4])
	if !ok {
		c.Error(resp.ErrSyntax)
		return
	}
	lmoveGeneric(c, args[1], args[2], from, to)
}

// parseSides reads LMOVE's and BLMOVE's LEFT|RIGHT LEFT|RIGHT.
func parseSides(a, b []byte) (from, to, ok bool) {
	from, ok1 := parseWhere(a)
	to, ok2 := parseWhere(b)
	return from, to, ok1 && ok2
}

// RPOPLPUSH source destination: LMOVE source destination RIGHT LEFT.
func rpoplpushCmd(c *Ctx, args [][]byte) { lmoveGeneric(c, args[1], args[2], false, true) }

func lmoveGeneric(c *Ctx, srcKey, dstKey []byte, from, to bool) {
	src, ok := c.readList(srcKey)
	if !ok {
		return
	}
	if src == nil {
		c.Null()
		return
	}
	if string(srcKey) == string(dstKey) { // a rotation: one list
		cl, w := editList(src, srcKey)
		v := pop(w, from)
		push(w, to, v)
		c.storeList(cl, w)
		c.notify(NotifyList, pushEvent(to), srcKey)
		c.notify(NotifyList, popEvent(from), srcKey)
		c.BulkString(v)
		return
	}
	dst, ok := c.readList(dstKey)
	if !ok {
		return
	}
	scl, sw := editList(src, srcKey)
	v := pop(sw, from)
	dcl, dw := editList(dst, dstKey)
	push(dw, to, v)
	emptied := c.storeList(scl, sw)
	c.storeList(dcl, dw)
	c.notify(NotifyList, pushEvent(to), dstKey) // Redis's order: the push, then the pop
	c.listChanged(popEvent(from), srcKey, emptied)
	c.BulkString(v)
}

// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count] -> the first
// non-empty list's key and up to count elements popped from it, or a null
// array if every list is empty.
func lmpopCmd(c *Ctx, args [][]byte) { mpop(c, args) }

// mpop is LMPOP, args[1] its numkeys (BLMPOP's arguments from its timeout).
func mpop(c *Ctx, args [][]byte) {
	whereAt, front, count, e := parseMpop(args)
	if e != "" {
		c.Error(e)
		return
	}
	for _, key := range args[2:whereAt] {
		it, ok := c.readList(key)
		if !ok {
			return
		}
		if it == nil {
			continue
		}
		c.Array(2)
		c.Bulk(key)
		c.bulkStrings(c.popN(it, front, count))
		return
	}
	c.NullArray()
}

// parseMpop checks LMPOP's arguments (args[1] is numkeys) in Redis's
// order: where LEFT|RIGHT is, which side, and the count (1 if not given);
// errMsg is the error to answer.
func parseMpop(args [][]byte) (whereAt int, front bool, count int64, errMsg string) {
	numkeys, ok := resp.ParseInt(args[1])
	if !ok || numkeys < 1 {
		return 0, false, 0, errNumkeys
	}
	if numkeys > int64(len(args)-3) { // no LEFT|RIGHT after the keys
		return 0, false, 0, resp.ErrSyntax
	}
	whereAt = 2 + int(numkeys)
	front, ok = parseWhere(args[whereAt])
	if !ok {
		return 0, false, 0, resp.ErrSyntax
	}
	count = -1
	for j := whereAt + 1; j < len(args); j++ {
		if count == -1 && resp.EqualFold(args[j], "count") && j+1 < len(args) {
			j++
			n, ok := resp.ParseInt(args[j])
			if !ok || n < 1 {
				return 0, false, 0, errMpopCountPos
			}
			count = n
			continue
		}
		return 0, false, 0, resp.ErrSyntax
	}
	return whereAt, front, max(count, 1), ""
}

// OnListWrite sets fn to be called, as each write applies, with the
// database and key of every list or sorted set it stores (a push, a ZADD,
// LMOVE's destination, a key renamed or copied onto another), and with db -1 after a Restore:
// the server wakes the clients blocked on those keys. fn runs under the
// FSM's write lock: it must not block or call the FSM. It observes only;
// what the FSM does never depends on it.
func (f *FSM) OnListWrite(fn func(db int, key string)) {
	f.mu.Lock()
	f.onListWrite = fn
	f.mu.Unlock()
}

// --- blocking forms, one attempt each ------------------------------------------

// parseBlockTimeout reads a blocking command's timeout as Redis 7.0 does:
// seconds as a long double, times 1000, rounded up to whole milliseconds
// and converted to a 64-bit integer, where x86 turns anything out of range
// (inf, 1e300) into the most negative one: "timeout is negative". 0 waits
// for ever.
func parseBlockTimeout(b []byte) (ms int64, errMsg string) {
	v, ok := parseLongDouble(string(b))
	if !ok {
		return 0, errTimeoutFloat
	}
	v = new(big.Float).SetPrec(ldPrec).Mul(v, big.NewFloat(1000))
	if v.IsInf() {
		return 0, errTimeoutNeg
	}
	i, acc := v.Int(nil)  // toward zero
	if acc == big.Below { // v had a fraction above i: ceil
		i.Add(i, big.NewInt(1))
	}
	if !i.IsInt64() || i.Int64() < 0 {
		return 0, errTimeoutNeg
	}
	return i.Int64(), ""
}

// timeoutArg is where a blocking command's timeout is.
func timeoutArg(name string, args [][]byte) int {
	if name == "blmpop" || name == "bzmpop" {
		return 1
	}
	return len(args) - 1
}

// BlockSpec tells the server how a blocking command waits: the lists
// whose growth may let it pop (its sources) and its timeout in
// milliseconds (0: for ever). ok is false for a command that does not
// block or whose arguments an attempt refuses anyway (the attempt then
// answers the error): when ok, an attempt can only pop, find nothing, or
// meet a key of another kind.
func BlockSpec(cmd *Command, args [][]byte) (keys [][]byte, timeoutMs int64, ok bool) {
	if cmd.Flags&FlagBlocking == 0 || cmd.Handler == nil || !cmd.ArityOK(len(args)) {
		return nil, 0, false
	}
	ms, e := parseBlockTimeout(args[timeoutArg(cmd.Name, args)])
	if e != "" {
		return nil, 0, false
	}
	switch cmd.Name {
	case "blmove":
		if _, ok := parseWhere(args[3]); !ok {
			return nil, 0, false
		}
		if _, ok := parseWhere(args[4]); !ok {
			return nil, 0, false
		}
		keys = args[1:2]
	case "brpoplpush":
		keys = args[1:2]
	case "blmpop":
		if _, _, _, e := parseMpop(args[1:]); e != "" {
			return nil, 0, false
		}
		keys = cmd.Keys(args)
	case "bzmpop":
		if _, _, _, e := parseZmpop(args[1:]); e != "" {
			return nil, 0, false
		}
		keys = cmd.Keys(args)
	default:
		keys = cmd.Keys(args)
	}
	return keys, ms, len(keys) > 0
}

func blpopCmd(c *Ctx, args [][]byte) { bpop(c, args, true) }
func brpopCmd(c *Ctx, args [][]byte) { bpop(c, args, false) }

// BLPOP/BRPOP key [key ...] timeout -> the first non-empty list's key and
// the element popped from it, or a null array.
func bpop(c *Ctx, args [][]byte, front bool) {
	if _, e := parseBlockTimeout(args[len(args)-1]); e != "" {
		c.Error(e)
		return
	}
	for _, key := range args[1 : len(args)-1] {
		it, ok := c.readList(key)
		if !ok {
			return
		}
		if it == nil {
			continue
		}
		c.Array(2)
		c.Bulk(key)
		c.BulkString(c.popN(it, front, 1)[0])
		return
	}
	c.NullArray()
}

// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout: LMOVE, after
// the sides and the timeout are checked.
func blmoveCmd(c *Ctx, args [][]byte) {
	from, to, ok := parseSides(args[3], args[4])
	if !ok {
		c.Error(resp.ErrSyntax)
		return
	}
	if _, e := parseBlockTimeout(args[5]); e != "" {
		c.Error(e)
		return
	}
	lmoveGeneric(c, args[1], args[2], from, to)
}

// BRPOPLPUSH source destination timeout.
func brpoplpushCmd(c *Ctx, args [][]byte) {
	if _, e := parseBlockTimeout(args[3]); e != "" {
		c.Error(e)
		return
	}
	lmoveGeneric(c, args[1], args[2], false, true)
}

// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count].
func blmpopCmd(c *Ctx, args [][]byte) {
	if _, e := parseBlockTimeout(args[1]); e != "" {
		c.Error(e)
		return
	}
	mpop(c, args[1:])
}
