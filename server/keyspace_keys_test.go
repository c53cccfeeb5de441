package server

// Generic key commands over a socket, and SCAN while others write.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestKeyspaceKeys(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}

	// DEL, UNLINK, EXISTS, TOUCH, TYPE.
	k.eq(c.MSet(kctx, "a", "1", "b", "2", "c", "3"), "OK")
	k.eq(c.HSet(kctx, "h", "f", "v"), 1)
	k.eq(c.SAdd(kctx, "s", "m"), 1)
	k.eq(c.Exists(kctx, "a"), 1)
	k.eq(c.Exists(kctx, "a", "a", "b", "missing"), 3) // a repeated key counts twice
	k.eq(c.Touch(kctx, "a", "a", "b", "missing"), 3)
	k.eq(c.Type(kctx, "a"), "string")
	k.eq(c.Type(kctx, "h"), "hash")
	k.eq(c.Type(kctx, "s"), "set")
	k.eq(c.Type(kctx, "missing"), "none")
	k.eq(c.Del(kctx, "a", "a", "missing"), 1)
	k.eq(c.Unlink(kctx, "b", "c", "b", "h"), 3)
	k.eq(c.Exists(kctx, "a", "b", "c", "h"), 0)
	k.eq(c.Del(kctx, "s"), 1)
	k.eq(c.Set(kctx, "", "empty", 0), "OK") // the empty key is a key
	k.eq(c.Exists(kctx, ""), 1)
	k.eq(c.Del(kctx, ""), 1)

	// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX XX GT LT.
	k.eq(c.Set(kctx, "k", "v", 0), "OK")
	k.eq(c.TTL(kctx, "k"), time.Duration(-1))
	k.eq(c.PTTL(kctx, "k"), time.Duration(-1))
	k.eq(c.ExpireTime(kctx, "k"), time.Duration(-1))
	k.eq(c.PExpireTime(kctx, "k"), time.Duration(-1))
	k.eq(c.TTL(kctx, "missing"), time.Duration(-2))
	k.eq(c.PTTL(kctx, "missing"), time.Duration(-2))
	k.eq(c.ExpireTime(kctx, "missing"), time.Duration(-2))
	// No TTL counts as infinite: XX and GT refuse, LT sets. A TTL read back
	// is bounded by the time measured since the command that set it was
	// sent (checker.ttl), not by a guessed slack.
	k.eq(c.ExpireXX(kctx, "k", 100*time.Second), false)
	k.eq(c.ExpireGT(kctx, "k", 100*time.Second), false)
	sent := time.Now()
	k.eq(c.ExpireLT(kctx, "k", 100*time.Second), true)
	k.ttl(c.TTL(kctx, "k"), 100*time.Second, sent)
	k.eq(c.Persist(kctx, "k"), true)
	k.eq(c.Persist(kctx, "k"), false)
	k.eq(c.ExpireNX(kctx, "k", 100*time.Second), true)
	k.eq(c.ExpireNX(kctx, "k", 200*time.Second), false)
	sent = time.Now()
	k.eq(c.ExpireXX(kctx, "k", 200*time.Second), true)
	k.ttl(c.TTL(kctx, "k"), 200*time.Second, sent)
	k.eq(c.ExpireGT(kctx, "k", 100*time.Second), false)
	k.eq(c.ExpireGT(kctx, "k", 300*time.Second), true)
	k.eq(c.ExpireLT(kctx, "k", 400*time.Second), false)
	sent = time.Now()
	k.eq(c.ExpireLT(kctx, "k", 50*time.Second), true)
	k.ttl(c.TTL(kctx, "k"), 50*time.Second, sent)
	k.ttl(c.PTTL(kctx, "k"), 50*time.Second, sent)
	// PEXPIRE keeps the milliseconds, and a later PEXPIRE replaces a short
	// TTL. Both need the key alive until the second PEXPIRE: a round the
	// machine was too slow for is redone with a longer TTL (beforeExpiry),
	// the key first put back as it was.
	beforeExpiry(t, "PEXPIRE k 1499", 1499*time.Millisecond, func(r ttlRound) bool {
		k.eq(c.Set(kctx, "k", "v", 50*time.Second), "OK")
		short := c.PExpire(kctx, "k", r.ttl)
		pttl := c.PTTL(kctx, "k")
		longer := c.PExpire(kctx, "k", 80*time.Second)
		if !r.inTime() {
			return false
		}
		k.eq(short, true)
		k.ttl(pttl, r.ttl, r.start)
		k.eq(longer, true)
		return true
	})
	sent = time.Now()
	k.eq(do(c, "pexpire", "k", 90000, "GT"), 1)
	k.eq(do(c, "pexpire", "k", 95000, "LT"), 0)
	k.eq(do(c, "pexpire", "k", 95000, "NX"), 0)
	k.ttl(c.PTTL(kctx, "k"), 90*time.Second, sent)
	at := time.Now().Add(time.Hour).Truncate(time.Second)
	k.eq(c.ExpireAt(kctx, "k", at), true)
	k.eq(c.ExpireTime(kctx, "k"), time.Duration(at.Unix())*time.Second)
	k.eq(c.PExpireTime(kctx, "k"), time.Duration(at.UnixMilli())*time.Millisecond)
	sent = time.Now()
	k.ttlUntil(c.TTL(kctx, "k"), at, sent)
	atms := time.Now().Add(2 * time.Hour).Truncate(time.Millisecond)
	k.eq(c.PExpireAt(kctx, "k", atms), true)
	k.eq(c.PExpireTime(kctx, "k"), time.Duration(atms.UnixMilli())*time.Millisecond)
	k.eq(do(c, "expireat", "k", at.Unix(), "GT"), 0)
	k.eq(do(c, "expireat", "k", at.Unix(), "LT"), 1)
	k.eq(do(c, "pexpireat", "k", atms.UnixMilli(), "LT"), 0)
	k.eq(do(c, "pexpireat", "k", atms.UnixMilli(), "XX"), 1)
	k.eq(do(c, "expireat", "k", at.Unix(), "NX"), 0)
	k.eq(c.PExpireTime(kctx, "k"), time.Duration(atms.UnixMilli())*time.Millisecond)
	k.eq(c.Expire(kctx, "missing", time.Minute), false)
	k.eq(c.Persist(kctx, "missing"), false)
	// A deadline already past deletes the key and answers 1; GT against
	// no TTL refuses first, and the key stays.
	for i, expire := range []func(key string) *redis.BoolCmd{
		func(key string) *redis.BoolCmd { return c.Expire(kctx, key, 0) },
		func(key string) *redis.BoolCmd { return c.PExpire(kctx, key, -time.Millisecond) },
		func(key string) *redis.BoolCmd { return c.ExpireAt(kctx, key, time.Unix(1, 0)) },
		func(key string) *redis.BoolCmd { return c.PExpireAt(kctx, key, time.Now().Add(-time.Second)) },
	} {
		key := "past" + strconv.Itoa(i)
		k.eq(c.Set(kctx, key, "v", 0), "OK")
		k.eq(expire(key), true)
		k.eq(c.Exists(kctx, key), 0)
	}
	k.eq(c.Set(kctx, "gt", "v", 0), "OK")
	k.eq(do(c, "expire", "gt", -1, "GT"), 0)
	k.eq(c.Exists(kctx, "gt"), 1)
	for _, tc := range []struct {
		args []any
		err  string
	}{
		{[]any{"expire", "k", 10, "NX", "XX"}, "ERR NX and XX, GT or LT options at the same time are not compatible"},
		{[]any{"expire", "k", 10, "NX", "GT"}, "ERR NX and XX, GT or LT options at the same time are not compatible"},
		{[]any{"pexpire", "k", 10, "GT", "LT"}, "ERR GT and LT options at the same time are not compatible"},
		{[]any{"expireat", "k", 10, "foo"}, "ERR Unsupported option foo"},
		{[]any{"expire", "k", "abc"}, errNotInt},
		{[]any{"pexpire", "k", "10.5"}, errNotInt},
		{[]any{"expire", "missing", "9223372036854775"}, errExpire("expire")},
		{[]any{"pexpire", "missing", "9223372036854775807"}, errExpire("pexpire")},
		{[]any{"expireat", "missing", "9223372036854776"}, errExpire("expireat")},
		{[]any{"expire", "k"}, errArity("expire")},
		{[]any{"pexpireat", "k"}, errArity("pexpireat")},
		{[]any{"ttl"}, errArity("ttl")},
		{[]any{"pttl", "a", "b"}, errArity("pttl")},
		{[]any{"persist"}, errArity("persist")},
	} {
		k.err(do(c, tc.args...), tc.err)
	}
	k.eq(c.Set(kctx, "k", "w", 0), "OK") // SET clears the TTL
	k.eq(c.TTL(kctx, "k"), time.Duration(-1))

	// RENAME, RENAMENX: the TTL moves with the value.
	k.err(c.Rename(kctx, "missing", "x"), errNoSuchKey)
	k.err(c.RenameNX(kctx, "missing", "x"), errNoSuchKey)
	sent = time.Now()
	k.eq(c.Set(kctx, "src", "v", 100*time.Second), "OK")
	k.eq(c.Rename(kctx, "src", "dst"), "OK")
	k.eq(c.Exists(kctx, "src"), 0)
	k.eq(c.Get(kctx, "dst"), "v")
	k.ttl(c.TTL(kctx, "dst"), 100*time.Second, sent)
	k.eq(c.Rename(kctx, "dst", "dst"), "OK")
	k.eq(c.RenameNX(kctx, "dst", "dst"), false)
	k.eq(c.Set(kctx, "other", "o", 0), "OK")
	k.eq(c.RenameNX(kctx, "dst", "other"), false)
	k.eq(c.Get(kctx, "other"), "o")
	k.eq(c.Rename(kctx, "dst", "other"), "OK")
	k.eq(c.Get(kctx, "other"), "v")
	k.ttl(c.TTL(kctx, "other"), 100*time.Second, sent) // the TTL src was given
	k.eq(c.HSet(kctx, "hsrc", "f", "v"), 1)
	k.eq(c.RenameNX(kctx, "hsrc", "hdst"), true)
	k.eq(c.HGet(kctx, "hdst", "f"), "v")
	k.eq(c.Type(kctx, "hsrc"), "none")
	k.err(do(c, "rename", "a"), errArity("rename"))

	// COPY, in this database (cross-database COPY is in TestKeyspaceSelect).
	k.eq(c.Copy(kctx, "missing", "x", 0, false), 0)
	sent = time.Now()
	k.eq(c.Set(kctx, "cs", "v", 100*time.Second), "OK")
	k.eq(do(c, "copy", "cs", "cd"), 1)
	k.eq(c.Get(kctx, "cd"), "v")
	k.ttl(c.TTL(kctx, "cd"), 100*time.Second, sent)
	k.eq(c.Set(kctx, "cs", "w", 0), "OK")
	k.eq(do(c, "copy", "cs", "cd"), 0)
	k.eq(do(c, "copy", "cs", "cd", "REPLACE"), 1)
	k.eq(c.Get(kctx, "cd"), "w")
	k.eq(c.TTL(kctx, "cd"), time.Duration(-1))
	k.eq(c.SAdd(kctx, "cset", "a", "b"), 2)
	k.eq(do(c, "copy", "cset", "cset2"), 1)
	k.eq(c.SAdd(kctx, "cset2", "c"), 1) // the copy is its own value
	k.eq(c.SMembers(kctx, "cset"), []string{"a", "b"})
	k.eq(c.SMembers(kctx, "cset2"), []string{"a", "b", "c"})
	k.err(do(c, "copy", "cs", "cs"), "ERR source and destination objects are the same")
	k.err(c.Copy(kctx, "cs", "cs", 0, false), "ERR source and destination objects are the same")
	k.err(do(c, "copy", "cs", "cd", "foo"), errSyntax)
	k.err(do(c, "copy", "cs", "cd", "DB"), errSyntax)
	k.err(do(c, "copy", "cs", "cd", "DB", "x"), errNotInt)
	k.err(c.Copy(kctx, "cs", "cd", 16, false), errDBRange)
	k.err(do(c, "copy", "cs"), errArity("copy"))

	// KEYS with glob patterns.
	k.eq(c.FlushDB(kctx), "OK")
	for _, key := range []string{"hello", "hallo", "hxllo", "heeeello", "hllo", "h*llo", "a[b"} {
		k.eq(c.Set(kctx, key, "1", 0), "OK")
	}
	sorted := func(cmd *redis.StringSliceCmd) *redis.StringSliceCmd {
		slices.Sort(cmd.Val())
		return cmd
	}
	k.eq(c.Keys(kctx, "nomatch"), []string{})
	k.eq(sorted(c.Keys(kctx, "h?llo")), []string{"h*llo", "hallo", "hello", "hxllo"})
	k.eq(sorted(c.Keys(kctx, "h*llo")), []string{"h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"})
	k.eq(sorted(c.Keys(kctx, "h[ae]llo")), []string{"hallo", "hello"})
	k.eq(sorted(c.Keys(kctx, "h[^e]llo")), []string{"h*llo", "hallo", "hxllo"})
	k.eq(c.Keys(kctx, `h\*llo`), []string{"h*llo"})
	k.eq(c.Keys(kctx, "a[[]b"), []string{"a[b"})
	k.eq(sorted(c.Keys(kctx, "*")), []string{"a[b", "h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"})
	k.err(do(c, "keys"), errArity("keys"))

	// SCAN with MATCH, COUNT and TYPE: a full walk finds each key once.
	k.eq(c.HSet(kctx, "hash1", "f", "v"), 1)
	k.eq(c.SAdd(kctx, "set1", "m"), 1)
	scanAll := func(match string, count int64, typ string) []string {
		t.Helper()
		var all []string
		var cursor uint64
		for range 1000 {
			keys, next, err := c.ScanType(kctx, cursor, match, count, typ).Result()
			if err != nil {
				t.Fatalf("SCAN %d MATCH %q COUNT %d TYPE %q: %v", cursor, match, count, typ, err)
			}
			all = append(all, keys...)
			if cursor = next; cursor == 0 {
				slices.Sort(all)
				return all
			}
		}
		t.Fatalf("SCAN MATCH %q COUNT %d never ended", match, count)
		return nil
	}
	everything := []string{"a[b", "h*llo", "hallo", "hash1", "heeeello", "hello", "hllo", "hxllo", "set1"}
	for _, count := range []int64{0, 1, 2, 3, 100} { // 0: go-redis sends no COUNT
		if got := scanAll("", count, ""); !slices.Equal(got, everything) {
			t.Errorf("SCAN COUNT %d = %q, want %q", count, got, everything)
		}
	}
	if got := scanAll("h?llo", 1, ""); !slices.Equal(got, []string{"h*llo", "hallo", "hello", "hxllo"}) {
		t.Errorf("SCAN MATCH h?llo = %q", got)
	}
	if got := scanAll("", 2, "hash"); !slices.Equal(got, []string{"hash1"}) {
		t.Errorf("SCAN TYPE hash = %q", got)
	}
	if got := scanAll("*1", 2, "set"); !slices.Equal(got, []string{"set1"}) {
		t.Errorf("SCAN MATCH *1 TYPE set = %q", got)
	}
	if got := scanAll("", 5, "list"); len(got) != 0 {
		t.Errorf("SCAN TYPE list = %q", got)
	}
	var it []string
	iter := c.Scan(kctx, 0, "h*", 2).Iterator()
	for iter.Next(kctx) {
		it = append(it, iter.Val())
	}
	slices.Sort(it)
	if err := iter.Err(); err != nil || !slices.Equal(it, []string{"h*llo", "hallo", "hash1", "heeeello", "hello", "hllo", "hxllo"}) {
		t.Errorf("SCAN iterator MATCH h* = %q, %v", it, err)
	}
	k.err(do(c, "scan", "x"), errBadCursor)
	k.err(do(c, "scan", "0", "COUNT", "0"), errSyntax)
	k.err(do(c, "scan", "0", "COUNT", "x"), errNotInt)
	k.err(do(c, "scan", "0", "foo", "bar"), errSyntax)
	k.err(do(c, "scan"), errArity("scan"))

	// RANDOMKEY, DBSIZE, FLUSHDB, FLUSHALL.
	k.eq(c.DBSize(kctx), 9)
	for range 20 {
		key, err := c.RandomKey(kctx).Result()
		if err != nil || !slices.Contains(everything, key) {
			t.Fatalf("RANDOMKEY = %q, %v", key, err)
		}
	}
	k.err(do(c, "flushdb", "foo"), errSyntax)
	k.err(do(c, "flushall", "sync", "async"), errSyntax)
	k.eq(c.FlushDBAsync(kctx), "OK")
	k.eq(c.DBSize(kctx), 0)
	k.null(c.RandomKey(kctx))
	k.eq(c.Set(kctx, "x", "1", 0), "OK")
	k.eq(c.RandomKey(kctx), "x")
	k.eq(c.FlushAll(kctx), "OK")
	k.eq(c.DBSize(kctx), 0)
	k.err(do(c, "dbsize", "x"), errArity("dbsize"))
	k.err(do(c, "randomkey", "x"), errArity("randomkey"))
}

