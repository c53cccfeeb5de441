package server

// Differential tests: the same commands against redis-server 7.0 and
// statehouse, replies compared byte for byte.

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// splitWords splits a script line into words: space-separated, or Go
// double-quoted strings (escapes such as \x00 allowed).
func splitWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			end := 1
			for end < len(line) && line[end] != '"' {
				if line[end] == '\\' {
					end++
				}
				end++
			}
			w, err := strconv.Unquote(line[:end+1])
			if err != nil {
				t.Fatalf("bad quoted word in %q: %v", line, err)
			}
			words = append(words, w)
			line = line[end+1:]
			continue
		}
		w, rest, _ := strings.Cut(line, " ")
		words = append(words, w)
		line = rest
	}
	return words
}

// sortedReply puts the elements of an array reply (pairs for a hash
// reply) in order, for replies whose order Redis does not define.
func sortedReply(t *testing.T, raw string, pairs bool) string {
	t.Helper()
	r := bufio.NewReader(strings.NewReader(raw))
	head, _ := r.ReadString('\n')
	if head[0] != '*' {
		return raw
	}
	n, _ := strconv.Atoi(head[1 : len(head)-2])
	var elems []string
	if pairs {
		n /= 2
	}
	for range n {
		v, err := readValue(r)
		if err != nil {
			t.Fatalf("bad array %q: %v", raw, err)
		}
		if pairs {
			w, _ := readValue(r)
			v += w
		}
		elems = append(elems, v)
	}
	sort.Strings(elems)
	return head + strings.Join(elems, "")
}

