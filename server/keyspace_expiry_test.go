package server

// Real-time expiry: keys given a short TTL disappear.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Keys given a short TTL in every way a client can give one disappear for
// every command, and the leader reclaims them; keys without a TTL, or a
// long one, stay.
func TestKeyspaceExpiry(t *testing.T) {
	n, c := ksNode(t)
	k := checker{t}
	const short = 200 * time.Millisecond
	// Sub-second TTLs are asserted at most this; second TTLs at most 1s.
	type setup struct {
		key   string
		max   time.Duration
		write func(key string) redis.Cmder
	}
	set := func(key string) { k.eq(c.Set(kctx, key, "v", 0), "OK") }
	setups := []setup{
		{"set-px", short, func(key string) redis.Cmder { return c.Set(kctx, key, "v", short) }},
		{"set-ex", time.Second, func(key string) redis.Cmder { return c.SetArgs(kctx, key, "v", redis.SetArgs{TTL: time.Second}) }},
		{"set-pxat", 300 * time.Millisecond, func(key string) redis.Cmder {
			return do(c, "set", key, "v", "PXAT", time.Now().Add(300*time.Millisecond).UnixMilli())
		}},
		{"set-exat", time.Second, func(key string) redis.Cmder {
			return do(c, "set", key, "v", "EXAT", time.Now().Unix()+1)
		}},
		{"set-nx-px", short, func(key string) redis.Cmder { return c.SetNX(kctx, key, "v", short) }},
		{"set-get-px", short, func(key string) redis.Cmder {
			set(key)
			return c.SetArgs(kctx, key, "w", redis.SetArgs{TTL: short, Get: true})
		}},
		{"setex", time.Second, func(key string) redis.Cmder { return c.SetEx(kctx, key, "v", time.Second) }},
		{"psetex", short, func(key string) redis.Cmder { return do(c, "psetex", key, short.Milliseconds(), "v") }},
		{"getex-px", short, func(key string) redis.Cmder { set(key); return c.GetEx(kctx, key, short) }},
		{"getex-pxat", short, func(key string) redis.Cmder {
			set(key)
			return do(c, "getex", key, "PXAT", time.Now().Add(short).UnixMilli())
		}},
		{"expire", time.Second, func(key string) redis.Cmder { set(key); return c.Expire(kctx, key, time.Second) }},
		{"expire-nx", time.Second, func(key string) redis.Cmder { set(key); return c.ExpireNX(kctx, key, time.Second) }},
		{"pexpire", short, func(key string) redis.Cmder { set(key); return c.PExpire(kctx, key, short) }},
		{"pexpire-lt", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key, "v", time.Hour), "OK")
			return do(c, "pexpire", key, short.Milliseconds(), "LT")
		}},
		{"expireat", time.Second, func(key string) redis.Cmder {
			set(key)
			return c.ExpireAt(kctx, key, time.Unix(time.Now().Unix()+1, 0))
		}},
		{"pexpireat", short, func(key string) redis.Cmder {
			set(key)
			return c.PExpireAt(kctx, key, time.Now().Add(short))
		}},
		{"keepttl", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key, "v", short), "OK")
			return c.SetArgs(kctx, key, "w", redis.SetArgs{KeepTTL: true})
		}},
		{"incr-keeps", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key, "1", short), "OK")
			return c.Incr(kctx, key)
		}},
		{"append-keeps", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key, "a", short), "OK")
			return c.Append(kctx, key, "b")
		}},
		{"renamed", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key+"-src", "v", short), "OK")
			return c.Rename(kctx, key+"-src", key)
		}},
		{"copied", short, func(key string) redis.Cmder {
			k.eq(c.Set(kctx, key+"-src", "v", short), "OK")
			return do(c, "copy", key+"-src", key)
		}},
		{"hash", short, func(key string) redis.Cmder {
			k.eq(c.HSet(kctx, key, "f", "v", "g", "w"), 2)
			return c.PExpire(kctx, key, short)
		}},
		{"hash-hset-keeps", short, func(key string) redis.Cmder {
			k.eq(c.HSet(kctx, key, "f", "v"), 1)
			k.eq(c.PExpire(kctx, key, short), true)
			return c.HSet(kctx, key, "g", "w")
		}},
		{"set", short, func(key string) redis.Cmder {
			k.eq(c.SAdd(kctx, key, "a", "b"), 2)
			return c.PExpire(kctx, key, short)
		}},
		{"set-sadd-keeps", short, func(key string) redis.Cmder {
			k.eq(c.SAdd(kctx, key, "a"), 1)
			k.eq(c.PExpire(kctx, key, short), true)
			return c.SAdd(kctx, key, "b")
		}},
	}
	// Keys that must outlive them all.
	k.eq(c.Set(kctx, "stays", "v", 0), "OK")
	k.eq(c.Set(kctx, "stays-long", "v", time.Hour), "OK")
	k.eq(c.HSet(kctx, "stays-hash", "f", "v"), 1)
	k.eq(c.Set(kctx, "persisted", "v", short), "OK")
	k.eq(c.Persist(kctx, "persisted"), true)
	k.eq(c.Set(kctx, "re-set", "v", short), "OK")
	k.eq(c.Set(kctx, "re-set", "w", 0), "OK") // a plain SET drops the TTL
	k.eq(c.Set(kctx, "getex-persist", "v", short), "OK")
	k.eq(c.GetEx(kctx, "getex-persist", 0), "v")
	survivors := []string{"getex-persist", "persisted", "re-set", "stays", "stays-hash", "stays-long"}

	var doomed []string
	for _, s := range setups {
		k.ok(s.write(s.key))
		doomed = append(doomed, s.key)
		// Right after: gone already (a slow machine) or a TTL within bounds.
		pttl := c.PTTL(kctx, s.key)
		if v := pttl.Val(); pttl.Err() != nil || (v != -2 && (v <= 0 || v > s.max)) {
			t.Errorf("%s: PTTL right after = %v, %v; want in (0, %v] or -2", s.key, v, pttl.Err(), s.max)
		}
		ttl := c.TTL(kctx, s.key)
		if v := ttl.Val(); ttl.Err() != nil || (v != -2 && (v < 0 || v > time.Second)) {
			t.Errorf("%s: TTL right after = %v, %v; want 0, 1s or -2", s.key, v, ttl.Err())
		}
	}
	k.within(c.TTL(kctx, "stays-long"), int64(59*time.Minute), int64(time.Hour))

	eventually(t, "every short-TTL key gone", func() bool {
		return c.Exists(kctx, doomed...).Val() == 0
	})
	for _, key := range doomed {
		k.null(c.Get(kctx, key))
		k.eq(c.TTL(kctx, key), time.Duration(-2))
		k.eq(c.PTTL(kctx, key), time.Duration(-2))
		k.eq(c.ExpireTime(kctx, key), time.Duration(-2))
		k.eq(c.Type(kctx, key), "none")
		k.eq(c.Persist(kctx, key), false)
		k.eq(c.Expire(kctx, key, time.Hour), false)
	}
	k.eq(c.HGetAll(kctx, "hash"), map[string]string{})
	k.null(c.HGet(kctx, "hash", "f"))
	k.eq(c.HLen(kctx, "hash-hset-keeps"), 0)
	k.eq(c.SMembers(kctx, "set"), []string{})
	k.eq(c.SIsMember(kctx, "set-sadd-keeps", "a"), false)
	k.eq(c.SCard(kctx, "set-sadd-keeps"), 0)
	k.eq(c.MGet(kctx, "set-px", "stays"), []any{nil, "v"})
	k.err(c.Rename(kctx, "set-px", "x"), errNoSuchKey)
	k.eq(c.Copy(kctx, "set-px", "x", 0, false), 0)
	keys, err := c.Keys(kctx, "*").Result()
	slices.Sort(keys)
	if err != nil || !slices.Equal(keys, survivors) {
		t.Errorf("KEYS * after expiry = %q, %v; want %q", keys, err, survivors)
	}
	var scanned []string
	iter := c.Scan(kctx, 0, "", 3).Iterator()
	for iter.Next(kctx) {
		scanned = append(scanned, iter.Val())
	}
	slices.Sort(scanned)
	if !slices.Equal(scanned, survivors) {
		t.Errorf("SCAN after expiry = %q, want %q", scanned, survivors)
	}
	k.eq(c.DBSize(kctx), len(survivors))
	for range 10 {
		key, err := c.RandomKey(kctx).Result()
		if err != nil || !slices.Contains(survivors, key) {
			t.Fatalf("RANDOMKEY after expiry = %q, %v", key, err)
		}
	}
	for _, key := range survivors {
		k.eq(c.Exists(kctx, key), 1)
	}
	k.eq(c.TTL(kctx, "stays"), time.Duration(-1))
	k.eq(c.TTL(kctx, "persisted"), time.Duration(-1))
	k.eq(c.TTL(kctx, "getex-persist"), time.Duration(-1))

	// The leader reclaims expired keys on its own: INFO keyspace, which
	// counts stored keys, comes down to the live ones.
	want := fmt.Sprintf("db0:keys=%d,expires=1,", len(survivors))
	eventually(t, "INFO keyspace shows "+want, func() bool {
		return strings.Contains(n.client().Info(kctx, "keyspace").Val(), want)
	})

	// Writes see an expired key as missing, and carry no TTL over.
	for _, key := range []string{"set-px", "setex", "hash", "set"} {
		k.eq(c.Set(kctx, key, "v", short), "OK")
	}
	k.eq(c.HSet(kctx, "hx", "f", "v"), 1)
	k.eq(c.PExpire(kctx, "hx", short), true)
	k.eq(c.SAdd(kctx, "sx", "m"), 1)
	k.eq(c.PExpire(kctx, "sx", short), true)
	k.eq(c.Set(kctx, "blocker", "b", short), "OK")
	eventually(t, "second round gone", func() bool {
		return c.Exists(kctx, "set-px", "setex", "hash", "set", "hx", "sx", "blocker").Val() == 0
	})
	k.eq(c.SetNX(kctx, "set-px", "new", 0), true)
	k.eq(c.Incr(kctx, "setex"), 1)
	k.eq(c.HSet(kctx, "hash", "only", "1"), 1) // a fresh hash, the old fields gone
	k.eq(c.HGetAll(kctx, "hash"), map[string]string{"only": "1"})
	k.eq(c.SAdd(kctx, "set", "z"), 1) // a set can replace what was a string
	k.eq(c.SMembers(kctx, "set"), []string{"z"})
	k.eq(c.HSetNX(kctx, "hx", "f", "w"), true)
	k.eq(c.SAdd(kctx, "sx", "m"), 1)
	k.eq(c.RenameNX(kctx, "stays", "blocker"), true) // an expired key does not block
	for _, key := range []string{"set-px", "setex", "hash", "set", "hx", "sx", "blocker"} {
		k.eq(c.TTL(kctx, key), time.Duration(-1))
	}
}
