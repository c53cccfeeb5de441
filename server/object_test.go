package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// TestObjectEncodingLikeRedis: OBJECT ENCODING answers what redis-server
// 7.0 answers for the same values, under its default thresholds and
// under thresholds changed by CONFIG SET (before the values are made:
// Redis never converts a value back). OBJECT's other answers and errors
// match too where statehouse can know them.
func TestObjectEncodingLikeRedis(t *testing.T) {
	addr := testcluster.StartRedis(t)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	_, sc := ksNode(t)

	long := strings.Repeat("x", 65)
	values := [][]any{
		{"set", "s:int", "12345"}, {"set", "s:neg", "-9223372036854775808"}, {"set", "s:lead0", "0123"},
		{"set", "s:plus", "+5"}, {"set", "s:embstr", strings.Repeat("e", 44)}, {"set", "s:raw", strings.Repeat("r", 45)},
		{"set", "s:big", "99999999999999999999"},
		{"rpush", "l:small", "a"}, {"sadd", "set:ints", "1", "-2", "300"}, {"sadd", "set:mixed", "1", "a"},
		{"hset", "h:small", "f", "v"}, {"hset", "h:longval", "f", long}, {"hset", "h:longfield", long, "v"},
		{"zadd", "z:small", "1", "a"}, {"zadd", "z:longmember", "1", long},
	}
	manyInts, manyFields, manyMembers := []any{"sadd", "set:many"}, []any{"hset", "h:many"}, []any{"zadd", "z:many"}
	for i := range 20 {
		manyInts = append(manyInts, strconv.Itoa(i))
		manyFields = append(manyFields, fmt.Sprint("f", i), "v")
		manyMembers = append(manyMembers, strconv.Itoa(i), fmt.Sprint("m", i))
	}
	values = append(values, manyInts, manyFields, manyMembers)
	configs := [][]string{
		nil,
		{"set-max-intset-entries", "10", "hash-max-listpack-entries", "10", "hash-max-listpack-value", "100", "zset-max-listpack-entries", "10"},
		{"hash-max-ziplist-entries", "0", "list-max-ziplist-size", "1", "set-max-intset-entries", "0", "zset-max-ziplist-value", "0"},
	}
	for _, cfg := range configs {
		for _, c := range []*redis.Client{rc, sc} {
			c.FlushAll(kctx)
			if cfg != nil {
				args := []any{"config", "set"}
				for _, a := range cfg {
					args = append(args, a)
				}
				if err := c.Do(kctx, args...).Err(); err != nil {
					t.Fatalf("CONFIG SET %v: %v", cfg, err)
				}
			}
			for _, v := range values {
				if err := c.Do(kctx, v...).Err(); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, v := range values {
			key := v[1].(string)
			want := fmt.Sprint(rc.ObjectEncoding(kctx, key).Result())
			if got := fmt.Sprint(sc.ObjectEncoding(kctx, key).Result()); got != want {
				t.Errorf("config %v: OBJECT ENCODING %s = %s, redis %s", cfg, key, got, want)
			}
			want = fmt.Sprint(rc.ObjectRefCount(kctx, key).Result())
			if got := fmt.Sprint(sc.ObjectRefCount(kctx, key).Result()); got != want {
				t.Errorf("OBJECT REFCOUNT %s = %s, redis %s", key, got, want)
			}
		}
	}
	for _, cfg := range []string{"hash-max-listpack-entries", "hash-max-ziplist-value", "set-max-intset-entries", "list-max-listpack-size", "zset-max-ziplist-entries"} {
		for _, c := range []*redis.Client{rc, sc} {
			c.ConfigSet(kctx, cfg, "2")
		}
		want := fmt.Sprint(rc.ConfigGet(kctx, cfg).Result())
		if got := fmt.Sprint(sc.ConfigGet(kctx, cfg).Result()); got != want {
			t.Errorf("CONFIG GET %s = %s, redis %s", cfg, got, want)
		}
	}
	for _, cmd := range [][]any{
		{"object", "freq", "s:int"}, {"object", "freq", "missing"}, {"object", "encoding", "missing"},
		{"object", "idletime", "missing"}, {"object", "help"}, {"object", "nope", "k"}, {"object", "encoding"},
		{"object"}, {"object", "encoding", "a", "b"},
		{"config", "set", "hash-max-listpack-entries", "-1"}, {"config", "set", "set-max-intset-entries", "x"},
		{"config", "set", "list-max-listpack-size", "99999999999"},
	} {
		want := fmt.Sprint(rc.Do(kctx, cmd...).Result())
		if got := fmt.Sprint(sc.Do(kctx, cmd...).Result()); got != want {
			t.Errorf("%v = %s, redis %s", cmd, got, want)
		}
	}
	if n, err := sc.ObjectIdleTime(kctx, "s:int").Result(); err != nil || n > 60e9 {
		t.Errorf("OBJECT IDLETIME of a key just written: %v %v", n, err)
	}
}
