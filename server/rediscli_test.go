package server

// redis-cli (Debian's redis-tools, 7.0) against a real node: a script per
// command family fed on stdin over one connection, compared with the exact
// text redis-cli prints. Not on a terminal, redis-cli prints replies raw:
// a status, a bulk string or an integer on a line of its own, a null as an
// empty line, an array's elements one per line (nested ones flattened),
// and an error as its message followed by an empty line. --no-raw gives
// the terminal's format instead. Every expected output below is also what
// redis-server 7.0.15 prints for the same script (TestRedisCLIScriptsAgainstRedis
// replays them when redis-server is installed).

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// rcNode starts a node for a redis-cli test, or skips the test when there
// is no redis-cli.
func rcNode(t *testing.T) *testNode {
	t.Helper()
	testcluster.NeedTool(t, "redis-cli")
	t.Parallel()
	return startNode(t, withNoSync())
}

// rcExpect runs redis-cli against addr with args and returns an error
// unless it printed want: a condition for testcluster.Eventually.
func rcExpect(t *testing.T, addr, want string, args ...string) error {
	t.Helper()
	if got := testcluster.RedisCLI(t, addr, "", args...); got != want {
		return fmt.Errorf("redis-cli %q = %q, want %q", args, got, want)
	}
	return nil
}

// rcStep is one command of a script and what redis-cli prints for it.
// Each line of out is matched exactly, except a line ending in "~lo..hi",
// which matches an integer in [lo, hi] there, or in "~ttl n" ("~pttl n"),
// which matches a TTL in seconds (milliseconds) set to n during the run:
// at most n, and at least n less the time the run took, less one for
// rounding.
type rcStep struct {
	in, out string
}