// diffScript is run against statehouse and redis-server alike, pipelined
// in one write, and every reply compared byte for byte. "sorted" and
// "sortedpairs" before a command compare an array reply whose order Redis
// leaves undefined (sets of strings, KEYS) as a sorted list. "ttl n" before
// a TTL read after a relative TTL of n seconds was set accepts, from either
// server, any TTL the time the whole script took allows (at most n, at
// least n less that time and a second for rounding): a slow moment
// between the write and the read is not a difference.
const diffScript = `
FLUSHALL
PING
GET s
SET s hello
SET s world XX GET
SET s2 v NX GET
SET s3 v NX XX
SET s3 v EX 0
SET s3 v EX 100 PX 100
SET s3 v EXAT 4102444800
EXPIRETIME s3
SET s3 w KEEPTTL GET
PEXPIRETIME s3
SET s3 v PXAT 4102444800999
PEXPIRETIME s3
SET s3 v EX 100
ttl 100 TTL s3
SET s3 v PERSIST
SET s3 v EX abc
SET s3 v EX 9223372036854776
SETNX s x
SETNX nx x
SETEX ex 100 v
ttl 100 TTL ex
SETEX ex 0 v
SETEX ex abc v
PSETEX px 100000 v
PSETEX px 0 v
GETEX s
GETEX s EX 100
ttl 100 TTL s
GETEX s PERSIST
TTL s
GETEX s EXAT 4102444800
EXPIRETIME s
GETEX s PXAT 4102444800123
PEXPIRETIME s
GETEX s KEEPTTL
GETEX s EX 0
GETEX missing EX 0
GETDEL nx
GETDEL nx
GETSET s new
GETSET missing2 x
MSET a 1 b 2
MSET a
MGET a missing b
MSETNX a 1 c 3
MSETNX c 3 d 4
APPEND c "\x00\r\n"
STRLEN c
GET c
GETRANGE c 0 1
GETRANGE c -2 -1
GETRANGE c 5 1
SUBSTR c 0 0
SETRANGE c 1 xyz
SETRANGE c -1 x
SETRANGE c 10 ""
SETRANGE nokey 3 ab
GET nokey
SETRANGE c 536870912 x
INCR n
INCRBY n 10
DECR n
DECRBY n 20
INCRBY n abc
INCR s
DECRBY n -9223372036854775808
SET big 9223372036854775807
INCR big
INCRBYFLOAT f 10.5
INCRBYFLOAT f 0.1
INCRBYFLOAT f -10.6
INCRBYFLOAT f abc
INCRBYFLOAT f inf
INCRBYFLOAT s 1
LCS s c
HSET h a 1 b 2
GET h
INCR h
APPEND h x
DEL a b c d missing
UNLINK n f
EXISTS s s h missing
TOUCH s h missing
TYPE s
TYPE h
TYPE missing
EXPIRE s 100 XX
EXPIRE s 100 GT
EXPIRE s 100 LT
EXPIRE s 200 NX
EXPIRE s 300 GT
ttl 300 TTL s
EXPIRE s 50 LT
ttl 50 TTL s
PEXPIRE s 40000 NX
EXPIREAT s 4102444800
EXPIRETIME s
PEXPIREAT s 4102444800500 GT
PEXPIRETIME s
EXPIREAT s 4102444801 LT
PERSIST s
PERSIST s
TTL s
PTTL s
EXPIRETIME s
TTL missing
PTTL missing
PEXPIRETIME missing
PERSIST missing
EXPIRE missing 10
EXPIRE s 10 NX XX
EXPIRE s 10 GT LT
EXPIRE s 10 foo
EXPIRE s abc
EXPIRE missing 9223372036854775
PEXPIREAT missing 9223372036854775807
SET gone v
EXPIRE gone 0
EXISTS gone
SET gone v
PEXPIREAT gone 1
EXISTS gone
SET src v EX 300
RENAME src dst
EXISTS src
ttl 300 TTL dst
RENAME missing x
RENAMENX missing x
RENAMENX dst h
RENAME dst dst
RENAMENX dst dst
COPY dst cp
COPY dst cp
COPY dst cp REPLACE
ttl 300 TTL cp
COPY dst dst
COPY dst cp DB 16
COPY dst cp DB x
COPY dst cp foo
COPY dst cp DB 3
COPY h hcopy
HGETALL hcopy
sorted KEYS *
sorted KEYS h*
sorted KEYS ?p
SCAN x
SCAN 0 COUNT 0
SCAN 0 COUNT x
SCAN 0 foo
DBSIZE
RANDOMKEY x
HSET h c 3
HSET h d
HSETNX h a x
HSETNX h e 5
HGET h a
HGET h missing
HGET missing a
HMGET h a missing b
HMSET h f 6 g 7
HDEL h f g missing
HLEN h
HLEN missing
HEXISTS h a
HEXISTS h missing
HGETALL h
HKEYS h
HVALS h
HGETALL missing
HINCRBY h a 10
HINCRBY h a abc
HINCRBY h new -3
HINCRBY h big 9223372036854775807
HINCRBY h big 1
HSET h w abc
HINCRBY h w 1
HINCRBYFLOAT h a 0.5
HINCRBYFLOAT h fl 0.1
HINCRBYFLOAT h fl 0.2
HINCRBYFLOAT h w 1
HINCRBYFLOAT h a inf
HINCRBYFLOAT h a abc
HSTRLEN h a
HSTRLEN h missing
HSCAN h 0 MATCH [ab]
HSCAN h x
HSCAN h 0 COUNT 0
HSCAN missing 0
HRANDFIELD missing
HRANDFIELD missing 5
HRANDFIELD h 0
HRANDFIELD h abc
HRANDFIELD h 1 withvalue
HSET one only 1
HRANDFIELD one
HRANDFIELD one 5 WITHVALUES
HRANDFIELD one -3
HGET s f
HSET s f v
HGETALL s
SADD st 1 2 3
SADD st 3 4
SREM st 4 missing
SMEMBERS st
SCARD st
SISMEMBER st 1
SISMEMBER st 9
SMISMEMBER st 1 9 3
SSCAN st 0
SSCAN st 0 MATCH 2
SSCAN st x
SSCAN st 0 COUNT 0
SMEMBERS missing
SCARD missing
SMISMEMBER missing a
SADD strs b a c
sorted SMEMBERS strs
SADD s a
SMEMBERS s
SREM st 1 2 3
EXISTS st
EXPIRE strs 100
ttl 100 TTL strs
SADD strs d
ttl 100 TTL strs
MULTI
SET t 1
INCR t
GET t
SADD t x
HSET th f v
EXEC
MULTI
SET t 5
DISCARD
GET t
MULTI
SET t 6
SET t
EXEC
GET t
MULTI
MULTI
WATCH t
EXEC
EXEC
DISCARD
WATCH t
SET t 7
MULTI
INCR t
EXEC
WATCH t
MULTI
INCR t
EXEC
UNWATCH
EXEC x
MULTI
SELECT 2
SET indb2 yes
EXEC
GET indb2
SELECT 0
GET indb2
SELECT 16
SELECT abc
SELECT 3
GET dst
TTL dst
SELECT 0
DBSIZE
FLUSHDB foo
FLUSHDB ASYNC
DBSIZE
SELECT 3
DBSIZE
FLUSHALL SYNC
DBSIZE
RANDOMKEY
SET "\x00\r\n\xff" "v\x00\r\n"
GET "\x00\r\n\xff"
KEYS *
GET
SET k
HSET h f
SADD s
EXPIRE k
NOSUCHCOMMAND a b
FLUSHALL
RPUSH nums 3 1 2 10 -5 2.5 1e2
SORT nums
SORT nums DESC
SORT nums ALPHA
SORT nums ALPHA DESC LIMIT 1 3
SORT nums LIMIT 0 0
SORT nums LIMIT -5 2
SORT nums LIMIT 5 100
SORT nums LIMIT 100 2
SORT nums LIMIT 1 -1
SORT nums LIMIT a 1
SORT nums LIMIT 1
SORT nums BY nosort
SORT nums BY nosort DESC
SORT nums BY nosort DESC LIMIT 1 2
SORT nums BY nosort GET #
MSET w_3 30 w_1 10 w_2 -1 w_10 5 o_3 three o_1 one
HSET h_3 f c
HSET h_1 f a
HSET h_2 f b
SORT nums BY w_*
SORT nums BY w_* DESC GET # GET o_* GET h_*->f
SORT nums BY h_*->f ALPHA GET h_*->f
SORT nums BY h_*->f ALPHA DESC
SORT nums BY w_* LIMIT 1 2 GET o_*
SORT nums GET nokey
SORT nums BY w_* STORE dst
LRANGE dst 0 -1
SORT nums BY w_* GET # GET o_* STORE dst
LRANGE dst 0 -1
SET dst x EX 100
SORT nums STORE dst
TTL dst
SORT missing STORE dst
EXISTS dst
SORT missing
SORT_RO nums STORE dst
SORT_RO nums BY w_* GET o_*
RPUSH words b a "" c
SORT words
SORT words ALPHA
SORT words BY nosort STORE dst2
SADD st c a b
SORT st ALPHA
SORT st BY nosort STORE dst3
LRANGE dst3 0 -1
SADD sn 3 1 2
SORT sn
SORT sn DESC LIMIT 0 2
SET str x
SORT str
SORT nums FOO
SORT nums GET
SORT nums BY
SORT nums STORE
SORT
`

