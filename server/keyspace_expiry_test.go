package server

// Real-time expiry: keys given a short TTL disappear.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// setTTL returns a first write for TestKeyspaceExpiry: SET key+suffix to
// val with the round's TTL.
func setTTL(c *redis.Client, k checker, suffix, val string) func(key string, ttl time.Duration) {
	return func(key string, ttl time.Duration) { k.eq(c.Set(kctx, key+suffix, val, ttl), "OK") }
}

// Keys given a short TTL in every way a client can give one disappear for
// every command, and the leader reclaims them; keys without a TTL, or a
// long one, stay.
func TestKeyspaceExpiry(t *testing.T) {
	_, c := ksNode(t)
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
		{"hash", short, func(key string) redis.Cmder {
			k.eq(c.HSet(kctx, key, "f", "v", "g", "w"), 2)
			return c.PExpire(kctx, key, short)
		}},
		{"set", short, func(key string) redis.Cmder {
			k.eq(c.SAdd(kctx, key, "a", "b"), 2)
			return c.PExpire(kctx, key, short)
		}},
	}
	// Keys that must outlive them all.
	k.eq(c.Set(kctx, "stays", "v", 0), "OK")
	sent := time.Now()
	k.eq(c.Set(kctx, "stays-long", "v", time.Hour), "OK")
	k.eq(c.HSet(kctx, "stays-hash", "f", "v"), 1)
	// And keys whose short TTL a command takes away: it must land while the
	// TTL still runs, so each is a round that a slow machine redoes with a
	// longer TTL (beforeExpiry).
	longest := short // the longest TTL a round needed
	for _, s := range []struct {
		key  string
		drop func(key string) redis.Cmder
		want any
	}{
		{"persisted", func(key string) redis.Cmder { return c.Persist(kctx, key) }, true},
		{"re-set", func(key string) redis.Cmder { return c.Set(kctx, key, "w", 0) }, "OK"}, // a plain SET drops the TTL
		{"getex-persist", func(key string) redis.Cmder { return c.GetEx(kctx, key, 0) }, "v"},
	} {
		beforeExpiry(t, s.key, short, func(r ttlRound) bool {
			k.ok(c.Del(kctx, s.key))
			k.eq(c.Set(kctx, s.key, "v", r.ttl), "OK")
			drop := s.drop(s.key)
			if !r.inTime() {
				return false
			}
			k.eq(drop, s.want)
			longest = max(longest, r.ttl)
			return true
		})
	}
	survivors := []string{"getex-persist", "persisted", "re-set", "stays", "stays-hash", "stays-long"}

	var doomed []string
	// Writes that keep a key's TTL: the first write gives it, the second
	// must keep it. Only a second write that lands while the TTL still runs
	// says anything, so each is a round too; in time, the key then has
	// what is left of the TTL it was first given.
	for _, s := range []struct {
		key    string
		first  func(key string, ttl time.Duration)
		second func(key string) redis.Cmder
		want   any // the second write's reply
	}{
		{"keepttl", setTTL(c, k, "", "v"), func(key string) redis.Cmder {
			return c.SetArgs(kctx, key, "w", redis.SetArgs{KeepTTL: true})
		}, "OK"},
		{"incr-keeps", setTTL(c, k, "", "1"), func(key string) redis.Cmder { return c.Incr(kctx, key) }, 2},
		{"append-keeps", setTTL(c, k, "", "a"), func(key string) redis.Cmder { return c.Append(kctx, key, "b") }, 2},
		{"renamed", setTTL(c, k, "-src", "v"), func(key string) redis.Cmder { return c.Rename(kctx, key+"-src", key) }, "OK"},
		{"copied", setTTL(c, k, "-src", "v"), func(key string) redis.Cmder { return do(c, "copy", key+"-src", key) }, 1},
		{"hash-hset-keeps", func(key string, ttl time.Duration) {
			k.eq(c.HSet(kctx, key, "f", "v"), 1)
			k.eq(c.PExpire(kctx, key, ttl), true)
		}, func(key string) redis.Cmder { return c.HSet(kctx, key, "g", "w") }, 1},
		{"set-sadd-keeps", func(key string, ttl time.Duration) {
			k.eq(c.SAdd(kctx, key, "a"), 1)
			k.eq(c.PExpire(kctx, key, ttl), true)
		}, func(key string) redis.Cmder { return c.SAdd(kctx, key, "b") }, 1},
	} {
		beforeExpiry(t, s.key, short, func(r ttlRound) bool {
			k.ok(c.Del(kctx, s.key, s.key+"-src"))
			s.first(s.key, r.ttl)
			second := s.second(s.key)
			pttl := c.PTTL(kctx, s.key)
			if !r.inTime() {
				return false
			}
			k.eq(second, s.want)
			k.ttl(pttl, r.ttl, r.start)
			return true
		})
		doomed = append(doomed, s.key)
	}
	// A key given the longest TTL a survivor had, after them all: once it
	// is gone, every survivor has outlived the TTL it was given.
	k.eq(c.Set(kctx, "outlived", "v", longest), "OK")
	doomed = append(doomed, "outlived")

	// Single writes that give a short TTL.
	for _, s := range setups {
		k.ok(s.write(s.key))
		doomed = append(doomed, s.key)
		// Right after: gone already (a slow machine) or a TTL within bounds.
		pttl := c.PTTL(kctx, s.key)
		if v := pttl.Val(); pttl.Err() != nil || (v != -2 && (v < 0 || v > s.max)) {
			t.Errorf("%s: PTTL right after = %v, %v; want in [0, %v] or -2", s.key, v, pttl.Err(), s.max)
		}
		ttl := c.TTL(kctx, s.key)
		if v := ttl.Val(); ttl.Err() != nil || (v != -2 && (v < 0 || v > time.Second)) {
			t.Errorf("%s: TTL right after = %v, %v; want 0, 1s or -2", s.key, v, ttl.Err())
		}
	}
	k.ttl(c.TTL(kctx, "stays-long"), time.Hour, sent)

	testcluster.Eventually(t, "every short-TTL key gone", noneExist(c, doomed...))
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
	testcluster.Eventually(t, "INFO keyspace shows "+want, func() error {
		v, err := c.Info(kctx, "keyspace").Result()
		if err == nil && !strings.Contains(v, want) {
			err = fmt.Errorf("INFO keyspace = %q", v)
		}
		return err
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
	testcluster.Eventually(t, "second round gone", noneExist(c, "set-px", "setex", "hash", "set", "hx", "sx", "blocker"))
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
