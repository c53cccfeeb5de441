package fsm

import (
	"math"
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// Generic key commands: existence, expiry, renaming, copying and walking the
// keyspace. Replies and error texts follow Redis 7.0.
//
// Handlers that walk the tree (KEYS, SCAN, RANDOMKEY, DBSIZE) may run inside
// a MULTI, that is in a write Ctx; they test expiry on the items themselves
// rather than through Get, which would delete from the tree being walked.

var keyCommands = []*Command{
	{Name: "del", Arity: -2, Flags: FlagWrite, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: delCmd},
	{Name: "unlink", Arity: -2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: delCmd},
	{Name: "exists", Arity: -2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: existsCmd},
	{Name: "touch", Arity: -2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: existsCmd},
	{Name: "type", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: typeCmd},
	{Name: "expire", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: expireCmd},
	{Name: "pexpire", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: pexpireCmd},
	{Name: "expireat", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: expireatCmd},
	{Name: "pexpireat", Arity: -3, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: pexpireatCmd},
	{Name: "ttl", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: ttlCmd},
	{Name: "pttl", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: pttlCmd},
	{Name: "expiretime", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: expiretimeCmd},
	{Name: "pexpiretime", Arity: 2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: pexpiretimeCmd},
	{Name: "persist", Arity: 2, Flags: FlagWrite | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: persistCmd},
	{Name: "rename", Arity: 3, Flags: FlagWrite | FlagKeyAccess, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: renameCmd},
	{Name: "renamenx", Arity: 3, Flags: FlagWrite | FlagKeyAccess | FlagFast, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: renamenxCmd},
	{Name: "copy", Arity: -3, Flags: FlagWrite | FlagKeyAccess | FlagDenyOOM, FirstKey: 1, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: copyCmd},
	{Name: "keys", Arity: 2, Flags: FlagReadOnly, Categories: CatKeyspace | CatDangerous, Group: "generic", Handler: keysCmd},
	{Name: "scan", Arity: -2, Flags: FlagReadOnly, Categories: CatKeyspace, Group: "generic", Handler: scanCmd},
	{Name: "randomkey", Arity: 1, Flags: FlagReadOnly, Categories: CatKeyspace, Group: "generic", Handler: randomkeyCmd},
	{Name: "dbsize", Arity: 1, Flags: FlagReadOnly | FlagFast, Categories: CatKeyspace, Group: "server", Handler: dbsizeCmd},
	{Name: "flushdb", Arity: -1, Flags: FlagWrite, Categories: CatKeyspace | CatDangerous, Group: "server", Handler: flushdbCmd},
	{Name: "flushall", Arity: -1, Flags: FlagWrite, Categories: CatKeyspace | CatDangerous, Group: "server", Handler: flushallCmd},
}

// inDB returns a Ctx on database db with this one's clock, revision and
// mode. Its replies go to its own Out, which callers ignore.
func (c *Ctx) inDB(db int) Ctx {
	c.f.saveDB(db)
	d := *c
	d.DB, d.ks, d.Out = db, c.f.dbs[db], nil
	return d
}

// DEL, UNLINK: the number of live keys removed (a key named twice counts once).
// A key past its deadline is removed by the lookup with its "expired"
// event, as Redis's expireIfNeeded does: the leader's reap finds nothing
// left to delete afterwards, so without it the event would never fire.
func delCmd(c *Ctx, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.Get(k) != nil && c.Del(k) {
			n++
			c.notify(NotifyGeneric, "del", k)
		}
	}
	c.Int(n)
}

// EXISTS, TOUCH: the number of arguments naming a live key (repeats count).
func existsCmd(c *Ctx, args [][]byte) {
	var n int64
	for _, k := range args[1:] {
		if c.Get(k) != nil {
			n++
		}
	}
	c.Int(n)
}

func typeCmd(c *Ctx, args [][]byte) {
	if it := c.Get(args[1]); it != nil {
		c.Status(it.kind.String())
		return
	}
	c.Status("none")
}

// --- expiry -------------------------------------------------------------------

const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

