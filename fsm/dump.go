package fsm

import (
	"math"

	"github.com/statehouse/statehouse/internal/resp"
)

// DUMP and RESTORE: values in Redis's own serialization (rdb.go), so keys
// move between statehouse and any Redis. RESTORE is a write like any
// other: the payload travels in the log and every replica decodes it in
// its apply, which is deterministic (the decoder reads nothing but the
// payload).

var dumpCommands = []*Command{
	{Name: "dump", Arity: 2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: dumpCmd},
	{Name: "restore", Arity: -4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatKeyspace | CatDangerous, Group: "generic", Handler: restoreCmd},
}

// DUMP key -> the serialized value, or nil.
func dumpCmd(c *Ctx, args [][]byte) {
	it := c.Get(args[1])
	if it == nil {
		c.Null()
		return
	}
	c.Bulk(dumpItem(it))
}

// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds]
// [FREQ frequency] -> OK. Checks in Redis 7.0's order: options, the key
// (BUSYKEY), the TTL, the payload's footer, then the object. IDLETIME and
// FREQ are checked and accepted; statehouse keeps no access clock or
// counter for them to set.
func restoreCmd(c *Ctx, args [][]byte) {
	replace, absttl := false, false
	idle, freq := false, false
	for j := 4; j < len(args); j++ {
		more := len(args) - j - 1
		switch {
		case resp.EqualFold(args[j], "replace"):
			replace = true
		case resp.EqualFold(args[j], "absttl"):
			absttl = true
		case resp.EqualFold(args[j], "idletime") && more >= 1 && !freq:
			n, ok := resp.ParseInt(args[j+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if n < 0 {
				c.Error(errInvalidIdle)
				return
			}
			idle = true
			j++
		case resp.EqualFold(args[j], "freq") && more >= 1 && !idle:
			n, ok := resp.ParseInt(args[j+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			if n < 0 || n > 255 {
				c.Error(errInvalidFreq)
				return
			}
			freq = true
			j++
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	if !replace && c.Get(args[1]) != nil {
		c.Error(errBusyKey)
		return
	}
	ttl, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if ttl < 0 {
		c.Error(errInvalidTTL)
		return
	}
	obj, ok := VerifyDump(args[3])
	if !ok {
		c.Error(errDumpPayload)
		return
	}
	o, err := decodeDump(obj)
	if err != nil {
		c.Error(errBadDataFormat)
		return
	}
	it, msg := o.item(string(args[1]))
	if msg != "" {
		c.Error(msg)
		return
	}
	deleted := false
	if replace {
		deleted = c.Del(args[1])
	}
	deadline := ttl
	if ttl != 0 && !absttl {
		if ttl > math.MaxInt64-c.Now {
			deadline = -1 // Redis's sum overflows too: already expired
		} else {
			deadline = ttl + c.Now
		}
	}
	if ttl != 0 && deadline <= c.Now {
		if deleted {
			c.notify(NotifyGeneric, "del", args[1])
		}
		c.OK()
		return
	}
	it.deadline = deadline
	c.Put(it)
	c.notify(NotifyGeneric, "restore", args[1])
	c.OK()
}
