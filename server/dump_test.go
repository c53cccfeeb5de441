package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// valueOf reads key's whole value from either server in an order-free
// form (set members and hash fields sorted), for comparing values byte
// for byte.
func valueOf(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	typ, err := c.Type(kctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	switch typ {
	case "string":
		return "string " + strconv.Quote(c.Get(kctx, key).Val())
	case "list":
		return "list " + strings.Join(c.LRange(kctx, key, 0, -1).Val(), "\x00")
	case "set":
		m := c.SMembers(kctx, key).Val()
		slices.Sort(m)
		return "set " + strings.Join(m, "\x00")
	case "hash":
		var kv []string
		for k, v := range c.HGetAll(kctx, key).Val() {
			kv = append(kv, k+"\x01"+v)
		}
		slices.Sort(kv)
		return "hash " + strings.Join(kv, "\x00")
	case "zset":
		var ms []string
		for _, z := range c.ZRangeWithScores(kctx, key, 0, -1).Val() {
			ms = append(ms, fmt.Sprintf("%v\x01%s", z.Member, strconv.FormatFloat(z.Score, 'g', -1, 64)))
		}
		return "zset " + strings.Join(ms, "\x00")
	}
	return typ
}

// TestDumpRestoreWithRedis moves every type in every encoding
// redis-server 7.0 uses (small and big, integers, LZF-compressed strings)
// from redis-server into statehouse with DUMP and RESTORE, and back: the
// values are byte-equal at each step, and each side's TTL survives.
func TestDumpRestoreWithRedis(t *testing.T) {
	addr := testcluster.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	_, sc := ksNode(t)

	long := strings.Repeat("0123456789abcdef", 64) // LZF-compressed by DUMP
	bin := string([]byte{0, 1, 2, 0xff, '\r', '\n'})
	setup := [][]any{
		{"set", "s:small", "hello"},
		{"set", "s:int8", "-7"},
		{"set", "s:int16", "12345"},
		{"set", "s:int32", "-2000000000"},
		{"set", "s:int64", "9223372036854775807"},
		{"set", "s:long", long},
		{"set", "s:bin", bin},
		{"set", "s:empty", ""},
		{"rpush", "l:small", "a", "1", "-300", "70000", "-5000000000", bin},
		{"rpush", "l:long", long, "x"},
		{"set", "s:ttl", "v", "px", "600000"},
	}
	big := []any{"rpush", "l:big"}
	for i := range 5000 {
		big = append(big, strconv.Itoa(i), fmt.Sprintf("elem-%d", i))
	}
	setup = append(setup, big)
	ints := []any{"sadd", "set:intset"}
	for i := range 100 {
		ints = append(ints, strconv.Itoa(i*i-500))
	}
	setup = append(setup, ints, []any{"sadd", "set:int64", "1", "9223372036854775807", "-9223372036854775808"})
	bigSet := []any{"sadd", "set:big"}
	for i := range 2000 {
		bigSet = append(bigSet, fmt.Sprintf("m%d", i), strconv.Itoa(i))
	}
	setup = append(setup, bigSet, []any{"sadd", "set:str", "a", "b", bin})
	setup = append(setup, []any{"hset", "h:small", "f", "v", "n", "12", "e", ""})
	setup = append(setup, []any{"hset", "h:longval", "f", long, "g", "1"})
	bigHash := []any{"hset", "h:big"}
	for i := range 1000 {
		bigHash = append(bigHash, fmt.Sprintf("f%d", i), strconv.Itoa(i*7))
	}
	setup = append(setup, bigHash)
	setup = append(setup, []any{"zadd", "z:small", "1", "a", "2.5", "b", "-inf", "c", "1e300", bin})
	bigZset := []any{"zadd", "z:big"}
	for i := range 1000 {
		bigZset = append(bigZset, strconv.FormatFloat(float64(i)/7, 'g', -1, 64), fmt.Sprintf("m%d", i))
	}
	setup = append(setup, bigZset, []any{"zadd", "z:long", "3", long})
	for _, cmd := range setup {
		if err := rc.Do(kctx, cmd...).Err(); err != nil {
			t.Fatalf("redis %v: %v", cmd[:2], err)
		}
	}
	encodings := map[string]bool{}
	keys := rc.Keys(kctx, "*").Val()
	slices.Sort(keys)
	for _, key := range keys {
		encodings[rc.ObjectEncoding(kctx, key).Val()] = true
		want := valueOf(t, rc, key)
		payload, err := rc.Dump(kctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		ttl := rc.PTTL(kctx, key).Val()
		if ttl < 0 {
			ttl = 0
		}
		if err := sc.RestoreReplace(kctx, key, ttl, payload).Err(); err != nil {
			t.Fatalf("statehouse RESTORE %s: %v", key, err)
		}
		if got := valueOf(t, sc, key); got != want {
			t.Fatalf("%s in statehouse: %.200q, want %.200q", key, got, want)
		}
		if ttl > 0 && sc.PTTL(kctx, key).Val() <= 0 {
			t.Fatalf("%s lost its TTL in statehouse", key)
		}
		back, err := sc.Dump(kctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if err := rc.Restore(kctx, "back:"+key, 0, back).Err(); err != nil {
			t.Fatalf("redis RESTORE of statehouse's DUMP of %s: %v", key, err)
		}
		if got := valueOf(t, rc, "back:"+key); got != want {
			t.Fatalf("%s back in redis: %.200q, want %.200q", key, got, want)
		}
	}
	for _, enc := range []string{"embstr", "int", "raw", "quicklist", "listpack", "intset", "hashtable", "skiplist"} {
		if !encodings[enc] {
			t.Errorf("no value in encoding %s was moved (have %v)", enc, encodings)
		}
	}
}