// Output helpers, in redis-cli's raw format.
func rcLines(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
func rcErr(msg string) string        { return msg + "\n\n" }
func rcRange(lo, hi int64) string    { return fmt.Sprintf("~%d..%d\n", lo, hi) }
func rcTTL(secs int64) string        { return fmt.Sprintf("~ttl %d\n", secs) }
func rcPTTL(ms int64) string         { return fmt.Sprintf("~pttl %d\n", ms) }

const rcNil = "\n"

// rcScript runs the steps' commands on one redis-cli connection and checks
// every step's output.
func rcScript(t *testing.T, addr string, steps []rcStep, args ...string) {
	t.Helper()
	var in strings.Builder
	for _, s := range steps {
		in.WriteString(s.in + "\n")
	}
	start := time.Now()
	out := testcluster.RedisCLI(t, addr, in.String(), args...)
	rcCheck(t, out, steps, time.Since(start))
}

// rcCheck matches redis-cli's output against the steps, and reports the
// first command whose output differs. took is how long the run that
// printed out lasted, from before redis-cli started to after it ended.
func rcCheck(t *testing.T, out string, steps []rcStep, took time.Duration) {
	t.Helper()
	got := strings.SplitAfter(out, "\n")
	if got[len(got)-1] == "" {
		got = got[:len(got)-1]
	}
	pos := 0
	for i, s := range steps {
		want := strings.SplitAfter(s.out, "\n")
		want = want[:len(want)-1]
		if pos+len(want) > len(got) {
			t.Fatalf("step %d %q: output ended; want %q\nwhole output:\n%s", i, s.in, s.out, out)
		}
		for j, w := range want {
			g := got[pos+j]
			if !rcLineMatch(g, w, took) {
				t.Fatalf("step %d %q: got %q, want %q\nwhole output:\n%s", i, s.in, strings.Join(got[pos:pos+len(want)], ""), s.out, out)
			}
		}
		pos += len(want)
	}
	if pos != len(got) {
		t.Fatalf("output goes on after the last step: %q", strings.Join(got[pos:], ""))
	}
}

// rcLineMatch matches one output line; in want, "~lo..hi" at the end
// stands for an integer in [lo, hi], and "~ttl n" ("~pttl n") for a TTL in
// seconds (milliseconds) set to n less than took before the line was
// printed.
func rcLineMatch(got, want string, took time.Duration) bool {
	i := strings.LastIndex(want, "~")
	if i < 0 {
		return got == want
	}
	rest, found := strings.CutPrefix(got, want[:i])
	n, err := strconv.ParseInt(strings.TrimSuffix(rest, "\n"), 10, 64)
	if !found || err != nil || !strings.HasSuffix(rest, "\n") {
		return got == want
	}
	spec := strings.TrimSuffix(want[i+1:], "\n")
	for unit, prefix := range map[time.Duration]string{time.Second: "ttl ", time.Millisecond: "pttl "} {
		if v, ok := strings.CutPrefix(spec, prefix); ok {
			ttl, err := strconv.ParseInt(v, 10, 64)
			elapsed := int64((took + unit - 1) / unit) // rounded up
			return err == nil && n <= ttl && n >= max(ttl-elapsed-1, 0)
		}
	}
	lo, hi, ok := strings.Cut(spec, "..")
	l, err1 := strconv.ParseInt(lo, 10, 64)
	h, err2 := strconv.ParseInt(hi, 10, 64)
	return ok && err1 == nil && err2 == nil && n >= l && n <= h
}

// The scripts, one per family. Each runs in a database of its own.

var rcStrings = []rcStep{
	{"SET s hello", "OK\n"},
	{"GET s", "hello\n"},
	{"GET missing", rcNil},
	{"SET s world XX GET", "hello\n"},
	{"SET s2 v NX GET", rcNil},
	{"SETNX s x", "0\n"},
	{"SET n 10", "OK\n"},
	{"INCR n", "11\n"},
	{"INCRBY n 5", "16\n"},
	{"DECR n", "15\n"},
	{"DECRBY n 3", "12\n"},
	{"INCRBYFLOAT n 0.5", "12.5\n"},
	{"INCRBYFLOAT n 0.1", "12.6\n"},
	{"INCR s", rcErr(errNotInt)},
	{"MSET a 1 b 2", "OK\n"},
	{"MGET a missing b", rcLines("1", "", "2")},
	{"MSETNX a 9 c 3", "0\n"},
	{"APPEND s !", "6\n"},
	{"STRLEN s", "6\n"},
	{"GETRANGE s 0 2", "wor\n"},
	{"SUBSTR s -2 -1", "d!\n"},
	{"SETRANGE s 0 W", "6\n"},
	{"GETDEL s", "World!\n"},
	{"GETDEL s", rcNil},
	{"GETSET a 10", "1\n"},
	{"SET t v EX 100", "OK\n"},
	{"TTL t", rcTTL(100)},
	{"GETEX t PX 50000", "v\n"},
	{"PTTL t", rcPTTL(50000)},
	{"GETEX t PERSIST", "v\n"},
	{"TTL t", "-1\n"},
	{"SETEX t 50 v", "OK\n"},
	{"TTL t", rcTTL(50)},
	{"PSETEX p 100000 v", "OK\n"},
	{"PTTL p", rcPTTL(100000)},
	{"SET x v EXAT 4102444800", "OK\n"},
	{"EXPIRETIME x", "4102444800\n"},
	{"SET x v PXAT 4102444800123 GET", "v\n"},
	{"PEXPIRETIME x", "4102444800123\n"},
	{"SET x v KEEPTTL", "OK\n"},
	{"PEXPIRETIME x", "4102444800123\n"},
	{"SET k v NX XX", rcErr(errSyntax)},
	{"SET k v EX 0", rcErr(errExpire("set"))},
	{"SET k v EX abc", rcErr(errNotInt)},
	{"SETEX k 0 v", rcErr(errExpire("setex"))},
	{"INCR a b", rcErr(errArity("incr"))},
	{"HSET h f v", "1\n"},
	{"GET h", rcErr(errWrongType)},
	{"INCRBYFLOAT n abc", rcErr(errNotFloat)},
	{`SET "sp ace" "a\x00b\r\n"`, "OK\n"},
	{`GET "sp ace"`, "a\x00b\r\n\n"},
	{`STRLEN "sp ace"`, "5\n"},
}

var rcKeys = []rcStep{
	{"MSET a 1 b 2 c 3", "OK\n"},
	{"DEL a a missing", "1\n"},
	{"UNLINK b", "1\n"},
	{"EXISTS a b c c", "2\n"},
	{"TOUCH c missing", "1\n"},
	{"TYPE c", "string\n"},
	{"TYPE missing", "none\n"},
	{"EXPIRE c 100 XX", "0\n"},
	{"EXPIRE c 100 GT", "0\n"},
	{"EXPIRE c 100 NX", "1\n"},
	{"EXPIRE c 200 NX", "0\n"},
	{"EXPIRE c 200 GT", "1\n"},
	{"EXPIRE c 50 LT", "1\n"},
	{"TTL c", rcTTL(50)},
	{"PEXPIRE c 40000", "1\n"},
	{"PTTL c", rcPTTL(40000)},
	{"EXPIREAT c 4102444800", "1\n"},
	{"EXPIRETIME c", "4102444800\n"},
	{"PEXPIREAT c 4102444800500 LT", "0\n"},
	{"PEXPIREAT c 4102444800500 GT", "1\n"},
	{"PEXPIRETIME c", "4102444800500\n"},
	{"PERSIST c", "1\n"},
	{"PERSIST c", "0\n"},
	{"TTL c", "-1\n"},
	{"TTL missing", "-2\n"},
	{"PTTL missing", "-2\n"},
	{"EXPIRETIME missing", "-2\n"},
	{"EXPIRE c 10 NX XX", rcErr("ERR NX and XX, GT or LT options at the same time are not compatible")},
	{"EXPIRE c 10 GT LT", rcErr("ERR GT and LT options at the same time are not compatible")},
	{"EXPIRE c abc", rcErr(errNotInt)},
	{"EXPIRE c 10 foo", rcErr("ERR Unsupported option foo")},
	{"SET src v EX 300", "OK\n"},
	{"RENAME src dst", "OK\n"},
	{"TTL dst", rcTTL(300)},
	{"RENAME missing x", rcErr(errNoSuchKey)},
	{"RENAMENX dst c", "0\n"},
	{"SET other o", "OK\n"},
	{"COPY dst other", "0\n"},
	{"COPY dst other REPLACE", "1\n"},
	{"GET other", "v\n"},
	{"TTL other", rcTTL(300)},
	{"COPY dst dst", rcErr("ERR source and destination objects are the same")},
	{"COPY dst d DB 16", rcErr(errDBRange)},
	{"KEYS o*", "other\n"},
	{"KEYS nomatch", "\n"},
	{"SCAN 0 MATCH ot* COUNT 100", rcLines("0", "other")},
	{"SCAN 0 COUNT 100 TYPE hash", rcLines("0", "")},
	{"SCAN x", rcErr(errBadCursor)},
	{"DBSIZE", "3\n"},
	{"RANDOMKEY x", rcErr(errArity("randomkey"))},
	{"DEL dst c", "2\n"},
	{"RANDOMKEY", "other\n"},
	{"FLUSHDB foo", rcErr(errSyntax)},
	{"FLUSHDB", "OK\n"},
	{"DBSIZE", "0\n"},
	{"RANDOMKEY", rcNil},
}

var rcHashes = []rcStep{
	{"HSET h a 1 b 2", "2\n"},
	{"HSET h b 3 c 4", "1\n"},
	{"HGET h b", "3\n"},
	{"HGET h missing", rcNil},
	{"HMGET h a missing c", rcLines("1", "", "4")},
	{"HGETALL h", rcLines("a", "1", "b", "3", "c", "4")},
	{"HKEYS h", rcLines("a", "b", "c")},
	{"HVALS h", rcLines("1", "3", "4")},
	{"HLEN h", "3\n"},
	{"HEXISTS h a", "1\n"},
	{"HEXISTS h z", "0\n"},
	{"HSETNX h a x", "0\n"},
	{"HSETNX h d 5", "1\n"},
	{"HMSET h e 6 f 7", "OK\n"},
	{"HDEL h e f missing", "2\n"},
	{"HINCRBY h a 10", "11\n"},
	{"HINCRBY h g -3", "-3\n"},
	{"HINCRBYFLOAT h a 0.5", "11.5\n"},
	{"HINCRBYFLOAT h x 0.1", "0.1\n"},
	{"HINCRBYFLOAT h x 0.2", "0.3\n"},
	{"HSTRLEN h a", "4\n"},
	{"HSCAN h 0 MATCH [ab]", rcLines("0", "a", "11.5", "b", "3")},
	{"HRANDFIELD h 100", rcLines("a", "b", "c", "d", "g", "x")},
	{"HRANDFIELD missing", rcNil},
	{"HRANDFIELD missing 3", "\n"},
	{"HGETALL missing", "\n"},
	{"HINCRBY h a 1.5", rcErr(errNotInt)},
	{"HINCRBY h x 1", rcErr(errHashNotInt)},
	{"HINCRBYFLOAT h b abc", rcErr(errNotFloat)},
	{"HSET h f", rcErr(errArity("hset"))},
	{"HGET h", rcErr(errArity("hget"))},
	{"HSCAN h x", rcErr(errBadCursor)},
	{"SET s v", "OK\n"},
	{"HGET s f", rcErr(errWrongType)},
	{"HSET s f v", rcErr(errWrongType)},
	{"EXPIRE h 100", "1\n"},
	{"TTL h", rcTTL(100)},
	{"HSET h z 26", "1\n"},
	{"TTL h", rcTTL(100)},
	{"HDEL h a b c d g x z", "7\n"},
	{"EXISTS h", "0\n"},
	{"TTL h", "-2\n"},
}

var rcSets = []rcStep{
	{"SADD s 1 2 3", "3\n"},
	{"SADD s 3 4", "1\n"},
	{"SREM s 4 missing", "1\n"},
	{"SMEMBERS s", rcLines("1", "2", "3")},
	{"SCARD s", "3\n"},
	{"SISMEMBER s 1", "1\n"},
	{"SISMEMBER s 9", "0\n"},
	{"SMISMEMBER s 1 9 3", rcLines("1", "0", "1")},
	{"SSCAN s 0", rcLines("0", "1", "2", "3")},
	{"SSCAN s 0 MATCH 2", rcLines("0", "2")},
	{"SMEMBERS missing", "\n"},
	{"SCARD missing", "0\n"},
	{"SADD s", rcErr(errArity("sadd"))},
	{"SSCAN s x", rcErr(errBadCursor)},
	{"SSCAN s 0 COUNT 0", rcErr(errSyntax)},
	{"SET str v", "OK\n"},
	{"SADD str a", rcErr(errWrongType)},
	{"SMEMBERS str", rcErr(errWrongType)},
	{"EXPIRE s 100", "1\n"},
	{"TTL s", rcTTL(100)},
	{"SADD s 5", "1\n"},
	{"TTL s", rcTTL(100)},
	{"SREM s 1 2 3 5", "4\n"},
	{"EXISTS s", "0\n"},
	{"TTL s", "-2\n"},
}

var rcTransactions = []rcStep{
	{"MULTI", "OK\n"},
	{"SET t 1", "QUEUED\n"},
	{"INCR t", "QUEUED\n"},
	{"GET t", "QUEUED\n"},
	{"EXPIRE t 100", "QUEUED\n"},
	{"HSET th f v", "QUEUED\n"},
	{"SADD t x", "QUEUED\n"},
	// An error inside EXEC's array is printed with its empty line.
	{"EXEC", rcLines("OK", "2", "2", "1", "1", errWrongType, "")},
	{"TTL t", rcTTL(100)},
	{"EXEC", rcErr("ERR EXEC without MULTI")},
	{"DISCARD", rcErr("ERR DISCARD without MULTI")},
	{"MULTI", "OK\n"},
	{"SET t 5", "QUEUED\n"},
	{"DISCARD", "OK\n"},
	{"GET t", "2\n"},
	{"MULTI", "OK\n"},
	{"SET t 6", "QUEUED\n"},
	{"SET t", rcErr(errArity("set"))},
	{"EXEC", rcErr("EXECABORT Transaction discarded because of previous errors.")},
	{"GET t", "2\n"},
	{"WATCH t", "OK\n"},
	{"MULTI", "OK\n"},
	{"INCR t", "QUEUED\n"},
	{"EXEC", "3\n"},
	{"UNWATCH", "OK\n"},
	{"MULTI", "OK\n"},
	{"MULTI", rcErr("ERR MULTI calls can not be nested")},
	{"WATCH t", rcErr("ERR WATCH inside MULTI is not allowed")},
	{"EXEC", "\n"}, // an empty array
}

var rcFamilies = []struct {
	name  string
	db    string
	steps []rcStep
}{
	{"strings", "1", rcStrings},
	{"keys", "2", rcKeys},
	{"hashes", "3", rcHashes},
	{"sets", "4", rcSets},
	{"transactions", "5", rcTransactions},
}

func TestRedisCLIScripts(t *testing.T) {
	n := rcNode(t)
	for _, f := range rcFamilies {
		t.Run(f.name, func(t *testing.T) {
			rcScript(t, n.addr, f.steps, "-n", f.db)
		})
	}
}

// The same commands given as arguments, one redis-cli run each (a new
// connection every time), and real-time expiry seen through redis-cli.
func TestRedisCLIArgs(t *testing.T) {
	n := rcNode(t)
	run := func(want string, args ...string) {
		t.Helper()
		if got := testcluster.RedisCLI(t, n.addr, "", args...); got != want {
			t.Errorf("redis-cli %q = %q, want %q", args, got, want)
		}
	}
	sent := time.Now()
	run("OK\n", "SET", "session:1", `{"user":"alice"}`, "EX", "1800")
	run(`{"user":"alice"}`+"\n", "GET", "session:1")
	run(`"{\"user\":\"alice\"}"`+"\n", "--no-raw", "GET", "session:1")
	if got := testcluster.RedisCLI(t, n.addr, "", "TTL", "session:1"); !rcLineMatch(got, rcTTL(1800), time.Since(sent)) {
		t.Errorf("redis-cli TTL session:1 = %q, %v after the SET was sent", got, time.Since(sent))
	}
	run("2\n", "HSET", "cart:42", "sku-1", "2", "sku-7", "1")
	run("1\n", "EXPIRE", "cart:42", "3600")
	run("sku-1\n2\nsku-7\n1\n", "HGETALL", "cart:42")
	run("1) \"sku-1\"\n2) \"2\"\n3) \"sku-7\"\n4) \"1\"\n", "--no-raw", "HGETALL", "cart:42")
	run("2\n", "SADD", "tags", "b", "a")
	run("a\nb\n", "SMEMBERS", "tags")
	run(rcErr(errWrongType), "SMEMBERS", "cart:42")
	run("(error) "+errWrongType+"\n", "--no-raw", "SADD", "cart:42", "x")
	run(rcErr(errArity("get")), "GET")

	// Short TTLs set every way, gone after a while.
	run("OK\n", "SET", "px", "v", "PX", "200")
	run("OK\n", "PSETEX", "psetex", "150", "v")
	run("1\n", "HSET", "h", "f", "v")
	run("1\n", "PEXPIRE", "h", "200")
	run("1\n", "SADD", "s", "m")
	run("1\n", "PEXPIREAT", "s", strconv.FormatInt(time.Now().Add(250*time.Millisecond).UnixMilli(), 10))
	run("OK\n", "SET", "g", "v")
	run("v\n", "GETEX", "g", "PX", "200")
	for _, key := range []string{"px", "psetex", "h", "s", "g"} {
		if got := testcluster.RedisCLI(t, n.addr, "", "PTTL", key); !rcLineMatch(got, rcRange(-2, 250), 0) || got == "-1\n" {
			t.Errorf("redis-cli PTTL %s = %q", key, got)
		}
	}
	testcluster.Eventually(t, "short-TTL keys gone (redis-cli EXISTS)", func() error {
		return rcExpect(t, n.addr, "0\n", "EXISTS", "px", "psetex", "h", "s", "g")
	})
	for _, key := range []string{"px", "psetex", "h", "s", "g"} {
		run("-2\n", "TTL", key)
		run("none\n", "TYPE", key)
	}
	run(rcNil, "GET", "px")
	run("(nil)\n", "--no-raw", "GET", "px")
	run("(empty array)\n", "--no-raw", "HGETALL", "h")
	run("(integer) -2\n", "--no-raw", "PTTL", "s")
	run("3\n", "DBSIZE")

	// -e turns an error reply into exit code 1, the message on stderr.
	r := testcluster.RunRedisCLI(t, n.addr, "", "-e", "INCR", "tags")
	if r.ExitCode != 1 || r.Stdout != "" || !strings.Contains(r.Stderr, errWrongType) {
		t.Errorf("redis-cli -e INCR tags: exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// --no-raw prints what redis-cli prints on a terminal.
func TestRedisCLINoRaw(t *testing.T) {
	n := rcNode(t)
	rcScript(t, n.addr, []rcStep{
		{`SET s "a\x00b"`, "OK\n"},
		{"GET s", `"a\x00b"` + "\n"},
		{"GET missing", "(nil)\n"},
		{"INCR n", "(integer) 1\n"},
		{"HSET h a 1 b 2", "(integer) 2\n"},
		{"HGETALL h", rcLines(`1) "a"`, `2) "1"`, `3) "b"`, `4) "2"`)},
		{"SCAN 0 MATCH h COUNT 100", rcLines(`1) "0"`, `2) 1) "h"`)},
		{"SMEMBERS missing", "(empty array)\n"},
		{"MGET s missing", rcLines(`1) "a\x00b"`, "2) (nil)")},
		{"INCR s", "(error) " + errNotInt + "\n"},
		{"SMISMEMBER missing a", rcLines("1) (integer) 0")},
		{"MULTI", "OK\n"},
		{"INCR n", "QUEUED\n"},
		{"GET missing", "QUEUED\n"},
		{"SADD h x", "QUEUED\n"},
		{"EXEC", rcLines("1) (integer) 2", "2) (nil)", "3) (error) "+errWrongType)},
		{"INCRBYFLOAT f 1.5", `"1.5"` + "\n"},
		{"TTL s", "(integer) -1\n"},
		{"EXPIRE s 100", "(integer) 1\n"},
		{"TTL s", "(integer) " + rcTTL(100)},
	}, "--no-raw")
}

// Binary values through -x (the last argument read from stdin), read back
// raw and escaped.
func TestRedisCLIBinary(t *testing.T) {
	n := rcNode(t)
	val := "bin\x00ary\r\n\xff end"
	if got := testcluster.RedisCLI(t, n.addr, val, "-x", "SET", "bk"); got != "OK\n" {
		t.Fatalf("redis-cli -x SET: %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "GET", "bk"); got != val+"\n" {
		t.Errorf("redis-cli GET bk = %q, want %q", got, val+"\n")
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "--no-raw", "GET", "bk"); got != `"bin\x00ary\r\n\xff end"`+"\n" {
		t.Errorf("redis-cli --no-raw GET bk = %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "STRLEN", "bk"); got != strconv.Itoa(len(val))+"\n" {
		t.Errorf("redis-cli STRLEN bk = %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, val, "-x", "HSET", "bh", "f"); got != "1\n" {
		t.Fatalf("redis-cli -x HSET: %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "--no-raw", "HGETALL", "bh"); got != "1) \"f\"\n2) \"bin\\x00ary\\r\\n\\xff end\"\n" {
		t.Errorf("redis-cli --no-raw HGETALL bh = %q", got)
	}
	// A key with a NUL and a CRLF, quoted on stdin.
	out := testcluster.RedisCLI(t, n.addr, `SADD "k\x00\r\n" "m\x00"`+"\nSMEMBERS \"k\\x00\\r\\n\"\nKEYS k*\n", "--no-raw")
	if out != "(integer) 1\n1) \"m\\x00\"\n1) \"k\\x00\\r\\n\"\n" {
		t.Errorf("binary key on stdin: %q", out)
	}
}

// WATCH conflicts seen from redis-cli: another client's write, and the
// expiry of the watched key, make EXEC print a null (an empty line).
func TestRedisCLIWatch(t *testing.T) {
	n := rcNode(t)
	s := testcluster.StartRedisCLI(t, n.addr)
	s.Expect("SET w 1", "OK\n")
	s.Expect("WATCH w", "OK\n")
	if got := testcluster.RedisCLI(t, n.addr, "", "SET", "w", "2"); got != "OK\n" { // another connection
		t.Fatalf("redis-cli SET w 2: %q", got)
	}
	s.Expect("MULTI", "OK\n")
	s.Expect("SET w 3", "QUEUED\n")
	s.Expect("EXEC", rcNil)
	s.Expect("GET w", "2\n")

	// Nothing changed: EXEC runs.
	s.Expect("WATCH w", "OK\n")
	testcluster.RedisCLI(t, n.addr, "", "GET", "w")
	s.Expect("MULTI", "OK\n")
	s.Expect("INCR w", "QUEUED\n")
	s.Expect("EXEC", "3\n")

	// The watched key expires before EXEC. WATCH must find it alive (one
	// already expired is a missing key): a round whose WATCH may have come
	// after the TTL ran out is redone with a longer TTL.
	beforeExpiry(t, "WATCH of a key that then expires", 150*time.Millisecond, func(r ttlRound) bool {
		s.Expect(fmt.Sprintf("SET e v PX %d", r.ttl.Milliseconds()), "OK\n")
		s.Expect("WATCH e", "OK\n")
		if !r.inTime() {
			s.Expect("UNWATCH", "OK\n")
			return false
		}
		testcluster.Eventually(t, "watched key e expired", func() error {
			return rcExpect(t, n.addr, "0\n", "EXISTS", "e")
		})
		s.Expect("MULTI", "OK\n")
		s.Expect("SET e mine", "QUEUED\n")
		s.Expect("EXEC", rcNil)
		s.Expect("GET e", rcNil)
		return true
	})
}

// The scripts above, against redis-server 7.0: the expected outputs are
// Redis's own, not just statehouse's.
func TestRedisCLIScriptsAgainstRedis(t *testing.T) {
	testcluster.NeedTool(t, "redis-cli")
	t.Parallel()
	addr := testcluster.StartRedis(t)
	for _, f := range rcFamilies {
		t.Run(f.name, func(t *testing.T) {
			rcScript(t, addr, f.steps, "-n", f.db)
		})
	}
}