func expireCmd(c *Ctx, args [][]byte)    { expireGeneric(c, args, c.Now, 1000) }
func pexpireCmd(c *Ctx, args [][]byte)   { expireGeneric(c, args, c.Now, 1) }
func expireatCmd(c *Ctx, args [][]byte)  { expireGeneric(c, args, 0, 1000) }
func pexpireatCmd(c *Ctx, args [][]byte) { expireGeneric(c, args, 0, 1) }

// expireGeneric follows Redis's expireGenericCommand: options first, then
// the number, then the overflow checks, and only then the key. A deadline
// at or before now deletes the key and answers 1.
func expireGeneric(c *Ctx, args [][]byte, base, unit int64) {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case resp.EqualFold(opt, "nx"):
			flags |= expireNX
		case resp.EqualFold(opt, "xx"):
			flags |= expireXX
		case resp.EqualFold(opt, "gt"):
			flags |= expireGT
		case resp.EqualFold(opt, "lt"):
			flags |= expireLT
		default:
			c.Error("ERR Unsupported option " + string(opt))
			return
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		c.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		c.Error("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if unit != 1 {
		if when > math.MaxInt64/unit || when < math.MinInt64/unit {
			c.invalidExpire(args[0])
			return
		}
		when *= unit
	}
	if when > math.MaxInt64-base {
		c.invalidExpire(args[0])
		return
	}
	when += base

	it := c.Get(args[1])
	if it == nil {
		c.Int(0)
		return
	}
	cur := it.deadline // 0: no TTL, which GT and LT treat as infinite
	if flags&expireNX != 0 && cur != 0 ||
		flags&expireXX != 0 && cur == 0 ||
		flags&expireGT != 0 && (cur == 0 || when <= cur) ||
		flags&expireLT != 0 && cur != 0 && when >= cur {
		c.Int(0)
		return
	}
	if when <= c.Now {
		c.Del(args[1])
		c.notify(NotifyGeneric, "del", args[1])
		c.Int(1)
		return
	}
	n := it.clone()
	n.deadline = when
	c.Put(n)
	c.notify(NotifyGeneric, "expire", args[1])
	c.Int(1)
}

func (c *Ctx) invalidExpire(name []byte) {
	c.Error("ERR invalid expire time in '" + strings.ToLower(string(name)) + "' command")
}

func ttlCmd(c *Ctx, args [][]byte)         { ttlGeneric(c, args[1], false, false) }
func pttlCmd(c *Ctx, args [][]byte)        { ttlGeneric(c, args[1], true, false) }
func expiretimeCmd(c *Ctx, args [][]byte)  { ttlGeneric(c, args[1], false, true) }
func pexpiretimeCmd(c *Ctx, args [][]byte) { ttlGeneric(c, args[1], true, true) }

// ttlGeneric answers -2 for a missing key, -1 for one without a TTL, else the
// time left (or the deadline, abs), seconds rounded to nearest as Redis does.
func ttlGeneric(c *Ctx, key []byte, ms, abs bool) {
	it := c.Get(key)
	switch {
	case it == nil:
		c.Int(-2)
		return
	case it.deadline == 0:
		c.Int(-1)
		return
	}
	ttl := it.deadline
	if !abs {
		ttl -= c.Now
	}
	if ttl < 0 {
		ttl = 0
	}
	if !ms {
		// Unsigned, so a deadline near MaxInt64 rounds up as Redis's build
		// does (9223372036854775807 ms -> 9223372036854776 s).
		ttl = int64((uint64(ttl) + 500) / 1000)
	}
	c.Int(ttl)
}

func persistCmd(c *Ctx, args [][]byte) {
	it := c.Get(args[1])
	if it == nil || it.deadline == 0 {
		c.Int(0)
		return
	}
	n := it.clone()
	n.deadline = 0
	c.Put(n)
	c.notify(NotifyGeneric, "persist", args[1])
	c.Int(1)
}

// --- rename and copy --------------------------------------------------------------

