package fsm

import (
	"github.com/statehouse/statehouse/internal/resp"
	"github.com/tidwall/btree"
)

// Set commands. A set is a *btree.Set[string]; replies list members in
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
	var cl *item
	var s *btree.Set[string]
	if it == nil {
		cl = &item{key: string(args[1]), kind: KindSet, set: new(btree.Set[string])}
		s = cl.set
	}
	var n int64
	for _, m := range args[2:] {
		if s == nil { // existing set: clone once a member is really new
			if it.set.Contains(string(m)) {
				continue
			}
			cl = it.clone()
			s = cl.mutSet()
		}
		if !s.Contains(string(m)) {
			s.Insert(string(m))
			n++
		}
	}
	if n > 0 {
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
	var cl *item
	var s *btree.Set[string]
	var n int64
	for _, m := range args[2:] {
		if s == nil {
			if !it.set.Contains(string(m)) {
				continue
			}
			cl = it.clone()
			s = cl.mutSet()
		}
		if s.Contains(string(m)) {
			s.Delete(string(m))
			n++
		}
	}
	switch {
	case n == 0:
	case s.Len() == 0:
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
	c.Array(it.set.Len())
	it.set.Scan(func(m string) bool {
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
	if it != nil && it.set.Contains(string(args[2])) {
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
		if it != nil && it.set.Contains(string(m)) {
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
	c.Int(int64(it.set.Len()))
}

// SSCAN key cursor [MATCH pattern] [COUNT count] -> cursor "0" and every
// matching member, as Redis answers for a small (intset) set; checks in
// Redis's order, as HSCAN.
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
		elemScanReply(c, 0)
		return
	}
	pat, ok := elemScanOptions(c, args[3:])
	if !ok {
		return
	}
	if pat == nil {
		elemScanReply(c, it.set.Len())
		it.set.Scan(func(m string) bool {
			c.BulkString(m)
			return true
		})
		return
	}
	var hits []string
	it.set.Scan(func(m string) bool {
		if Match(pat, []byte(m)) {
			hits = append(hits, m)
		}
		return true
	})
	elemScanReply(c, len(hits))
	for _, m := range hits {
		c.BulkString(m)
	}
}
