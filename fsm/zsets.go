package fsm

import (
	"math"
	"slices"
	"strconv"

	"github.com/statehouse/statehouse/internal/resp"
)

// Sorted set commands. A sorted set is a zset (zset.go). Replies, errors,
// the order in which arguments are checked and the keyspace events follow
// Redis 7.0's t_zset.c; scores are formatted as 7.0 does ("%.17g").
//
// The blocking forms (BZPOPMIN BZPOPMAX BZMPOP) never block here: applied
// from the log each is one attempt, as for the lists (lists.go); the
// server makes the client wait and proposes the attempt again when a
// sorted set it waits on is stored (FSM.OnListWrite).

var zsetCommands = []*Command{
	{Name: "zadd", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zaddCmd},
	{Name: "zincrby", Arity: 4, Flags: FlagWrite | FlagDenyOOM | FlagFast | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zincrbyCmd},
	{Name: "zrem", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zremCmd},
	{Name: "zcard", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zcardCmd},
	{Name: "zcount", Arity: 4, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zcountCmd},
	{Name: "zlexcount", Arity: 4, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zlexcountCmd},
	{Name: "zscore", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zscoreCmd},
	{Name: "zmscore", Arity: -3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zmscoreCmd},
	{Name: "zrank", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrankCmd},
	{Name: "zrevrank", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrevrankCmd},
	{Name: "zrange", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrangeCmd},
	{Name: "zrangebyscore", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrangebyscoreCmd},
	{Name: "zrevrangebyscore", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrevrangebyscoreCmd},
	{Name: "zrangebylex", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrangebylexCmd},
	{Name: "zrevrangebylex", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrevrangebylexCmd},
	{Name: "zrevrange", Arity: -4, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrevrangeCmd},
	// ZRANGESTORE and the *STORE commands return nothing of their sources
	// but read them: FlagKeyAccess asks for read permission on the keys,
	// as for COPY.
	{Name: "zrangestore", Arity: -5, Flags: FlagWrite | FlagDenyOOM | FlagKeyAccess, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrangestoreCmd},
	{Name: "zpopmin", Arity: -2, Flags: FlagWrite | FlagFast | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zpopminCmd},
	{Name: "zpopmax", Arity: -2, Flags: FlagWrite | FlagFast | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zpopmaxCmd},
	{Name: "zmpop", Arity: -4, Flags: FlagWrite | FlagKeyAccess, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: numkeysKeys(1), Handler: zmpopCmd},
	{Name: "bzpopmin", Arity: -3, Flags: FlagWrite | FlagKeyAccess | FlagNoScript | FlagBlocking | FlagFast, FirstKey: 1, LastKey: -2, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: bzpopminCmd},
	{Name: "bzpopmax", Arity: -3, Flags: FlagWrite | FlagKeyAccess | FlagNoScript | FlagBlocking | FlagFast, FirstKey: 1, LastKey: -2, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: bzpopmaxCmd},
	{Name: "bzmpop", Arity: -5, Flags: FlagWrite | FlagKeyAccess | FlagBlocking, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: numkeysKeys(2), Handler: bzmpopCmd},
	{Name: "zremrangebyrank", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zremrangebyrankCmd},
	{Name: "zremrangebyscore", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zremrangebyscoreCmd},
	{Name: "zremrangebylex", Arity: 4, Flags: FlagWrite, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zremrangebylexCmd},
	{Name: "zunion", Arity: -3, Flags: FlagReadOnly, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(1, false), Handler: zunionCmd},
	{Name: "zinter", Arity: -3, Flags: FlagReadOnly, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(1, false), Handler: zinterCmd},
	{Name: "zdiff", Arity: -3, Flags: FlagReadOnly, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(1, false), Handler: zdiffCmd},
	{Name: "zintercard", Arity: -3, Flags: FlagReadOnly, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(1, false), Handler: zintercardCmd},
	{Name: "zunionstore", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(2, true), Handler: zunionstoreCmd},
	{Name: "zinterstore", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(2, true), Handler: zinterstoreCmd},
	{Name: "zdiffstore", Arity: -4, Flags: FlagWrite | FlagDenyOOM | FlagKeyAccess, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", KeysFunc: zsetopKeys(2, true), Handler: zdiffstoreCmd},
	{Name: "zrandmember", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zrandmemberCmd},
	{Name: "zscan", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSortedSet, Group: "sorted_set", Handler: zscanCmd},
}

// Error texts of the sorted set commands, worded as Redis 7.0 words them.
const (
	errZNaN         = "ERR resulting score is not a number (NaN)"
	errZXXNX        = "ERR XX and NX options at the same time are not compatible"
	errZGTLTNX      = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZIncrPair    = "ERR INCR option supports a single increment-element pair"
	errZMinMax      = "ERR min or max is not a float"
	errZLexRange    = "ERR min or max not valid string range item"
	errZLimitRank   = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
	errZLexScores   = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
	errZWeight      = "ERR weight value is not a float"
	errZLimitNeg    = "ERR LIMIT can't be negative"
	zsetMaxListpack = 128 // Redis's zset-max-listpack-entries
	zsetMaxListVal  = 64  // zset-max-listpack-value
)

// zsetopKeys finds the keys of ZUNION/ZINTER/ZDIFF/ZINTERCARD (numkeys at
// idx) and their STORE forms (the destination first).
func zsetopKeys(idx int, store bool) func(args [][]byte) [][]byte {
	return func(args [][]byte) [][]byte {
		var keys [][]byte
		if store && len(args) > 1 {
			keys = append(keys, args[1])
		}
		if idx >= len(args) {
			return keys
		}
		n, ok := resp.ParseInt(args[idx])
		if !ok || n < 1 || n > int64(len(args)-idx-1) {
			return keys
		}
		return append(keys, args[idx+1:idx+1+int(n)]...)
	}
}

// readZset returns the live sorted set at key, or nil if there is none. ok
// is false (and the WRONGTYPE error written) if key holds another kind.
func (c *Ctx) readZset(key []byte) (it *item, ok bool) {
	it = c.Get(key)
	if it != nil && it.kind != KindZSet {
		c.Error(resp.ErrWrongType)
		return nil, false
	}
	return it, true
}

// editZset returns an item a write may change: a clone of it with its own
// copy-on-write view of the set, or a new empty sorted set at key.
func editZset(it *item, key []byte) *item {
	if it == nil {
		return &item{key: string(key), kind: KindZSet, zset: newZset()}
	}
	cl := it.clone()
	cl.zset = it.zset.copy()
	return cl
}

// storeZset puts cl, or deletes its key if it is empty; deleted reports
// the latter.
func (c *Ctx) storeZset(cl *item) (deleted bool) {
	if cl.zset.len() == 0 {
		c.Del([]byte(cl.key))
		return true
	}
	c.Put(cl)
	return false
}

func (c *Ctx) score(s float64) { c.BulkString(formatScore(s)) }

// --- ZADD ZINCRBY ZREM --------------------------------------------------------

const (
	zaddNX = 1 << iota
	zaddXX
	zaddGT
	zaddLT
	zaddCH
	zaddIncr
)

func zaddCmd(c *Ctx, args [][]byte) { zaddGeneric(c, args, 0) }

// ZINCRBY key increment member is ZADD key INCR increment member.
func zincrbyCmd(c *Ctx, args [][]byte) { zaddGeneric(c, args, zaddIncr) }

// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
func zaddGeneric(c *Ctx, args [][]byte, flags int) {
	at := 2
	for ; at < len(args); at++ {
		switch {
		case resp.EqualFold(args[at], "nx"):
			flags |= zaddNX
		case resp.EqualFold(args[at], "xx"):
			flags |= zaddXX
		case resp.EqualFold(args[at], "gt"):
			flags |= zaddGT
		case resp.EqualFold(args[at], "lt"):
			flags |= zaddLT
		case resp.EqualFold(args[at], "ch"):
			flags |= zaddCH
		case resp.EqualFold(args[at], "incr"):
			flags |= zaddIncr
		default:
			goto parsed
		}
	}
parsed:
	elems := len(args) - at
	if elems%2 != 0 || elems == 0 {
		c.Error(resp.ErrSyntax)
		return
	}
	elems /= 2
	nx, xx, gt, lt, incr := flags&zaddNX != 0, flags&zaddXX != 0, flags&zaddGT != 0, flags&zaddLT != 0, flags&zaddIncr != 0
	switch {
	case nx && xx:
		c.Error(errZXXNX)
		return
	case (gt && nx) || (lt && nx) || (gt && lt):
		c.Error(errZGTLTNX)
		return
	case incr && elems > 1:
		c.Error(errZIncrPair)
		return
	}
	scores := make([]float64, elems)
	for j := range scores {
		s, ok := parseScore(args[at+2*j])
		if !ok {
			c.Error(resp.ErrNotFloat)
			return
		}
		scores[j] = s
	}
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil && xx {
		if incr {
			c.Null()
		} else {
			c.Int(0)
		}
		return
	}
	cl := editZset(it, args[1])
	z := cl.zset
	var added, updated, processed int64
	var last float64
	for j, s := range scores {
		m := string(args[at+2*j+1])
		cur, exists := z.score(m)
		if !exists {
			if xx {
				continue
			}
			z.set(m, s)
			added++
			processed++
			last = s
			continue
		}
		if nx {
			continue
		}
		if incr {
			s += cur
			if math.IsNaN(s) {
				c.Error(errZNaN)
				return
			}
		}
		if (lt && s >= cur) || (gt && s <= cur) {
			continue
		}
		processed++
		last = s
		if s != cur {
			z.set(m, s)
			updated++
		}
	}
	if added+updated > 0 {
		c.Put(cl)
		event := "zadd"
		if incr {
			event = "zincr"
		}
		c.notify(NotifyZset, event, args[1])
	}
	switch {
	case incr && processed > 0:
		c.score(last)
	case incr:
		c.Null()
	case flags&zaddCH != 0:
		c.Int(added + updated)
	default:
		c.Int(added)
	}
}

// ZREM key member [member ...] -> number of members removed.
func zremCmd(c *Ctx, args [][]byte) {
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	var cl *item
	var n int64
	for _, m := range args[2:] {
		if cl == nil {
			if _, has := it.zset.score(string(m)); !has {
				continue
			}
			cl = editZset(it, args[1])
		}
		if cl.zset.remove(string(m)) {
			n++
		}
	}
	if n > 0 {
		deleted := c.storeZset(cl)
		c.notify(NotifyZset, "zrem", args[1])
		if deleted {
			c.notify(NotifyGeneric, "del", args[1])
		}
	}
	c.Int(n)
}

// --- reads ------------------------------------------------------------------

func zcardCmd(c *Ctx, args [][]byte) {
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	c.Int(int64(it.zset.len()))
}

// ZCOUNT key min max.
func zcountCmd(c *Ctx, args [][]byte) {
	r, ok := parseScoreRange(args[2], args[3])
	if !ok {
		c.Error(errZMinMax)
		return
	}
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	from, to := it.zset.scoreIndices(&r)
	c.Int(int64(to - from))
}

// ZLEXCOUNT key min max.
func zlexcountCmd(c *Ctx, args [][]byte) {
	r, ok := parseLexRange(args[2], args[3])
	if !ok {
		c.Error(errZLexRange)
		return
	}
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	from, to := it.zset.lexIndices(&r)
	c.Int(int64(to - from))
}

func zscoreCmd(c *Ctx, args [][]byte) {
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it != nil {
		if s, has := it.zset.score(string(args[2])); has {
			c.score(s)
			return
		}
	}
	c.Null()
}

func zmscoreCmd(c *Ctx, args [][]byte) {
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	c.Array(len(args) - 2)
	for _, m := range args[2:] {
		if it != nil {
			if s, has := it.zset.score(string(m)); has {
				c.score(s)
				continue
			}
		}
		c.Null()
	}
}

func zrankCmd(c *Ctx, args [][]byte)    { zrankGeneric(c, args, false) }
func zrevrankCmd(c *Ctx, args [][]byte) { zrankGeneric(c, args, true) }

// ZRANK/ZREVRANK key member (Redis 7.0: no WITHSCORE, which 7.2 added).
func zrankGeneric(c *Ctx, args [][]byte, rev bool) {
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Null()
		return
	}
	r, has := it.zset.rank(string(args[2]))
	if !has {
		c.Null()
		return
	}
	if rev {
		r = it.zset.len() - 1 - r
	}
	c.Int(int64(r))
}