func renameCmd(c *Ctx, args [][]byte)   { renameGeneric(c, args, false) }
func renamenxCmd(c *Ctx, args [][]byte) { renameGeneric(c, args, true) }

// renameGeneric moves the value and its TTL to the new name. The item is
// immutable, so the moved one shares its contents with the old.
func renameGeneric(c *Ctx, args [][]byte, nx bool) {
	src := c.Get(args[1])
	if src == nil {
		c.Error(ErrNoSuchKey)
		return
	}
	if string(args[1]) == string(args[2]) {
		if nx {
			c.Int(0)
		} else {
			c.OK()
		}
		return
	}
	if nx && c.Get(args[2]) != nil {
		c.Int(0)
		return
	}
	n := src.clone()
	n.key = string(args[2])
	n.h = keyHash(n.key)
	c.Del(args[1])
	c.Put(n) // replaces the destination, TTL index included
	c.notify(NotifyGeneric, "rename_from", args[1])
	c.notify(NotifyGeneric, "rename_to", args[2])
	if nx {
		c.Int(1)
	} else {
		c.OK()
	}
}

// copyCmd: COPY source destination [DB destination-db] [REPLACE].
func copyCmd(c *Ctx, args [][]byte) {
	dbid, replace := c.DB, false
	for j := 3; j < len(args); j++ {
		switch {
		case resp.EqualFold(args[j], "replace"):
			replace = true
		case resp.EqualFold(args[j], "db") && j+1 < len(args):
			n, ok := resp.ParseInt(args[j+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if n < math.MinInt32 || n > math.MaxInt32 {
				c.Error("ERR value is out of range, value must between -2147483648 and 2147483647")
				return
			}
			if n < 0 || n >= NumDBs {
				c.Error(resp.ErrDBIndex)
				return
			}
			dbid = int(n)
			j++
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	if dbid == c.DB && string(args[1]) == string(args[2]) {
		c.Error("ERR source and destination objects are the same")
		return
	}
	src := c.Get(args[1])
	if src == nil {
		c.Int(0)
		return
	}
	dst := c.inDB(dbid)
	if dst.Get(args[2]) != nil && !replace {
		c.Int(0)
		return
	}
	n := src.clone()
	n.key = string(args[2])
	n.h = keyHash(n.key)
	if n.hash != nil {
		n.hash = n.hash.Copy()
	}
	if n.set != nil {
		n.set = n.set.Copy()
	}
	dst.Put(n) // keeps the source's deadline
	dst.notify(NotifyGeneric, "copy_to", args[2])
	c.Int(1)
}

// --- walking the keyspace -----------------------------------------------------------

func keysCmd(c *Ctx, args [][]byte) {
	pat := args[1]
	all := len(pat) == 1 && pat[0] == '*'
	var keys []string
	c.ks.keys.Scan(func(it *item) bool {
		if !it.expired(c.Now) && (all || Match(pat, []byte(it.key))) {
			keys = append(keys, it.key)
		}
		return true
	})
	c.Array(len(keys))
	for _, k := range keys {
		c.BulkString(k)
	}
}

// scanCmd: SCAN cursor [MATCH pattern] [COUNT count] [TYPE type].
//
// The tree is ordered by (h, key). A cursor is the h to resume from plus
// one (0 starts and ends a scan). A call visits at least COUNT items, and
// never stops between two items of the same h, so a key present for a
// whole scan is returned at least once whatever is added or removed between
// calls.
func scanCmd(c *Ctx, args [][]byte) {
	cursor, ok := parseCursor(args[1])
	if !ok {
		c.Error(ErrCursor)
		return
	}
	count := int64(10)
	var pat, typ []byte
	usePat := false
	for i := 2; i < len(args); i += 2 {
		more := i+1 < len(args)
		switch {
		case resp.EqualFold(args[i], "count") && more:
			n, ok := resp.ParseInt(args[i+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if n < 1 {
				c.Error(resp.ErrSyntax)
				return
			}
			count = n
		case resp.EqualFold(args[i], "match") && more:
			pat = args[i+1]
			usePat = !(len(pat) == 1 && pat[0] == '*')
		case resp.EqualFold(args[i], "type") && more:
			typ = args[i+1]
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}

	var start uint64
	if cursor != 0 {
		start = cursor - 1
	}
	var (
		keys    []string
		visited int64
		lastH   uint64
		next    uint64
	)
	c.ks.keys.Ascend(&item{h: start}, func(it *item) bool {
		if visited >= count && it.h != lastH {
			next = it.h + 1
			return false
		}
		visited++
		lastH = it.h
		if it.expired(c.Now) ||
			usePat && !Match(pat, []byte(it.key)) ||
			typ != nil && !resp.EqualFold(typ, it.kind.String()) {
			return true
		}
		keys = append(keys, it.key)
		return true
	})

	c.Array(2)
	c.Bulk(strconv.AppendUint(nil, next, 10))
	c.Array(len(keys))
	for _, k := range keys {
		c.BulkString(k)
	}
}

// parseCursor reads a cursor as Redis does, with C's strtoul: no leading
// space, an optional sign ("-1" wraps to 2^64-1), decimal digits, nothing
// after them; the empty string is 0. The argument ends at a NUL, as a C
// string does.
func parseCursor(b []byte) (uint64, bool) {
	for i, ch := range b {
		if ch == 0 {
			b = b[:i]
			break
		}
	}
	if len(b) == 0 {
		return 0, true
	}
	switch b[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return 0, false
	}
	neg := false
	digits := b
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		digits = b[1:]
	}
	if len(digits) == 0 {
		return 0, false // strtoul read nothing: the sign is left over
	}
	var n uint64
	for _, ch := range digits {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		d := uint64(ch - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false // ERANGE
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

// randomkeyCmd picks a pivot hash from c.Rand and answers the first live key
// at or after it, wrapping around to the start of the tree.
func randomkeyCmd(c *Ctx, _ [][]byte) {
	pivot := c.Rand >> 1 // keyHash is 63 bits
	var found *item
	c.ks.keys.Ascend(&item{h: pivot}, func(it *item) bool {
		if !it.expired(c.Now) {
			found = it
			return false
		}
		return true
	})
	if found == nil {
		c.ks.keys.Scan(func(it *item) bool {
			if it.h >= pivot {
				return false
			}
			if !it.expired(c.Now) {
				found = it
				return false
			}
			return true
		})
	}
	if found == nil {
		c.Null()
		return
	}
	c.BulkString(found.key)
}

// dbsizeCmd counts live keys: the stored ones less those whose deadline has
// passed but which the leader has not reaped yet (found through the deadline
// index, so the cost is the number of such keys).
func dbsizeCmd(c *Ctx, _ [][]byte) {
	n := int64(c.ks.keys.Len())
	c.ks.ttls.Scan(func(r ttlRef) bool {
		if r.deadline >= c.Now {
			return false
		}
		n--
		return true
	})
	c.Int(n)
}

// flushOK checks FLUSHDB/FLUSHALL's only option, ASYNC or SYNC; both flush
// at once here.
func flushOK(c *Ctx, args [][]byte) bool {
	if len(args) == 1 || len(args) == 2 && (resp.EqualFold(args[1], "async") || resp.EqualFold(args[1], "sync")) {
		return true
	}
	c.Error(resp.ErrSyntax)
	return false
}

// Snapshots hold their own copies of the keyspaces, so replacing one is safe.
func flushdbCmd(c *Ctx, args [][]byte) {
	if !flushOK(c, args) {
		return
	}
	c.mustWrite()
	c.f.saveDB(c.DB)
	c.f.dbs[c.DB] = c.f.dbs[c.DB].flushed(c.Rev)
	c.ks = c.f.dbs[c.DB]
	c.OK()
}

func flushallCmd(c *Ctx, args [][]byte) {
	if !flushOK(c, args) {
		return
	}
	c.mustWrite()
	for i := range c.f.dbs {
		c.f.saveDB(i)
		c.f.dbs[i] = c.f.dbs[i].flushed(c.Rev)
	}
	c.ks = c.f.dbs[c.DB]
	c.OK()
}