// SCAN's guarantee over a socket: a full iteration returns every key that
// was there for the whole of it, while another client adds and deletes
// other keys of every type.
func TestKeyspaceScanUnderWrites(t *testing.T) {
	n, c := ksNode(t)
	rng := seededRand(t)
	const originals = 2000
	want := make(map[string]bool, originals)
	_, err := c.Pipelined(kctx, func(p redis.Pipeliner) error {
		for i := range originals {
			key := fmt.Sprintf("orig:%04d", i)
			want[key] = true
			switch i % 3 {
			case 0:
				p.Set(kctx, key, i, 0)
			case 1:
				p.HSet(kctx, key, "f", i)
			case 2:
				p.SAdd(kctx, key, i)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("loading %d keys: %v", originals, err)
	}

	// The writer runs until stopped or until a write fails, and reports
	// that error when it ends; it is stopped at the end, and when the test
	// fails early.
	writer := n.client()
	stop := make(chan struct{})
	started := make(chan struct{}) // closed at the writer's 50th write
	finished := make(chan struct{})
	var werr error // the writer's error, read after finished is closed
	var writes atomic.Int64
	wseed := rng.Uint64()
	go func() {
		defer close(finished)
		wr := rand.New(rand.NewPCG(wseed, 1))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprintf("noise:%d", wr.IntN(3000))
			var err error
			switch wr.IntN(5) {
			case 0:
				err = writer.Set(kctx, key, i, 0).Err()
			case 1:
				err = writer.HSet(kctx, key, "f", i).Err()
			case 2:
				err = writer.SAdd(kctx, key, i).Err()
			case 3, 4:
				err = writer.Del(kctx, key, fmt.Sprintf("noise:%d", wr.IntN(3000))).Err()
			}
			if err != nil && err.Error() != errWrongType {
				werr = fmt.Errorf("write %d: %w", i, err)
				return
			}
			if writes.Add(1) == 50 {
				close(started)
			}
		}
	}()
	var stopOnce sync.Once
	stopWriter := func() error {
		stopOnce.Do(func() { close(stop) })
		<-finished
		return werr
	}
	t.Cleanup(func() { stopWriter() })
	select {
	case <-started:
	case <-finished:
		t.Fatalf("writer stopped before its 50th write: %v", werr)
	case <-time.After(testcluster.ConditionTimeout):
		t.Fatalf("writer made %d writes in %v, want 50 before scanning", writes.Load(), testcluster.ConditionTimeout)
	}

	for _, tc := range []struct {
		match string
		count int64
		typ   string
	}{
		{"", 25, ""},
		{"", 10, ""},
		{"orig:1*", 100, ""},
		{"", 40, "hash"},
	} {
		before := writes.Load()
		seen := map[string]int{}
		var cursor uint64
		calls := 0
		for {
			keys, next, err := c.ScanType(kctx, cursor, tc.match, tc.count, tc.typ).Result()
			if err != nil {
				t.Fatalf("SCAN %d: %v", cursor, err)
			}
			calls++
			for _, key := range keys {
				seen[key]++
				if !strings.HasPrefix(key, "orig:") && !strings.HasPrefix(key, "noise:") {
					t.Errorf("SCAN returned %q, never written", key)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
			if calls > 100000 {
				t.Fatalf("SCAN never ends")
			}
		}
		missing := 0
		for key := range want {
			i, _ := strconv.Atoi(key[5:])
			if tc.match == "orig:1*" && !strings.HasPrefix(key, "orig:1") || tc.typ == "hash" && i%3 != 1 {
				continue
			}
			if seen[key] == 0 {
				if missing++; missing <= 10 {
					t.Errorf("SCAN MATCH %q COUNT %d TYPE %q: %s never returned", tc.match, tc.count, tc.typ, key)
				}
			}
		}
		for key := range seen {
			if tc.match != "" && !strings.HasPrefix(key, "orig:1") {
				t.Errorf("SCAN MATCH %q returned %q", tc.match, key)
			}
		}
		t.Logf("SCAN MATCH %q COUNT %d TYPE %q: %d calls, %d keys, %d missing, %d writes by the other client meanwhile",
			tc.match, tc.count, tc.typ, calls, len(seen), missing, writes.Load()-before)
	}
	if err := stopWriter(); err != nil {
		t.Errorf("writer: %v", err)
	}
}
