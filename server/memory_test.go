package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

const errOOM = "OOM command not allowed when used memory > 'maxmemory'."

func infoInt(t *testing.T, c *redis.Client, section, field string) int64 {
	t.Helper()
	info, err := c.Info(kctx, section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %s:%s", section, field, v)
			}
			return n
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// TestMaxmemoryConfig: the settings' CONFIG SET checks and words are
// Redis 7.0's, and CONFIG GET and INFO show what the log set.
func TestMaxmemoryConfig(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}
	k.err(c.ConfigSet(kctx, "maxmemory-policy", "foo"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
	k.err(c.ConfigSet(kctx, "maxmemory-samples", "0"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory-samples') - argument must be between 1 and 2147483647 inclusive")
	k.err(c.ConfigSet(kctx, "maxmemory", "-1"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value")
	k.ok(c.ConfigSet(kctx, "maxmemory", "2mb"))
	k.ok(c.ConfigSet(kctx, "maxmemory-policy", "ALLKEYS-LFU"))
	k.ok(c.ConfigSet(kctx, "maxmemory-samples", "10"))
	k.eq(c.ConfigGet(kctx, "maxmemory*"), map[string]string{"maxmemory": "2097152", "maxmemory-policy": "allkeys-lfu", "maxmemory-samples": "10"})
	info := c.Info(kctx, "memory").Val()
	for _, want := range []string{"maxmemory:2097152\r\n", "maxmemory_human:2.00M\r\n", "maxmemory_policy:allkeys-lfu\r\n", "used_memory:0\r\n", "used_memory_human:0B\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO memory lacks %q:\n%s", want, info)
		}
	}
	if rss := infoInt(t, c, "memory", "used_memory_rss"); rss < 1<<20 {
		t.Errorf("used_memory_rss %d", rss)
	}
	if lim := infoInt(t, c, "memory", "go_memory_limit"); lim != 2<<20+memLimitHeadroom(2<<20) {
		t.Errorf("go_memory_limit %d", lim)
	}
}

// TestNoEviction: over the limit, denyoom writes get Redis's -OOM (and
// MULTI refuses to queue, so EXEC aborts), while reads, deletes and
// writes that do not grow memory go on; a delete makes room again.
func TestNoEviction(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}
	k.ok(c.ConfigSet(kctx, "maxmemory", "100kb"))
	val := strings.Repeat("v", 1000)
	var stored []string
	for i := 0; ; i++ {
		key := "k" + strconv.Itoa(i)
		err := c.Set(kctx, key, val, 0).Err()
		if err != nil {
			if err.Error() != errOOM {
				t.Fatalf("SET %s: %v", key, err)
			}
			break
		}
		stored = append(stored, key)
		if i > 1000 {
			t.Fatal("no OOM after 1 MB of writes with maxmemory 100kb")
		}
	}
	used := infoInt(t, c, "memory", "used_memory")
	if used < 100<<10 || used > 100<<10+2048 {
		t.Fatalf("used_memory %d with maxmemory %d", used, 100<<10)
	}
	k.err(c.RPush(kctx, "list", "x"), errOOM)
	// As redis-server 7.0 words it, with the script's place after.
	k.err(do(c, "EVAL", "return redis.call('set','s','1')", 0), errOOM+" script: 331f1eab19bd8416f59ae02df4f687b1fb44edb5, on @user_script:1.")
	for _, key := range stored {
		k.eq(c.Get(kctx, key), val)
	}
	k.eq(c.Expire(kctx, stored[0], 1000_000_000_000), true)      // not denyoom
	k.eq(do(c, "MEMORY", "USAGE", stored[1]), int64(128+8+1024)) // the item, its key's size class, the value
	k.null(do(c, "MEMORY", "USAGE", "nosuch"))
	k.err(do(c, "MEMORY", "USAGE", stored[1], "SAMPLES", "x"), errNotInt)
	k.err(do(c, "MEMORY", "USAGE", stored[1], "SAMPLES", "-1"), errSyntax)
	k.err(do(c, "MEMORY", "USAGE", stored[1], "FOO"), errSyntax)
	tx := c.TxPipeline()
	tx.Del(kctx, stored[2])
	tx.Set(kctx, "t", "1", 0)
	_, err := tx.Exec(kctx)
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("MULTI over the limit: %v", err)
	}
	k.eq(c.Exists(kctx, stored[2]), int64(1))
	k.eq(c.Del(kctx, stored[0], stored[1]), int64(2))
	k.ok(c.Set(kctx, "again", "1", 0))
	if n := infoInt(t, c, "stats", "evicted_keys"); n != 0 {
		t.Fatalf("noeviction evicted %d keys", n)
	}
}

// TestOOMLikeRedis: a real redis-server 7.0 with maxmemory 1 and
// noeviction refuses SET with the same bytes statehouse does.
func TestOOMLikeRedis(t *testing.T) {
	n, c := ksNode(t)
	addr := testcluster.StartRedis(t)
	rc := redis.NewClient(testcluster.ClientOptions(addr))
	defer rc.Close()
	if err := rc.Set(kctx, "fill", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rc.ConfigSet(kctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	// statehouse's used_memory counts the data alone: give it some.
	k := checker{t}
	k.ok(c.Set(kctx, "fill", "x", 0))
	k.ok(c.ConfigSet(kctx, "maxmemory", "1"))
	for _, args := range [][]string{{"SET", "a", "b"}, {"GET", "fill"}, {"DEL", "fill"}} {
		want := testcluster.RedisCLI(t, addr, "", args...)
		if got := testcluster.RedisCLI(t, n.addr, "", args...); got != want {
			t.Fatalf("%v: statehouse %q, redis-server %q", args, got, want)
		}
	}
}

// TestEvictionSingle: with allkeys-lru, a writer that never stops is held
// under maxmemory plus the slack, keys are evicted and counted, and the
// keys read most recently survive the ones never read.
func TestEvictionSingle(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}
	const limit = 1 << 20
	k.ok(c.ConfigSet(kctx, "maxmemory", strconv.Itoa(limit)))
	k.ok(c.ConfigSet(kctx, "maxmemory-policy", "allkeys-lru"))
	k.ok(c.ConfigSet(kctx, "notify-keyspace-events", "Ee"))
	sub := c.Subscribe(kctx, "__keyevent@0__:evicted")
	defer sub.Close()
	if _, err := sub.Receive(kctx); err != nil {
		t.Fatal(err)
	}
	val := strings.Repeat("v", 1000)
	// 200 hot keys, read after every write batch.
	for i := range 200 {
		k.ok(c.Set(kctx, fmt.Sprintf("hot%d", i), val, 0))
	}
	peak := int64(0)
	for i := range 5000 {
		pipe := c.Pipeline()
		pipe.Set(kctx, "cold"+strconv.Itoa(i), val, 0)
		if _, err := pipe.Exec(kctx); err != nil && err.Error() != errOOM {
			t.Fatal(err)
		}
		if i%50 == 0 {
			for h := range 200 {
				c.Get(kctx, fmt.Sprintf("hot%d", h))
			}
			peak = max(peak, infoInt(t, c, "memory", "used_memory"))
		}
	}
	if slack := fsm.EvictSlack(limit); peak > limit+slack {
		t.Fatalf("used_memory peaked at %d, limit %d + slack %d", peak, limit, slack)
	}
	testcluster.Eventually(t, "used_memory back under maxmemory", func() error {
		if u := infoInt(t, c, "memory", "used_memory"); u > limit {
			return fmt.Errorf("used_memory %d", u)
		}
		return nil
	})
	evicted := infoInt(t, c, "stats", "evicted_keys")
	if evicted < 4000 {
		t.Fatalf("evicted_keys %d after 5.2 MB into 1 MB", evicted)
	}
	hot := 0
	for h := range 200 {
		if c.Exists(kctx, fmt.Sprintf("hot%d", h)).Val() == 1 {
			hot++
		}
	}
	t.Logf("evicted %d keys, used_memory peaked at %d (limit %d), %d/200 hot keys kept", evicted, peak, limit, hot)
	if hot < 150 {
		t.Fatalf("only %d of 200 keys read all along survived allkeys-lru", hot)
	}
	// Each eviction is an "evicted" event (class e) naming the key.
	msg, err := sub.ReceiveMessage(kctx)
	if err != nil || !strings.HasPrefix(msg.Payload, "cold") && !strings.HasPrefix(msg.Payload, "hot") {
		t.Fatalf("evicted event: %v %v", msg, err)
	}
	stats := do(c, "MEMORY", "STATS").Val().([]any)
	if len(stats) < 20 || stats[0] != "peak.allocated" || stats[8] != "keys.count" {
		t.Fatalf("MEMORY STATS: %v", stats)
	}
	if s, _ := do(c, "MEMORY", "DOCTOR").Text(); !strings.Contains(s, "Sam") {
		t.Fatalf("MEMORY DOCTOR: %q", s)
	}
	k.ok(do(c, "MEMORY", "PURGE"))
}

// TestExecOverLimitLikeRedis: an EXEC whose queued commands may grow
// memory, run after the limit was passed, is discarded with Redis's
// EXECABORT, before the WATCHed keys are looked at, as redis-server 7.0
// answers.
func TestExecOverLimitLikeRedis(t *testing.T) {
	_, c := ksNode(t)
	addr := testcluster.StartRedis(t)
	rc := redis.NewClient(testcluster.ClientOptions(addr))
	defer rc.Close()
	run := func(cl *redis.Client, watchFails bool) string {
		ctx := kctx
		if err := cl.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
			t.Fatal(err)
		}
		cl.Set(ctx, "fill", "x", 0)
		cl.Set(ctx, "w", "1", 0)
		conn := cl.Conn()
		defer conn.Close()
		for _, args := range [][]any{{"WATCH", "w"}, {"MULTI"}, {"SET", "a", "b"}} {
			if err := conn.Do(ctx, args...).Err(); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
		}
		if watchFails {
			cl.Set(ctx, "w", "2", 0)
		}
		if err := cl.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
			t.Fatal(err)
		}
		defer cl.ConfigSet(ctx, "maxmemory", "0")
		v, err := conn.Do(ctx, "EXEC").Result()
		return fmt.Sprintf("%v %v", v, err)
	}
	for _, watchFails := range []bool{false, true} {
		want, got := run(rc, watchFails), run(c, watchFails)
		if !strings.Contains(want, "EXECABORT") {
			t.Fatalf("redis-server answered %q", want)
		}
		if got != want {
			t.Errorf("EXEC over the limit (WATCHed key changed: %v): statehouse %q, redis-server %q", watchFails, got, want)
		}
	}
}