// Every command of diffScript, sent as one pipeline, answers byte for byte
// what redis-server 7.0 answers.
func TestKeyspaceAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	type line struct {
		args   []string
		sorted bool
		pairs  bool
		ttl    int64 // > 0: a TTL of at most this many seconds
	}
	var script []line
	for _, l := range strings.Split(diffScript, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		var ln line
		if rest, ok := strings.CutPrefix(l, "sortedpairs "); ok {
			ln.sorted, ln.pairs, l = true, true, rest
		} else if rest, ok := strings.CutPrefix(l, "sorted "); ok {
			ln.sorted, l = true, rest
		} else if rest, ok := strings.CutPrefix(l, "ttl "); ok {
			n, rest, _ := strings.Cut(rest, " ")
			ttl, err := strconv.ParseInt(n, 10, 64)
			if err != nil || ttl <= 0 {
				t.Fatalf("bad ttl line %q", l)
			}
			ln.ttl, l = ttl, rest
		}
		ln.args = splitWords(t, l)
		script = append(script, ln)
	}
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		var batch []byte
		for _, l := range script {
			batch = append(batch, encode(l.args...)...)
		}
		start := time.Now()
		rc.write(batch)
		out := make([]string, len(script))
		for i, l := range script {
			out[i] = rc.read()
			if l.sorted {
				out[i] = sortedReply(t, out[i], l.pairs)
			}
		}
		took := int64((time.Since(start) + time.Second - 1) / time.Second) // rounded up
		for i, l := range script {
			r := strings.TrimSuffix(strings.TrimPrefix(out[i], ":"), "\r\n")
			if v, err := strconv.ParseInt(r, 10, 64); l.ttl > 0 && err == nil && v <= l.ttl && v >= max(l.ttl-took-1, 0) {
				out[i] = fmt.Sprintf("a TTL of at most %d, as the time allows", l.ttl)
			}
		}
		return out
	}
	want := run(addr)
	got := run(n.addr)
	diffs := 0
	for i, l := range script {
		if got[i] != want[i] {
			if diffs++; diffs <= 20 {
				t.Errorf("%q: statehouse %q, redis-server %q", l.args, got[i], want[i])
			}
		}
	}
	t.Logf("%d commands compared, %d differ", len(script), diffs)
}