// --- ZRANGE and its family -------------------------------------------------

type zrangeType int

const (
	zrangeAuto zrangeType = iota
	zrangeRank
	zrangeScore
	zrangeLex
)

type zrangeDir int

const (
	zdirAuto zrangeDir = iota
	zdirForward
	zdirReverse
)

func zrangeCmd(c *Ctx, args [][]byte) { zrangeGeneric(c, args, 1, false, zrangeAuto, zdirAuto) }
func zrangebyscoreCmd(c *Ctx, args [][]byte) {
	zrangeGeneric(c, args, 1, false, zrangeScore, zdirForward)
}
func zrevrangebyscoreCmd(c *Ctx, args [][]byte) {
	zrangeGeneric(c, args, 1, false, zrangeScore, zdirReverse)
}
func zrangebylexCmd(c *Ctx, args [][]byte) { zrangeGeneric(c, args, 1, false, zrangeLex, zdirForward) }
func zrevrangebylexCmd(c *Ctx, args [][]byte) {
	zrangeGeneric(c, args, 1, false, zrangeLex, zdirReverse)
}
func zrevrangeCmd(c *Ctx, args [][]byte)   { zrangeGeneric(c, args, 1, false, zrangeRank, zdirReverse) }
func zrangestoreCmd(c *Ctx, args [][]byte) { zrangeGeneric(c, args, 2, true, zrangeAuto, zdirAuto) }

