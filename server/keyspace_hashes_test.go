package server

// Hash commands over a socket.

import (
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestKeyspaceHashes(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}

	// HSET counts new fields; a field repeated in one call counts once and
	// the last value wins. Fields come back in byte order.
	k.eq(c.HSet(kctx, "h", "b", "2", "a", "1"), 2)
	k.eq(c.HSet(kctx, "h", "a", "10", "c", "3"), 1)
	k.eq(c.HSet(kctx, "h", "d", "4", "d", "5"), 1)
	k.eq(c.HSet(kctx, "h", map[string]any{"e": ""}), 1)
	k.eq(c.HGetAll(kctx, "h"), map[string]string{"a": "10", "b": "2", "c": "3", "d": "5", "e": ""})
	k.eq(c.HKeys(kctx, "h"), []string{"a", "b", "c", "d", "e"})
	k.eq(c.HVals(kctx, "h"), []string{"10", "2", "3", "5", ""})
	k.eq(c.HLen(kctx, "h"), 5)
	k.eq(c.HMSet(kctx, "m", "x", "1", "y", "2", "x", "3"), true)
	k.eq(c.HGetAll(kctx, "m"), map[string]string{"x": "3", "y": "2"})
	k.err(do(c, "hset", "h", "f"), errArity("hset"))
	k.err(do(c, "hset", "h", "f", "v", "g"), errArity("hset"))
	k.err(do(c, "hmset", "h", "f"), errArity("hmset"))

	// HSETNX, HGET, HMGET, HEXISTS, HSTRLEN.
	k.eq(c.HSetNX(kctx, "h", "a", "other"), false)
	k.eq(c.HSetNX(kctx, "h", "f", "new"), true)
	k.eq(c.HSetNX(kctx, "fresh", "f", "v"), true)
	k.eq(c.HGet(kctx, "h", "a"), "10")
	k.eq(c.HGet(kctx, "h", "f"), "new")
	k.eq(c.HGet(kctx, "h", "e"), "")
	k.null(c.HGet(kctx, "h", "nosuch"))
	k.null(c.HGet(kctx, "nosuchkey", "a"))
	k.eq(c.HMGet(kctx, "h", "a", "nosuch", "b", "a"), []any{"10", nil, "2", "10"})
	k.eq(c.HMGet(kctx, "nosuchkey", "a", "b"), []any{nil, nil})
	k.eq(c.HExists(kctx, "h", "a"), true)
	k.eq(c.HExists(kctx, "h", "nosuch"), false)
	k.eq(c.HExists(kctx, "nosuchkey", "a"), false)
	k.eq(c.HStrLen(kctx, "h", "a"), 2)
	k.eq(c.HStrLen(kctx, "h", "e"), 0)
	k.eq(c.HStrLen(kctx, "h", "nosuch"), 0)
	k.eq(c.HLen(kctx, "nosuchkey"), 0)
	k.eq(c.HGetAll(kctx, "nosuchkey"), map[string]string{})
	k.eq(c.HKeys(kctx, "nosuchkey"), []string{})
	k.eq(c.HVals(kctx, "nosuchkey"), []string{})

	// HDEL counts what it removed; the last field takes the key with it.
	k.eq(c.HSet(kctx, "d", "f1", "1", "f2", "2", "f3", "3"), 3)
	k.eq(c.HDel(kctx, "d", "f1", "nosuch", "f1"), 1)
	k.eq(c.HDel(kctx, "nosuchkey", "f"), 0)
	k.eq(c.HDel(kctx, "d", "f2", "f3"), 2)
	k.eq(c.Exists(kctx, "d"), 0)
	k.eq(c.Type(kctx, "d"), "none")

	// HINCRBY, HINCRBYFLOAT.
	k.eq(c.HIncrBy(kctx, "n", "f", 5), 5)
	k.eq(c.HIncrBy(kctx, "n", "f", -7), -2)
	k.eq(c.HIncrBy(kctx, "n", "big", 9223372036854775807), int64(9223372036854775807))
	k.err(c.HIncrBy(kctx, "n", "big", 1), errOverflow)
	k.err(do(c, "hincrby", "n", "f", "abc"), errNotInt)
	k.err(do(c, "hincrby", "n", "f", "1.5"), errNotInt)
	k.eq(c.HSet(kctx, "n", "w", "abc", "z", "01", "p", "+1"), 3)
	for _, f := range []string{"w", "z", "p"} {
		k.err(c.HIncrBy(kctx, "n", f, 1), errHashNotInt)
	}
	k.eq(c.HIncrByFloat(kctx, "fl", "a", 0.1), 0.1)
	k.eq(do(c, "hincrbyfloat", "fl", "a", "0.2"), "0.3") // long double, as Redis
	k.eq(c.HSet(kctx, "fl", "b", "10.50"), 1)
	k.eq(do(c, "hincrbyfloat", "fl", "b", "0.1"), "10.6")
	k.eq(c.HGet(kctx, "fl", "b"), "10.6")
	k.eq(do(c, "hincrbyfloat", "fl", "c", "5.0e3"), "5000")
	k.err(do(c, "hincrbyfloat", "fl", "a", "abc"), errNotFloat)
	k.err(do(c, "hincrbyfloat", "fl", "a", "inf"), "ERR value is NaN or Infinity")
	k.eq(c.HSet(kctx, "fl", "w", "abc"), 1)
	k.err(c.HIncrByFloat(kctx, "fl", "w", 1), "ERR hash value is not a float")
	k.err(do(c, "hincrbyfloat", "fl", "a"), errArity("hincrbyfloat"))

	// HSCAN: every field at once, cursor 0.
	k.eq(c.HSet(kctx, "sc", "a", "1", "b", "2", "c", "3", "ab", "4"), 4)
	scan := func(cmd *redis.ScanCmd) []any {
		keys, cursor := cmd.Val()
		out := []any{int64(cursor)}
		for _, k := range keys {
			out = append(out, k)
		}
		return out
	}
	for _, tc := range []struct {
		cmd  *redis.ScanCmd
		want []any
	}{
		{c.HScan(kctx, "sc", 0, "", 0), []any{int64(0), "a", "1", "ab", "4", "b", "2", "c", "3"}},
		{c.HScan(kctx, "sc", 5, "", 0), []any{int64(0), "a", "1", "ab", "4", "b", "2", "c", "3"}},
		{c.HScan(kctx, "sc", 0, "a*", 1), []any{int64(0), "a", "1", "ab", "4"}},
		{c.HScan(kctx, "sc", 0, "zz*", 0), []any{int64(0)}},
		{c.HScan(kctx, "nosuchkey", 0, "", 0), []any{int64(0)}},
	} {
		if err := tc.cmd.Err(); err != nil {
			t.Errorf("%q: %v", tc.cmd.Args(), err)
		} else if got := scan(tc.cmd); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q = %q, want %q", tc.cmd.Args(), got, tc.want)
		}
	}
	k.err(do(c, "hscan", "sc", "x"), errBadCursor)
	k.err(do(c, "hscan", "sc", 0, "COUNT", 0), errSyntax)
	k.err(do(c, "hscan", "sc", 0, "NOVALUES", "junk"), errSyntax) // NOVALUES alone is Redis 7.4's option (fsm/testdata/hashes.txt)
	k.err(do(c, "hscan", "sc"), errArity("hscan"))

	// HRANDFIELD: a count at least the length gives every field once; a
	// negative count may repeat; no count gives one field.
	k.eq(c.HSet(kctx, "r", "a", "1", "b", "2", "c", "3"), 3)
	k.eq(c.HRandField(kctx, "r", 3), []string{"a", "b", "c"})
	k.eq(c.HRandField(kctx, "r", 0), []string{})
	k.eq(c.HRandFieldWithValues(kctx, "r", 5), []redis.KeyValue{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}})
	k.eq(c.HRandField(kctx, "nosuchkey", 5), []string{})
	k.null(do(c, "hrandfield", "nosuchkey"))
	want := map[string]string{"a": "1", "b": "2", "c": "3"}
	for range 10 {
		f, err := do(c, "hrandfield", "r").Text()
		if _, ok := want[f]; err != nil || !ok {
			t.Fatalf("HRANDFIELD r = %q, %v", f, err)
		}
		fs, err := c.HRandField(kctx, "r", 2).Result()
		if err != nil || len(fs) != 2 || fs[0] == fs[1] || want[fs[0]] == "" || want[fs[1]] == "" {
			t.Fatalf("HRANDFIELD r 2 = %q, %v", fs, err)
		}
		fs, err = c.HRandField(kctx, "r", -7).Result()
		if err != nil || len(fs) != 7 {
			t.Fatalf("HRANDFIELD r -7 = %q, %v", fs, err)
		}
		kvs, err := c.HRandFieldWithValues(kctx, "r", -4).Result()
		if err != nil || len(kvs) != 4 {
			t.Fatalf("HRANDFIELD r -4 WITHVALUES = %v, %v", kvs, err)
		}
		for _, kv := range kvs {
			if want[kv.Key] != kv.Value {
				t.Fatalf("HRANDFIELD r -4 WITHVALUES = %v", kvs)
			}
		}
	}
	k.err(do(c, "hrandfield", "r", "abc"), errNotInt)
	k.err(do(c, "hrandfield", "r", 1, "withvalue"), errSyntax)
	k.err(do(c, "hrandfield", "r", "-9223372036854775808"), "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
	// Deviation kept by the fsm (fsm/testdata/hashes.txt): a negative count
	// past -1048576 is refused rather than answered with that many fields.
	k.err(c.HRandField(kctx, "r", -1048577), "ERR value is out of range")

	// Every hash command refuses a string; GET refuses a hash.
	k.eq(c.Set(kctx, "str", "x", 0), "OK")
	for _, args := range [][]any{
		{"hset", "str", "f", "v"}, {"hmset", "str", "f", "v"}, {"hsetnx", "str", "f", "v"}, {"hget", "str", "f"},
		{"hmget", "str", "f"}, {"hdel", "str", "f"}, {"hlen", "str"}, {"hexists", "str", "f"}, {"hstrlen", "str", "f"},
		{"hgetall", "str"}, {"hkeys", "str"}, {"hvals", "str"}, {"hincrby", "str", "f", 1}, {"hincrbyfloat", "str", "f", 1},
		{"hscan", "str", 0}, {"hrandfield", "str"}, {"hrandfield", "str", 1, "withvalues"}, {"get", "h"},
	} {
		k.err(do(c, args...), errWrongType)
	}
	k.eq(c.Get(kctx, "str"), "x")
}
