package server

// Set commands over a socket.

import (
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestKeyspaceSets(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}

	k.eq(c.SAdd(kctx, "s", "b", "a", "c"), 3)
	k.eq(c.SAdd(kctx, "s", "a", "d", "a"), 1)
	k.eq(c.SAdd(kctx, "s", "a", "b"), 0)
	k.eq(c.SAdd(kctx, "s", ""), 1)
	k.eq(c.SMembers(kctx, "s"), []string{"", "a", "b", "c", "d"}) // byte order
	k.eq(c.SMembersMap(kctx, "s"), map[string]struct{}{"": {}, "a": {}, "b": {}, "c": {}, "d": {}})
	k.eq(c.SCard(kctx, "s"), 5)
	k.eq(c.SIsMember(kctx, "s", "a"), true)
	k.eq(c.SIsMember(kctx, "s", "z"), false)
	k.eq(c.SIsMember(kctx, "s", ""), true)
	k.eq(c.SIsMember(kctx, "nosuchkey", "a"), false)
	k.eq(c.SMIsMember(kctx, "s", "a", "z", "b", "a"), []bool{true, false, true, true})
	k.eq(c.SMIsMember(kctx, "nosuchkey", "a", "b"), []bool{false, false})
	k.eq(c.SMembers(kctx, "nosuchkey"), []string{})
	k.eq(c.SCard(kctx, "nosuchkey"), 0)

	// SREM counts what it removed; the last member takes the key with it.
	k.eq(c.SAdd(kctx, "r", 1, 2, 3, 10), 4)
	k.eq(c.SRem(kctx, "r", 1, "nosuch", 1), 1)
	k.eq(c.SRem(kctx, "nosuchkey", "a"), 0)
	k.eq(c.SMembers(kctx, "r"), []string{"10", "2", "3"})
	k.eq(c.SRem(kctx, "r", 2, 3, 10), 3)
	k.eq(c.Exists(kctx, "r"), 0)

	// SSCAN: every member at once, cursor 0.
	k.eq(c.SAdd(kctx, "sc", 1, 2, 3, 10, -5), 5)
	for _, tc := range []struct {
		cmd  *redis.ScanCmd
		want []string
	}{
		{c.SScan(kctx, "sc", 0, "", 0), []string{"-5", "1", "10", "2", "3"}},
		{c.SScan(kctx, "sc", 42, "", 0), []string{"-5", "1", "10", "2", "3"}},
		{c.SScan(kctx, "sc", 0, "1*", 0), []string{"1", "10"}},
		{c.SScan(kctx, "sc", 0, "[0-2]", 1), []string{"1", "2"}},
		{c.SScan(kctx, "sc", 0, "zz", 0), []string{}},
		{c.SScan(kctx, "nosuchkey", 0, "", 0), []string{}},
	} {
		keys, cursor, err := tc.cmd.Result()
		if err != nil || cursor != 0 || !slices.Equal(keys, tc.want) {
			t.Errorf("%q = %q, %d, %v; want %q, 0", tc.cmd.Args(), keys, cursor, err, tc.want)
		}
	}
	// Deviation (fsm/testdata/sets.txt): a set of strings, which Redis 7.0
	// pages through with real cursors, comes back whole with cursor 0.
	k.eq(c.SAdd(kctx, "ss", "a", "b", "c", "ab"), 4)
	if keys, cursor, err := c.SScan(kctx, "ss", 0, "", 1).Result(); err != nil || cursor != 0 || !slices.Equal(keys, []string{"a", "ab", "b", "c"}) {
		t.Errorf("SSCAN ss 0 COUNT 1 = %q, %d, %v", keys, cursor, err)
	}
	k.err(do(c, "sscan", "sc", "x"), errBadCursor)
	k.err(do(c, "sscan", "sc", 0, "COUNT", "abc"), errNotInt)
	k.err(do(c, "sscan", "sc", 0, "COUNT"), errSyntax)

	// Arity and type errors.
	for _, tc := range []struct {
		args []any
		err  string
	}{
		{[]any{"sadd", "s"}, errArity("sadd")},
		{[]any{"srem", "s"}, errArity("srem")},
		{[]any{"smembers"}, errArity("smembers")},
		{[]any{"sismember", "s", "a", "b"}, errArity("sismember")},
		{[]any{"smismember", "s"}, errArity("smismember")},
		{[]any{"scard", "s", "x"}, errArity("scard")},
		{[]any{"sscan", "s"}, errArity("sscan")},
	} {
		k.err(do(c, tc.args...), tc.err)
	}
	k.eq(c.Set(kctx, "str", "x", 0), "OK")
	for _, args := range [][]any{
		{"sadd", "str", "a"}, {"srem", "str", "a"}, {"smembers", "str"}, {"sismember", "str", "a"},
		{"smismember", "str", "a", "b"}, {"scard", "str"}, {"sscan", "str", 0}, {"get", "s"}, {"hget", "s", "f"},
	} {
		k.err(do(c, args...), errWrongType)
	}
}
