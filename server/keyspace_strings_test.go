package server

// String commands over a socket.

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestKeyspaceStrings(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}

	// GET / SET and the SET options.
	k.null(c.Get(kctx, "s"))
	k.eq(c.Set(kctx, "s", "hello", 0), "OK")
	k.eq(c.Get(kctx, "s"), "hello")
	k.eq(c.Set(kctx, "s", "", 0), "OK")
	k.eq(c.Get(kctx, "s"), "")
	k.eq(c.StrLen(kctx, "s"), 0)

	k.eq(c.SetArgs(kctx, "nx", "a", redis.SetArgs{Mode: "NX"}), "OK")
	k.null(c.SetArgs(kctx, "nx", "b", redis.SetArgs{Mode: "NX"}))
	k.eq(c.Get(kctx, "nx"), "a")
	k.null(c.SetArgs(kctx, "xx", "a", redis.SetArgs{Mode: "XX"}))
	k.null(c.Get(kctx, "xx"))
	k.eq(c.SetArgs(kctx, "nx", "c", redis.SetArgs{Mode: "XX"}), "OK")
	k.eq(c.Get(kctx, "nx"), "c")
	k.eq(c.SetNX(kctx, "nx", "d", 0), false) // SET NX, a null decoded as false
	k.eq(c.SetXX(kctx, "nx", "e", 0), true)
	k.eq(c.SetXX(kctx, "xx", "e", 0), false)
	k.eq(c.Get(kctx, "nx"), "e")

	// GET returns the old value; with NX/XX it is the whole reply.
	k.null(c.SetArgs(kctx, "g", "new", redis.SetArgs{Get: true}))
	k.eq(c.SetArgs(kctx, "g", "newer", redis.SetArgs{Get: true}), "new")
	k.eq(c.SetArgs(kctx, "g", "x", redis.SetArgs{Mode: "NX", Get: true}), "newer")
	k.eq(c.Get(kctx, "g"), "newer")
	k.null(c.SetArgs(kctx, "g2", "x", redis.SetArgs{Mode: "XX", Get: true}))
	k.null(c.Get(kctx, "g2"))
	k.eq(c.SetArgs(kctx, "g", "y", redis.SetArgs{Mode: "XX", Get: true}), "newer")
	k.eq(c.Get(kctx, "g"), "y")

	// Expire options: EX, PX, EXAT, PXAT, KEEPTTL; a plain SET clears the TTL.
	// A TTL read back is bounded by the time measured since the write was
	// sent (checker.ttl), not by a guessed slack.
	sent := time.Now()
	k.eq(c.SetArgs(kctx, "t", "v", redis.SetArgs{TTL: 100 * time.Second}), "OK") // EX
	k.ttl(c.TTL(kctx, "t"), 100*time.Second, sent)
	sent = time.Now()
	k.eq(c.SetArgs(kctx, "t", "v", redis.SetArgs{TTL: 100500 * time.Millisecond}), "OK") // PX
	k.ttl(c.PTTL(kctx, "t"), 100500*time.Millisecond, sent)
	at := time.Now().Add(200 * time.Second).Truncate(time.Second)
	k.eq(c.SetArgs(kctx, "t", "v", redis.SetArgs{ExpireAt: at}), "OK") // EXAT
	k.eq(c.ExpireTime(kctx, "t"), time.Duration(at.Unix())*time.Second)
	atms := time.Now().Add(300 * time.Second).Truncate(time.Millisecond)
	if atms.Nanosecond() < int(time.Millisecond) {
		atms = atms.Add(7 * time.Millisecond) // so go-redis sends PXAT
	}
	k.eq(c.SetArgs(kctx, "t", "v", redis.SetArgs{ExpireAt: atms}), "OK") // PXAT
	k.eq(c.PExpireTime(kctx, "t"), time.Duration(atms.UnixMilli())*time.Millisecond)
	k.eq(c.SetArgs(kctx, "t", "w", redis.SetArgs{KeepTTL: true}), "OK")
	k.eq(c.PExpireTime(kctx, "t"), time.Duration(atms.UnixMilli())*time.Millisecond)
	k.eq(c.SetArgs(kctx, "t", "w2", redis.SetArgs{KeepTTL: true, Mode: "XX", Get: true}), "w")
	k.eq(c.PExpireTime(kctx, "t"), time.Duration(atms.UnixMilli())*time.Millisecond)
	k.eq(c.Set(kctx, "t", "plain", 0), "OK")
	k.eq(c.TTL(kctx, "t"), time.Duration(-1))
	sent = time.Now()
	k.eq(c.Set(kctx, "t", "v", 50*time.Second), "OK")
	k.ttl(c.TTL(kctx, "t"), 50*time.Second, sent)
	sent = time.Now()
	k.eq(c.SetArgs(kctx, "t", "v2", redis.SetArgs{Get: true, TTL: 70 * time.Second}), "v")
	k.ttl(c.TTL(kctx, "t"), 70*time.Second, sent)

	// SET's error replies.
	for _, tc := range []struct {
		args []any
		err  string
	}{
		{[]any{"set", "k", "v", "NX", "XX"}, errSyntax},
		{[]any{"set", "k", "v", "EX", "10", "PX", "100"}, errSyntax},
		{[]any{"set", "k", "v", "EX", "10", "KEEPTTL"}, errSyntax},
		{[]any{"set", "k", "v", "EXAT", "10", "PXAT", "100"}, errSyntax},
		{[]any{"set", "k", "v", "EX"}, errSyntax},
		{[]any{"set", "k", "v", "PERSIST"}, errSyntax},
		{[]any{"set", "k", "v", "foo"}, errSyntax},
		{[]any{"set", "k", "v", "EX", "abc"}, errNotInt},
		{[]any{"set", "k", "v", "EX", "1.5"}, errNotInt},
		{[]any{"set", "k", "v", "EX", "0"}, errExpire("set")},
		{[]any{"set", "k", "v", "PX", "-100"}, errExpire("set")},
		{[]any{"set", "k", "v", "EXAT", "0"}, errExpire("set")},
		{[]any{"set", "k", "v", "EX", "9223372036854776"}, errExpire("set")},
		{[]any{"set", "k"}, errArity("set")},
	} {
		k.err(do(c, tc.args...), tc.err)
	}
	k.null(c.Get(kctx, "k")) // none of them wrote

	// SETNX, SETEX, PSETEX.
	k.eq(do(c, "setnx", "snx", "a"), 1)
	k.eq(do(c, "setnx", "snx", "b"), 0)
	k.eq(c.Get(kctx, "snx"), "a")
	sent = time.Now()
	k.eq(c.SetEx(kctx, "sex", "v", 100*time.Second), "OK")
	k.ttl(c.TTL(kctx, "sex"), 100*time.Second, sent)
	sent = time.Now()
	k.eq(do(c, "psetex", "psex", "100000", "v"), "OK")
	k.ttl(c.PTTL(kctx, "psex"), 100*time.Second, sent)
	k.eq(c.Get(kctx, "psex"), "v")
	k.err(do(c, "setex", "sex", "0", "v"), errExpire("setex"))
	k.err(do(c, "setex", "sex", "abc", "v"), errNotInt)
	k.err(do(c, "psetex", "psex", "0", "v"), errExpire("psetex"))
	k.err(do(c, "psetex", "psex", "1.5", "v"), errNotInt)
	k.err(do(c, "setnx", "a"), errArity("setnx"))

	// GETEX: no option, EX, PX, EXAT, PXAT, PERSIST.
	k.eq(c.Set(kctx, "gx", "v", 0), "OK")
	k.eq(c.GetEx(kctx, "gx", -1), "v") // no option: the TTL is left alone
	k.eq(c.TTL(kctx, "gx"), time.Duration(-1))
	sent = time.Now()
	k.eq(c.GetEx(kctx, "gx", 100*time.Second), "v")
	k.ttl(c.TTL(kctx, "gx"), 100*time.Second, sent)
	sent = time.Now()
	k.eq(c.GetEx(kctx, "gx", 200500*time.Millisecond), "v")
	k.ttl(c.PTTL(kctx, "gx"), 200500*time.Millisecond, sent)
	k.eq(c.GetEx(kctx, "gx", 0), "v") // PERSIST
	k.eq(c.TTL(kctx, "gx"), time.Duration(-1))
	exat := time.Now().Add(time.Hour).Unix()
	k.eq(do(c, "getex", "gx", "EXAT", exat), "v")
	k.eq(c.ExpireTime(kctx, "gx"), time.Duration(exat)*time.Second)
	pxat := time.Now().Add(time.Hour).UnixMilli()
	k.eq(do(c, "getex", "gx", "PXAT", pxat), "v")
	k.eq(c.PExpireTime(kctx, "gx"), time.Duration(pxat)*time.Millisecond)
	k.eq(do(c, "getex", "gx", "PERSIST"), "v")
	k.eq(c.TTL(kctx, "gx"), time.Duration(-1))
	k.null(c.GetEx(kctx, "nokey", time.Minute))
	k.null(do(c, "getex", "nokey", "EX", "0")) // a missing key is nil whatever the expire
	k.err(do(c, "getex", "gx", "foo"), errSyntax)
	k.err(do(c, "getex", "gx", "EX", "10", "PERSIST"), errSyntax)
	k.err(do(c, "getex", "gx", "KEEPTTL"), errSyntax)
	k.err(do(c, "getex", "gx", "EX", "0"), errExpire("getex"))
	k.err(do(c, "getex", "gx", "EX", "abc"), errNotInt)
	// An absolute deadline already past deletes the key at once.
	k.eq(do(c, "getex", "gx", "PXAT", time.Now().Add(-time.Hour).UnixMilli()), "v")
	k.null(c.Get(kctx, "gx"))

	// GETDEL, GETSET.
	k.eq(c.Set(kctx, "gd", "v", 0), "OK")
	k.eq(c.GetDel(kctx, "gd"), "v")
	k.null(c.GetDel(kctx, "gd"))
	k.eq(c.Exists(kctx, "gd"), 0)
	k.null(c.GetSet(kctx, "gs", "a"))
	k.eq(c.GetSet(kctx, "gs", "b"), "a")
	k.eq(c.Get(kctx, "gs"), "b")
	k.eq(c.Set(kctx, "gs", "c", time.Minute), "OK")
	k.eq(c.GetSet(kctx, "gs", "d"), "c")
	k.eq(c.TTL(kctx, "gs"), time.Duration(-1)) // GETSET clears the TTL

	// MGET, MSET, MSETNX.
	k.eq(c.MSet(kctx, "m1", "a", "m2", "b"), "OK")
	k.eq(c.MGet(kctx, "m1", "m2", "m3", "m1"), []any{"a", "b", nil, "a"})
	k.eq(c.MSet(kctx, "m1", "x", "m1", "y"), "OK") // the last one wins
	k.eq(c.Get(kctx, "m1"), "y")
	k.eq(c.MSetNX(kctx, "m3", "c", "m4", "d"), true)
	k.eq(c.MSetNX(kctx, "m4", "x", "m5", "y"), false) // all or nothing
	k.null(c.Get(kctx, "m5"))
	k.eq(c.MGet(kctx, "m3", "m4"), []any{"c", "d"})
	k.err(do(c, "mset", "a", "1", "b"), errArity("mset"))
	k.err(do(c, "msetnx", "a"), errArity("msetnx"))
	k.eq(c.HSet(kctx, "mh", "f", "v"), 1)
	k.eq(c.MGet(kctx, "m1", "mh"), []any{"y", nil}) // MGET answers nil for other types

	// APPEND, STRLEN.
	k.eq(c.Append(kctx, "ap", "hello"), 5)
	k.eq(c.Append(kctx, "ap", " world"), 11)
	k.eq(c.Get(kctx, "ap"), "hello world")
	k.eq(c.StrLen(kctx, "ap"), 11)
	k.eq(c.StrLen(kctx, "nokey"), 0)
	k.eq(c.Append(kctx, "ap0", ""), 0)
	k.eq(c.Exists(kctx, "ap0"), 1) // APPEND "" creates an empty string

	// GETRANGE (and its old name SUBSTR), SETRANGE.
	k.eq(c.Set(kctx, "gr", "This is a string", 0), "OK")
	k.eq(c.GetRange(kctx, "gr", 0, 3), "This")
	k.eq(c.GetRange(kctx, "gr", -3, -1), "ing")
	k.eq(c.GetRange(kctx, "gr", 0, -1), "This is a string")
	k.eq(c.GetRange(kctx, "gr", 10, 100), "string")
	k.eq(c.GetRange(kctx, "gr", 5, 3), "")
	k.eq(c.GetRange(kctx, "nokey", 0, -1), "")
	k.eq(do(c, "substr", "gr", 5, 6), "is")
	k.err(do(c, "getrange", "gr", 0, "a"), errNotInt)
	k.eq(c.Set(kctx, "sr", "Hello World", 0), "OK")
	k.eq(c.SetRange(kctx, "sr", 6, "Redis"), 11)
	k.eq(c.Get(kctx, "sr"), "Hello Redis")
	k.eq(c.SetRange(kctx, "sr", 13, "!"), 14)
	k.eq(c.Get(kctx, "sr"), "Hello Redis\x00\x00!") // padded with zero bytes
	k.eq(c.SetRange(kctx, "srnew", 2, "ab"), 4)
	k.eq(c.Get(kctx, "srnew"), "\x00\x00ab")
	k.eq(c.SetRange(kctx, "srnone", 3, ""), 0)
	k.eq(c.Exists(kctx, "srnone"), 0)
	k.err(c.SetRange(kctx, "sr", -1, "x"), "ERR offset is out of range")
	k.err(c.SetRange(kctx, "sr", 536870912, "x"), "ERR string exceeds maximum allowed size (proto-max-bulk-len)")

	// INCR, DECR, INCRBY, DECRBY and their errors.
	k.eq(c.Incr(kctx, "n"), 1)
	k.eq(c.Incr(kctx, "n"), 2)
	k.eq(c.Decr(kctx, "n"), 1)
	k.eq(c.IncrBy(kctx, "n", 10), 11)
	k.eq(c.DecrBy(kctx, "n", 20), -9)
	k.eq(c.Get(kctx, "n"), "-9")
	k.eq(c.Decr(kctx, "newn"), -1)
	k.eq(c.IncrBy(kctx, "n", 0), -9)
	k.err(do(c, "incrby", "n", "abc"), errNotInt)
	k.err(do(c, "incrby", "n", "1.5"), errNotInt)
	k.err(do(c, "decrby", "n", "-9223372036854775808"), "ERR decrement would overflow")
	k.eq(c.Set(kctx, "big", "9223372036854775806", 0), "OK")
	k.eq(c.Incr(kctx, "big"), int64(9223372036854775807))
	k.err(c.Incr(kctx, "big"), errOverflow)
	k.eq(c.Set(kctx, "small", "-9223372036854775808", 0), "OK")
	k.err(c.Decr(kctx, "small"), errOverflow)
	for _, bad := range []string{"abc", " 1", "1 ", "01", "+1", "1.0", "", "9223372036854775808"} {
		k.eq(c.Set(kctx, "ni", bad, 0), "OK")
		k.err(c.Incr(kctx, "ni"), errNotInt)
	}
	sent = time.Now()
	k.eq(c.Set(kctx, "kt", "1", time.Hour), "OK")
	k.eq(c.IncrBy(kctx, "kt", 5), 6)
	k.ttl(c.TTL(kctx, "kt"), time.Hour, sent) // counters keep the TTL

	// INCRBYFLOAT: long double sums printed as Redis prints them.
	k.eq(c.Set(kctx, "f", "10.5", 0), "OK")
	k.eq(c.IncrByFloat(kctx, "f", 0.1), 10.6)
	k.eq(c.Get(kctx, "f"), "10.6")
	k.eq(c.Set(kctx, "f", "0.1", 0), "OK")
	k.eq(do(c, "incrbyfloat", "f", "0.2"), "0.3")
	k.eq(do(c, "incrbyfloat", "f", "-0.3"), "0")
	k.eq(do(c, "incrbyfloat", "f", "5.0e3"), "5000")
	k.eq(c.IncrByFloat(kctx, "fnew", 3), 3.0)
	k.err(do(c, "incrbyfloat", "f", "abc"), errNotFloat)
	k.err(do(c, "incrbyfloat", "f", "nan"), errNotFloat)
	k.err(do(c, "incrbyfloat", "f", "inf"), "ERR increment would produce NaN or Infinity")
	k.eq(c.Set(kctx, "f", "abc", 0), "OK")
	k.err(c.IncrByFloat(kctx, "f", 1), errNotFloat)

	// LCS, beyond the list but in the command table.
	k.eq(c.MSet(kctx, "la", "ohmytext", "lb", "mynewtext"), "OK")
	k.eq(do(c, "lcs", "la", "lb"), "mytext")
	k.eq(do(c, "lcs", "la", "lb", "LEN"), 6)

	// Every string command refuses a hash.
	for _, args := range [][]any{
		{"get", "mh"}, {"set", "mh", "v", "GET"}, {"getex", "mh"}, {"getdel", "mh"}, {"getset", "mh", "v"},
		{"append", "mh", "x"}, {"strlen", "mh"}, {"getrange", "mh", 0, 1}, {"setrange", "mh", 0, "x"},
		{"incr", "mh"}, {"decr", "mh"}, {"incrby", "mh", 1}, {"decrby", "mh", 1}, {"incrbyfloat", "mh", 1},
		{"substr", "mh", 0, 1},
	} {
		k.err(do(c, args...), errWrongType)
	}
	k.err(do(c, "lcs", "mh", "la"), "ERR The specified keys must contain string values")
	// ...while the plain writers replace it.
	k.eq(c.Set(kctx, "mh", "now a string", 0), "OK")
	k.eq(c.Type(kctx, "mh"), "string")
	k.err(c.HSet(kctx, "mh", "f", "v"), errWrongType)
}