// zrangeGeneric is Redis's zrangeGenericCommand: the source key at
// args[at], then min and max, then options; store writes the result to
// args[1] instead of replying with it.
func zrangeGeneric(c *Ctx, args [][]byte, at int, store bool, typ zrangeType, dir zrangeDir) {
	key, minb, maxb := args[at], args[at+1], args[at+2]
	withScores := false
	var offset, limit int64 = 0, -1
	for j := at + 3; j < len(args); j++ {
		left := len(args) - j - 1
		switch {
		case !store && resp.EqualFold(args[j], "withscores"):
			withScores = true
		case resp.EqualFold(args[j], "limit") && left >= 2:
			var ok bool
			if offset, ok = resp.ParseInt(args[j+1]); !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if limit, ok = resp.ParseInt(args[j+2]); !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			j += 2
		case dir == zdirAuto && resp.EqualFold(args[j], "rev"):
			dir = zdirReverse
		case typ == zrangeAuto && resp.EqualFold(args[j], "bylex"):
			typ = zrangeLex
		case typ == zrangeAuto && resp.EqualFold(args[j], "byscore"):
			typ = zrangeScore
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	if dir == zdirAuto {
		dir = zdirForward
	}
	if typ == zrangeAuto {
		typ = zrangeRank
	}
	if limit != -1 && typ == zrangeRank {
		c.Error(errZLimitRank)
		return
	}
	if withScores && typ == zrangeLex {
		c.Error(errZLexScores)
		return
	}
	rev := dir == zdirReverse
	if rev && typ != zrangeRank {
		minb, maxb = maxb, minb
	}
	var start, end int64
	var sr scoreRange
	var lr lexRange
	switch typ {
	case zrangeRank:
		var ok bool
		if start, ok = resp.ParseInt(minb); !ok {
			c.Error(resp.ErrNotInt)
			return
		}
		if end, ok = resp.ParseInt(maxb); !ok {
			c.Error(resp.ErrNotInt)
			return
		}
	case zrangeScore:
		var ok bool
		if sr, ok = parseScoreRange(minb, maxb); !ok {
			c.Error(errZMinMax)
			return
		}
	case zrangeLex:
		var ok bool
		if lr, ok = parseLexRange(minb, maxb); !ok {
			c.Error(errZLexRange)
			return
		}
	}
	it, ok := c.readZset(key)
	if !ok {
		return
	}
	// The result: elements at indices [from, to) of the source, in order
	// or reversed, after skipping offset and taking at most limit.
	var from, to int
	if it != nil {
		z := it.zset
		n := int64(z.len())
		switch typ {
		case zrangeRank:
			if start < 0 {
				start += n
			}
			if end < 0 {
				end += n
			}
			start = max(start, 0)
			if start <= end && start < n {
				end = min(end, n-1)
				if rev { // ranks count from the end
					from, to = int(n-1-end), int(n-start)
				} else {
					from, to = int(start), int(end+1)
				}
			}
		case zrangeScore, zrangeLex:
			if typ == zrangeScore {
				from, to = z.scoreIndices(&sr)
			} else {
				from, to = z.lexIndices(&lr)
			}
			switch {
			case offset < 0 || (offset > 0 && offset >= n):
				from, to = 0, 0 // Redis skips every element for a negative offset
			case rev:
				to = max(from, to-int(offset))
				if limit >= 0 && int64(to-from) > limit {
					from = to - int(limit)
				}
			default:
				from = min(to, from+int(offset))
				if limit >= 0 && int64(to-from) > limit {
					to = from + int(limit)
				}
			}
		}
	}
	if store {
		dst := args[1]
		if to <= from {
			c.Int(0)
			if c.Del(dst) {
				c.notify(NotifyGeneric, "del", dst)
			}
			return
		}
		// Redis adds the range to a new listpack in the order it would
		// reply, converting it once it outgrows one: -0 scores added
		// before that are stored as 0.
		out := &item{key: string(dst), kind: KindZSet, zset: newZset()}
		// A rank range's length is known up front: Redis makes a longer
		// one a skiplist from the start.
		out.zset.big = typ == zrangeRank && to-from > zsetMaxListpack
		it.zset.scan(from, to, rev, func(e zent) bool {
			out.zset.set(e.member, e.score)
			return true
		})
		c.Put(out)
		c.Int(int64(to - from))
		c.notify(NotifyZset, "zrangestore", dst)
		return
	}
	per := 1
	if withScores {
		per = 2
	}
	c.Array((to - from) * per)
	if it != nil {
		it.zset.scan(from, to, rev, func(e zent) bool {
			c.BulkString(e.member)
			if withScores {
				c.score(e.score)
			}
			return true
		})
	}
}

// --- removals by range ----------------------------------------------------

func zremrangebyrankCmd(c *Ctx, args [][]byte)  { zremrangeGeneric(c, args, zrangeRank) }
func zremrangebyscoreCmd(c *Ctx, args [][]byte) { zremrangeGeneric(c, args, zrangeScore) }
func zremrangebylexCmd(c *Ctx, args [][]byte)   { zremrangeGeneric(c, args, zrangeLex) }

// ZREMRANGEBYRANK|BYSCORE|BYLEX key min max -> number of members removed.
func zremrangeGeneric(c *Ctx, args [][]byte, typ zrangeType) {
	var start, end int64
	var sr scoreRange
	var lr lexRange
	switch typ {
	case zrangeRank:
		var ok bool
		if start, ok = resp.ParseInt(args[2]); !ok {
			c.Error(resp.ErrNotInt)
			return
		}
		if end, ok = resp.ParseInt(args[3]); !ok {
			c.Error(resp.ErrNotInt)
			return
		}
	case zrangeScore:
		var ok bool
		if sr, ok = parseScoreRange(args[2], args[3]); !ok {
			c.Error(errZMinMax)
			return
		}
	case zrangeLex:
		var ok bool
		if lr, ok = parseLexRange(args[2], args[3]); !ok {
			c.Error(errZLexRange)
			return
		}
	}
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	z := it.zset
	var from, to int
	switch typ {
	case zrangeRank:
		n := int64(z.len())
		if start < 0 {
			start += n
		}
		if end < 0 {
			end += n
		}
		start = max(start, 0)
		if start > end || start >= n {
			c.Int(0)
			return
		}
		from, to = int(start), int(min(end, n-1)+1)
	case zrangeScore:
		from, to = z.scoreIndices(&sr)
	case zrangeLex:
		from, to = z.lexIndices(&lr)
	}
	if to <= from {
		c.Int(0)
		return
	}
	cl := editZset(it, args[1])
	victims := make([]string, 0, to-from)
	z.scan(from, to, false, func(e zent) bool {
		victims = append(victims, e.member)
		return true
	})
	for _, m := range victims {
		cl.zset.remove(m)
	}
	deleted := c.storeZset(cl)
	event := map[zrangeType]string{zrangeRank: "zremrangebyrank", zrangeScore: "zremrangebyscore", zrangeLex: "zremrangebylex"}[typ]
	c.notify(NotifyZset, event, args[1])
	if deleted {
		c.notify(NotifyGeneric, "del", args[1])
	}
	c.Int(int64(len(victims)))
}

// --- pops -------------------------------------------------------------------

func zpopminCmd(c *Ctx, args [][]byte) { zpopCmd(c, args, false) }
func zpopmaxCmd(c *Ctx, args [][]byte) { zpopCmd(c, args, true) }

// ZPOPMIN/ZPOPMAX key [count].
func zpopCmd(c *Ctx, args [][]byte, maxSide bool) {
	if len(args) > 3 {
		c.Error(resp.ErrSyntax)
		return
	}
	count := int64(-1)
	if len(args) == 3 {
		n, ok := resp.ParseInt(args[2])
		if !ok || n < 0 { // Redis words both alike here
			c.Error(errPopCount)
			return
		}
		count = n
	}
	zpopGeneric(c, args[1:2], maxSide, count, false, false)
}

// zpopGeneric is Redis's genericZpopCommand: pops up to count (-1: one)
// elements from the first of keys that exists. emitKey and nested choose
// the reply: ZPOPMIN's flat member/score list, BZPOPMIN's key then
// member and score, ZMPOP's key and pairs (a null array when nothing).
func zpopGeneric(c *Ctx, keys [][]byte, maxSide bool, count int64, emitKey, nested bool) {
	var it *item
	var key []byte
	for _, k := range keys {
		var ok bool
		if it, ok = c.readZset(k); !ok {
			return
		}
		if it != nil {
			key = k
			break
		}
	}
	if it == nil {
		if emitKey {
			c.NullArray()
		} else {
			c.Array(0)
		}
		return
	}
	if count == 0 {
		c.Array(0)
		return
	}
	count = max(count, 1)
	n := int64(it.zset.len())
	take := int(min(count, n))
	switch {
	case !emitKey:
		c.Array(take * 2)
	case !nested:
		c.Array(take*2 + 1)
		c.Bulk(key)
	default:
		c.Array(2)
		c.Bulk(key)
		c.Array(take)
	}
	cl := editZset(it, key)
	for range take {
		var e zent
		if maxSide {
			e, _ = cl.zset.byScore.Max()
		} else {
			e, _ = cl.zset.byScore.Min()
		}
		cl.zset.remove(e.member)
		if nested {
			c.Array(2)
		}
		c.BulkString(e.member)
		c.score(e.score)
	}
	deleted := c.storeZset(cl)
	event := "zpopmin"
	if maxSide {
		event = "zpopmax"
	}
	c.notify(NotifyZset, event, key)
	if deleted {
		c.notify(NotifyGeneric, "del", key)
	}
}

// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count].
func zmpopCmd(c *Ctx, args [][]byte) { zmpop(c, args) }

// zmpop is ZMPOP, args[1] its numkeys (BZMPOP's arguments from its
// timeout).
func zmpop(c *Ctx, args [][]byte) {
	whereAt, maxSide, count, e := parseZmpop(args)
	if e != "" {
		c.Error(e)
		return
	}
	zpopGeneric(c, args[2:whereAt], maxSide, count, true, true)
}

// parseZmpop checks ZMPOP's arguments (args[1] is numkeys) as parseMpop
// does LMPOP's, with MIN|MAX.
func parseZmpop(args [][]byte) (whereAt int, maxSide bool, count int64, errMsg string) {
	numkeys, ok := resp.ParseInt(args[1])
	if !ok || numkeys < 1 {
		return 0, false, 0, errNumkeys
	}
	if numkeys > int64(len(args)-3) {
		return 0, false, 0, resp.ErrSyntax
	}
	whereAt = 2 + int(numkeys)
	switch {
	case resp.EqualFold(args[whereAt], "min"):
	case resp.EqualFold(args[whereAt], "max"):
		maxSide = true
	default:
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
	return whereAt, maxSide, max(count, 1), ""
}

func bzpopminCmd(c *Ctx, args [][]byte) { bzpop(c, args, false) }
func bzpopmaxCmd(c *Ctx, args [][]byte) { bzpop(c, args, true) }

// BZPOPMIN/BZPOPMAX key [key ...] timeout: one attempt -> the key, member
// and score, or a null array.
func bzpop(c *Ctx, args [][]byte, maxSide bool) {
	if _, e := parseBlockTimeout(args[len(args)-1]); e != "" {
		c.Error(e)
		return
	}
	zpopGeneric(c, args[1:len(args)-1], maxSide, -1, true, false)
}

// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
func bzmpopCmd(c *Ctx, args [][]byte) {
	if _, e := parseBlockTimeout(args[1]); e != "" {
		c.Error(e)
		return
	}
	zmpop(c, args[1:])
}

// --- ZUNION ZINTER ZDIFF and their STORE forms ----------------------------------

type zsetOp int

const (
	zopUnion zsetOp = iota
	zopInter
	zopDiff
)

const (
	aggSum = iota
	aggMin
	aggMax
)

// zsrc is one input: a sorted set, a set (every member scores 1), or
// nothing.
type zsrc struct {
	it     *item
	weight float64
}

func (s *zsrc) len() int {
	switch {
	case s.it == nil:
		return 0
	case s.it.kind == KindSet:
		return s.it.members().Len()
	}
	return s.it.zset.len()
}

func (s *zsrc) each(fn func(m string, score float64)) {
	switch {
	case s.it == nil:
	case s.it.kind == KindSet:
		s.it.members().Scan(func(m string) bool {
			fn(m, 1)
			return true
		})
	default:
		s.it.zset.byScore.Scan(func(e zent) bool {
			fn(e.member, e.score)
			return true
		})
	}
}

func (s *zsrc) score(m string) (float64, bool) {
	switch {
	case s.it == nil:
		return 0, false
	case s.it.kind == KindSet:
		return 1, s.it.members().Contains(m)
	}
	return s.it.zset.score(m)
}

func aggregate(target *float64, v float64, agg int) {
	switch agg {
	case aggSum:
		*target += v
		if math.IsNaN(*target) { // inf + -inf: Redis's convention is 0
			*target = 0
		}
	case aggMin: // C's comparison, not Go's min: -0 and 0 are equal
		if v < *target {
			*target = v
		}
	case aggMax:
		if v > *target {
			*target = v
		}
	}
}

func zunionCmd(c *Ctx, args [][]byte)      { zsetopGeneric(c, args, nil, 1, zopUnion, false) }
func zinterCmd(c *Ctx, args [][]byte)      { zsetopGeneric(c, args, nil, 1, zopInter, false) }
func zdiffCmd(c *Ctx, args [][]byte)       { zsetopGeneric(c, args, nil, 1, zopDiff, false) }
func zintercardCmd(c *Ctx, args [][]byte)  { zsetopGeneric(c, args, nil, 1, zopInter, true) }
func zunionstoreCmd(c *Ctx, args [][]byte) { zsetopGeneric(c, args, args[1], 2, zopUnion, false) }
func zinterstoreCmd(c *Ctx, args [][]byte) { zsetopGeneric(c, args, args[1], 2, zopInter, false) }
func zdiffstoreCmd(c *Ctx, args [][]byte)  { zsetopGeneric(c, args, args[1], 2, zopDiff, false) }

// zsetopGeneric is Redis's zunionInterDiffGenericCommand: numkeys at
// args[idx], the keys, then WEIGHTS, AGGREGATE, WITHSCORES or (ZINTERCARD)
// LIMIT.
func zsetopGeneric(c *Ctx, args [][]byte, dst []byte, idx int, op zsetOp, cardOnly bool) {
	n, ok := resp.ParseInt(args[idx])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if n < 1 {
		c.Error(fmtZNumkeys(string(lowerBytes(args[0]))))
		return
	}
	if n > int64(len(args)-idx-1) {
		c.Error(resp.ErrSyntax)
		return
	}
	srcs := make([]zsrc, n)
	j := idx + 1
	for i := range srcs {
		it := c.Get(args[j])
		if it != nil && it.kind != KindZSet && it.kind != KindSet {
			c.Error(resp.ErrWrongType)
			return
		}
		srcs[i] = zsrc{it: it, weight: 1}
		j++
	}
	agg, withScores := aggSum, false
	var limit int64
	for j < len(args) {
		left := len(args) - j
		switch {
		case op != zopDiff && !cardOnly && left >= len(srcs)+1 && resp.EqualFold(args[j], "weights"):
			j++
			for i := range srcs {
				w, ok := parseScore(args[j])
				if !ok {
					c.Error(errZWeight)
					return
				}
				srcs[i].weight = w
				j++
			}
		case op != zopDiff && !cardOnly && left >= 2 && resp.EqualFold(args[j], "aggregate"):
			switch a := args[j+1]; {
			case resp.EqualFold(a, "sum"):
				agg = aggSum
			case resp.EqualFold(a, "min"):
				agg = aggMin
			case resp.EqualFold(a, "max"):
				agg = aggMax
			default:
				c.Error(resp.ErrSyntax)
				return
			}
			j += 2
		case dst == nil && !cardOnly && resp.EqualFold(args[j], "withscores"):
			withScores = true
			j++
		case cardOnly && left >= 2 && resp.EqualFold(args[j], "limit"):
			l, ok := resp.ParseInt(args[j+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if l < 0 {
				c.Error(errZLimitNeg)
				return
			}
			limit = l
			j += 2
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	if op != zopDiff { // smallest first, as Redis sorts them (stably)
		slices.SortStableFunc(srcs, func(a, b zsrc) int { return a.len() - b.len() })
	}
	if cardOnly {
		c.Int(zintercard(srcs, limit))
		return
	}
	out := newZset()
	out.big = true // Redis builds the result as a skiplist
	switch op {
	case zopUnion:
		for i := range srcs {
			s := &srcs[i]
			s.each(func(m string, score float64) {
				v := s.weight * score
				if math.IsNaN(v) {
					v = 0
				}
				if cur, has := out.score(m); has {
					aggregate(&cur, v, agg)
					out.put(m, cur, true)
				} else {
					out.set(m, v)
				}
			})
		}
	case zopInter:
		if srcs[0].len() > 0 {
			srcs[0].each(func(m string, score float64) {
				v := srcs[0].weight * score
				if math.IsNaN(v) {
					v = 0
				}
				for i := 1; i < len(srcs); i++ {
					s, has := srcs[i].score(m)
					if !has {
						return
					}
					// Unlike the first set's, a NaN here (0 × inf) is
					// not made 0: Redis hands it to the aggregate, whose
					// SUM turns the total into 0 and MIN/MAX ignore it.
					aggregate(&v, srcs[i].weight*s, agg)
				}
				out.set(m, v)
			})
		}
	case zopDiff:
		srcs[0].each(func(m string, score float64) {
			for i := 1; i < len(srcs); i++ {
				if _, has := srcs[i].score(m); has {
					return
				}
			}
			out.set(m, score)
		})
	}
	if dst != nil {
		if out.len() == 0 {
			c.Int(0)
			if c.Del(dst) {
				c.notify(NotifyGeneric, "del", dst)
			}
			return
		}
		out.settle()
		c.Put(&item{key: string(dst), kind: KindZSet, zset: out})
		c.Int(int64(out.len()))
		c.notify(NotifyZset, [...]string{"zunionstore", "zinterstore", "zdiffstore"}[op], dst)
		return
	}
	per := 1
	if withScores {
		per = 2
	}
	c.Array(out.len() * per)
	out.byScore.Scan(func(e zent) bool {
		c.BulkString(e.member)
		if withScores {
			c.score(e.score)
		}
		return true
	})
}

// zintercard counts the intersection, stopping at limit (0: none).
func zintercard(srcs []zsrc, limit int64) int64 {
	var n int64
	if srcs[0].len() == 0 {
		return 0
	}
	stop := false
	srcs[0].each(func(m string, _ float64) {
		if stop {
			return
		}
		for i := 1; i < len(srcs); i++ {
			if _, has := srcs[i].score(m); !has {
				return
			}
		}
		n++
		if limit > 0 && n >= limit {
			stop = true
		}
	})
	return n
}

func fmtZNumkeys(name string) string {
	return "ERR at least 1 input key is needed for '" + name + "' command"
}

func lowerBytes(b []byte) []byte {
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return out
}

// --- ZRANDMEMBER ZSCAN --------------------------------------------------------

// ZRANDMEMBER key [count [WITHSCORES]]: its randomness is the caller's
// (Ctx.Rand), as HRANDFIELD's. A count at least the set's size returns the
// whole set from the highest score down, as Redis does; a smaller one distinct members,
// in score order; a negative one -count picks that may repeat.
func zrandmemberCmd(c *Ctx, args [][]byte) {
	if len(args) == 2 {
		it, ok := c.readZset(args[1])
		if !ok {
			return
		}
		if it == nil {
			c.Null()
			return
		}
		r := newElemRand(c.Rand)
		c.BulkString(it.zset.at(r.intn(it.zset.len())).member)
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
	withScores := false
	switch {
	case len(args) > 4 || (len(args) == 4 && !resp.EqualFold(args[3], "withscores")):
		c.Error(resp.ErrSyntax)
		return
	case len(args) == 4:
		withScores = true
		if l < -math.MaxInt64/2 || l > math.MaxInt64/2 {
			c.Error(errValueOutOfRange)
			return
		}
	}
	it, ok := c.readZset(args[1])
	if !ok {
		return
	}
	if it == nil || l == 0 {
		c.Array(0)
		return
	}
	z := it.zset
	size := z.len()
	per := 1
	if withScores {
		per = 2
	}
	emit := func(e zent) {
		c.BulkString(e.member)
		if withScores {
			c.score(e.score)
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
			emit(z.at(r.intn(size)))
		}
		return
	}
	if l >= int64(size) {
		c.Array(size * per)
		z.byScore.Reverse(func(e zent) bool {
			emit(e)
			return true
		})
		return
	}
	idx := r.sample(size, int(l))
	c.Array(len(idx) * per)
	for _, i := range idx {
		emit(z.at(i))
	}
}

// ZSCAN key cursor [MATCH pattern] [COUNT count]. A set Redis would keep
// as a listpack (zset.big false) comes whole, in score order, with cursor
// 0, exactly as Redis answers. A larger one is
// walked by member hash: the cursor is the hash of the next member plus
// one (0 when done), so a member present from the first call to the last
// is returned at least once however the set changes, as Redis promises.
// Each call visits COUNT members (default 10), a group of members of one
// hash never split.
func zscanCmd(c *Ctx, args [][]byte) {
	if !elemScanCursorOK(args[2]) {
		c.Error(ErrCursor)
		return
	}
	cursor, _ := strconv.ParseUint(string(cString(args[2])), 10, 64)
	it, ok := c.readZset(args[1])
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
	pat, count := o.pat, int64(o.count)
	z := it.zset
	var hits []zent
	if !z.big {
		z.byScore.Scan(func(e zent) bool {
			if pat == nil || Match(pat, []byte(e.member)) {
				hits = append(hits, e)
			}
			return true
		})
		cursor = 0
	} else {
		var next uint64
		visited := int64(0)
		var lastH uint64
		z.byMember.Ascend(zmem{h: cursor - min(cursor, 1)}, func(e zmem) bool {
			if visited >= count && e.h != lastH {
				next = e.h + 1
				return false
			}
			visited++
			lastH = e.h
			if pat == nil || Match(pat, []byte(e.member)) {
				hits = append(hits, zent{e.score, e.member})
			}
			return true
		})
		cursor = next
	}
	c.Array(2)
	c.BulkString(strconv.FormatUint(cursor, 10))
	c.Array(len(hits) * 2)
	for _, e := range hits {
		c.BulkString(e.member)
		if z.big {
			c.score(e.score)
		} else {
			c.BulkString(listpackScore(e.score))
		}
	}
}

// listpackScore is a score as a listpack holds it and ZSCAN returns it: an
// integer when it is one within ±2^62 (Redis's double2ll), else "%.17g".
func listpackScore(s float64) string {
	if s >= -(1<<62) && s <= 1<<62 && s == math.Trunc(s) {
		return strconv.FormatInt(int64(s), 10)
	}
	return formatScore(s)
}