// Random commands on a few keys of every type, in three databases, against
// statehouse and redis-server alike; every reply must be the same bytes
// (sorted where Redis leaves the order open). No relative TTLs: a deadline
// a few ms apart on the two servers would show in PEXPIRETIME.
func TestKeyspaceRandomAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	rng := seededRand(t)
	key := func() string { return "k" + strconv.Itoa(rng.IntN(6)) }
	field := func() string { return "f" + strconv.Itoa(rng.IntN(4)) }
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	val := func() string {
		return pick("1", "-2", "10", "0", "x", "", "1.5", "abc", "9223372036854775807", "a\x00b", "-0.25", "007", " 3")
	}
	far := time.Now().Add(100 * 24 * time.Hour).Unix()
	deadline := func() (string, string) { // seconds and milliseconds, past or far future
		s := far + int64(rng.IntN(1000))
		if rng.IntN(6) == 0 {
			s = 1 + int64(rng.IntN(1000))
		}
		return strconv.FormatInt(s, 10), strconv.FormatInt(s*1000+int64(rng.IntN(1000)), 10)
	}
	type cmd struct {
		args  []string
		order string // "", "sorted", "pairs"
	}
	gen := func() cmd {
		k := key()
		sec, ms := deadline()
		c := func(args ...string) cmd { return cmd{args: args} }
		switch rng.IntN(50) {
		case 0:
			args := []string{"SET", k, val()}
			for _, o := range []string{"NX", "XX", "GET", "KEEPTTL"} {
				if rng.IntN(4) == 0 {
					args = append(args, o)
				}
			}
			// Only future deadlines: Redis keeps a key SET with a past one
			// until it reclaims it, and DBSIZE counts it meanwhile, where
			// statehouse counts live keys only (fsm/testdata/keys.txt).
			fsec, fms := strconv.FormatInt(far, 10), strconv.FormatInt(far*1000+int64(rng.IntN(1000)), 10)
			switch rng.IntN(4) {
			case 0:
				args = append(args, "EXAT", fsec)
			case 1:
				args = append(args, "PXAT", fms)
			}
			return cmd{args: args}
		case 1:
			return c("GET", k)
		case 2:
			return c("GETSET", k, val())
		case 3:
			return c("GETDEL", k)
		case 4:
			return c("GETEX", k) // options added below
		case 5:
			return c("SETNX", k, val())
		case 6:
			return c("MSET", k, val(), key(), val())
		case 7:
			return c("MGET", k, key(), key())
		case 8:
			return c("MSETNX", k, val(), key(), val())
		case 9:
			return c("APPEND", k, val())
		case 10:
			return c("STRLEN", k)
		case 11:
			return c("GETRANGE", k, strconv.Itoa(rng.IntN(7)-3), strconv.Itoa(rng.IntN(7)-3))
		case 12:
			return c("SETRANGE", k, strconv.Itoa(rng.IntN(5)), val())
		case 13:
			return c(pick("INCR", "DECR"), k)
		case 14:
			return c(pick("INCRBY", "DECRBY"), k, val())
		case 15:
			return c("INCRBYFLOAT", k, val())
		case 16:
			return c(pick("DEL", "UNLINK", "EXISTS", "TOUCH"), k, key())
		case 17:
			return c("TYPE", k)
		case 18:
			args := []string{"EXPIREAT", k, sec}
			if rng.IntN(2) == 0 {
				args = []string{"PEXPIREAT", k, ms}
			}
			if rng.IntN(2) == 0 {
				args = append(args, pick("NX", "XX", "GT", "LT"))
			}
			return cmd{args: args}
		case 19:
			return c(pick("PERSIST", "EXPIRETIME", "PEXPIRETIME"), k)
		case 20:
			return c(pick("RENAME", "RENAMENX"), k, key())
		case 21:
			args := []string{"COPY", k, key()}
			if rng.IntN(2) == 0 {
				args = append(args, "DB", strconv.Itoa(rng.IntN(3)))
			}
			if rng.IntN(2) == 0 {
				args = append(args, "REPLACE")
			}
			return cmd{args: args}
		case 22:
			return c("DBSIZE")
		case 23:
			return cmd{args: []string{"KEYS", pick("*", "k[0-2]", "k?")}, order: "sorted"}
		case 24:
			return c("HSET", k, field(), val(), field(), val())
		case 25:
			return c("HSETNX", k, field(), val())
		case 26:
			return c("HGET", k, field())
		case 27:
			return c("HMGET", k, field(), field())
		case 28:
			return c("HDEL", k, field(), field())
		case 29:
			return c(pick("HLEN", "TYPE"), k)
		case 30:
			return c("HEXISTS", k, field())
		case 31:
			return cmd{args: []string{"HGETALL", k}, order: "pairs"}
		case 32:
			return cmd{args: []string{pick("HKEYS", "HVALS"), k}, order: "sorted"}
		case 33:
			return c("HINCRBY", k, field(), val())
		case 34:
			return c("HINCRBYFLOAT", k, field(), val())
		case 35:
			return c("HSTRLEN", k, field())
		case 36:
			return c("SADD", k, val(), val())
		case 37:
			return c("SREM", k, val(), val())
		case 38:
			return cmd{args: []string{"SMEMBERS", k}, order: "sorted"}
		case 39:
			return c("SISMEMBER", k, val())
		case 40:
			return c("SMISMEMBER", k, val(), val())
		case 41:
			return c("SCARD", k)
		case 42:
			return c("SELECT", strconv.Itoa(rng.IntN(3)))
		case 43, 44:
			return c(pick("LPUSH", "RPUSH", "LPUSHX"), k, val(), val())
		case 45:
			return c(pick("LPOP", "RPOP"), k, pick("1", "2"))
		case 46:
			return c("LRANGE", k, "0", "-1")
		case 47:
			return c("LMOVE", k, key(), pick("LEFT", "RIGHT"), pick("LEFT", "RIGHT"))
		case 48:
			return c("LINDEX", k, strconv.Itoa(rng.IntN(5)-2))
		default:
			// A count past the length: every field, no chance, in Redis's
			// own order.
			return cmd{args: []string{"HRANDFIELD", k, strconv.Itoa(rng.IntN(3) + 10)}, order: "sorted"}
		}
	}
	var script []cmd
	for len(script) < 3000 {
		c := gen()
		if c.args[0] == "GETEX" { // one option and its value, or PERSIST alone
			sec, ms := deadline()
			switch rng.IntN(4) {
			case 0:
				c.args = append(c.args, "PERSIST")
			case 1:
				c.args = append(c.args, "EXAT", sec)
			case 2:
				c.args = append(c.args, "PXAT", ms)
			}
		}
		script = append(script, c)
		if rng.IntN(40) == 0 { // a transaction of order-free commands
			script = append(script, cmd{args: []string{"MULTI"}})
			for range rng.IntN(5) {
				if c := gen(); c.order == "" && c.args[0] != "GETEX" && c.args[0] != "SELECT" {
					script = append(script, c)
				}
			}
			script = append(script, cmd{args: []string{"EXEC"}})
		}
	}
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		rc.expect("+OK\r\n", "FLUSHALL")
		out := make([]string, 0, len(script))
		for start := 0; start < len(script); start += 100 {
			end := min(start+100, len(script))
			var batch []byte
			for _, c := range script[start:end] {
				batch = append(batch, encode(c.args...)...)
			}
			rc.write(batch)
			for _, c := range script[start:end] {
				r := rc.read()
				if c.order != "" {
					r = sortedReply(t, r, c.order == "pairs")
				}
				out = append(out, r)
			}
		}
		return out
	}
	want := run(addr)
	got := run(n.addr)
	for i, c := range script {
		if got[i] != want[i] {
			t.Fatalf("command %d %q: statehouse %q, redis-server %q\n(the commands before it: %q)", i, c.args, got[i], want[i], script[max(0, i-20):i])
		}
	}
	t.Logf("%d random commands, the same replies", len(script))
}
