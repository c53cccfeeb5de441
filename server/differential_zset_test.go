package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// Random sorted set commands against statehouse and redis-server 7.0
// alike: thousands of them over a few keys (sorted sets, a set and a
// string among them for WRONGTYPE and the set inputs of ZUNION), every
// reply the same bytes. Scores are drawn from what shows Redis's float
// handling: 0.1, 1e300, inf, -0, 3.0000000000000004, hexadecimal, and
// arguments Redis refuses. The lex commands use keys whose members all
// have score 0 (with mixed scores Redis leaves the answer unspecified).
// The seed is printed; STATEHOUSE_SEED replays it.
func TestZsetRandomAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	rng := seededRand(t)
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	zkey := func() string { return pick("z0", "z1", "z2", "z3", "z0", "z1", "s", "str", "none", "zb") }
	lkey := func() string { return pick("l0", "l1", "l2") }
	member := func() string {
		if rng.IntN(200) == 0 { // past listpack's 64 bytes: Redis's skiplist
			return strings.Repeat("long", 17)
		}
		return pick("a", "b", "c", "d", "e", "f", "g", "h", "aa", "", "a\x00", "B")
	}
	score := func() string {
		return pick("1", "2", "0", "-1", "1.5", "0.1", "0.2", "1e300", "-1e300", "inf", "-inf", "+inf",
			"3.0000000000000004", "-0", "10", "7", "0x10", "1e-310", "100", "2.5", "-3.25", "1e17", "123456789")
	}
	badScore := func() string {
		return pick("nan", "abc", " 1", "1 ", "1e400", "1e-400", "", "1e", "inf1", "0x")
	}
	anyScore := func() string {
		if rng.IntN(15) == 0 {
			return badScore()
		}
		return score()
	}
	bound := func() string {
		b := pick("1", "2", "0", "-1", "1.5", "inf", "-inf", "+inf", "10", "0.1", "1e300", "7", "100")
		switch rng.IntN(12) {
		case 0, 1, 2:
			b = "(" + b
		case 3:
			b = pick("nan", "(nan", "x", "", "(", " 1", "1e400", "1x")
		}
		return b
	}
	lexBound := func() string {
		switch rng.IntN(10) {
		case 0:
			return pick("-", "+")
		case 1:
			return pick("a", "", "++", "-x", "!")
		}
		return pick("[", "(") + member()
	}
	idx := func() string { return strconv.Itoa(rng.IntN(13) - 6) }
	type cmd struct {
		args  []string
		order string
	}
	c := func(args ...string) cmd { return cmd{args: args} }
	withOpt := func(args []string, opts ...string) []string {
		for _, o := range opts {
			if rng.IntN(3) == 0 {
				args = append(args, o)
			}
		}
		return args
	}
	limit := func(args []string) []string {
		if rng.IntN(3) == 0 {
			args = append(args, "LIMIT", strconv.Itoa(rng.IntN(5)-1), strconv.Itoa(rng.IntN(6)-2))
		}
		return args
	}
	setop := func(name string, store bool) cmd {
		args := []string{name}
		if store {
			args = append(args, pick("d0", "z3", "str", "z0"))
		}
		nk := rng.IntN(3) + 1
		if rng.IntN(20) == 0 {
			args = append(args, pick("0", "-1", "x", "9"))
		} else {
			args = append(args, strconv.Itoa(nk))
		}
		for range nk {
			args = append(args, zkey())
		}
		if name != "ZDIFF" && name != "ZDIFFSTORE" && name != "ZINTERCARD" && rng.IntN(3) == 0 {
			args = append(args, "WEIGHTS")
			for range nk {
				args = append(args, pick("1", "2", "0.5", "-1", "0", "inf", "x"))
			}
		}
		if name != "ZDIFF" && name != "ZDIFFSTORE" && name != "ZINTERCARD" && rng.IntN(3) == 0 {
			args = append(args, "AGGREGATE", pick("SUM", "MIN", "MAX", "avg"))
		}
		if name == "ZINTERCARD" && rng.IntN(2) == 0 {
			args = append(args, "LIMIT", pick("0", "1", "2", "-1"))
		}
		if !store && name != "ZINTERCARD" && rng.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return cmd{args: args}
	}
	gen := func() cmd {
		k := zkey()
		switch rng.IntN(41) {
		case 0, 1, 2, 3:
			args := withOpt([]string{"ZADD", k}, "NX", "XX", "GT", "LT", "CH")
			if rng.IntN(6) == 0 {
				args = append(args, "INCR", anyScore(), member())
				return cmd{args: args}
			}
			for range rng.IntN(3) + 1 {
				args = append(args, anyScore(), member())
			}
			return cmd{args: args}
		case 4:
			return c("ZINCRBY", k, anyScore(), member())
		case 5:
			return c("ZREM", k, member(), member())
		case 6:
			return c(pick("ZCARD", "TYPE"), k)
		case 7:
			return c("ZCOUNT", k, bound(), bound())
		case 8:
			return c("ZSCORE", k, member())
		case 9:
			return c("ZMSCORE", k, member(), member(), member())
		case 10:
			return c(pick("ZRANK", "ZREVRANK"), k, member())
		case 11, 12:
			return cmd{args: withOpt([]string{pick("ZRANGE", "ZREVRANGE"), k, idx(), idx()}, "WITHSCORES")}
		case 13, 14:
			args := []string{"ZRANGE", k, bound(), bound(), "BYSCORE"}
			return cmd{args: limit(withOpt(args, "REV", "WITHSCORES"))}
		case 15:
			return cmd{args: limit(withOpt([]string{pick("ZRANGEBYSCORE", "ZREVRANGEBYSCORE"), k, bound(), bound()}, "WITHSCORES"))}
		case 16:
			return cmd{args: limit(withOpt([]string{"ZRANGE", lkey(), lexBound(), lexBound(), "BYLEX"}, "REV"))}
		case 17:
			return cmd{args: limit([]string{pick("ZRANGEBYLEX", "ZREVRANGEBYLEX"), lkey(), lexBound(), lexBound()})}
		case 18:
			return c("ZLEXCOUNT", lkey(), lexBound(), lexBound())
		case 19, 20:
			return c("ZADD", lkey(), "0", member(), "0", member())
		case 21:
			return c("ZREMRANGEBYLEX", lkey(), lexBound(), lexBound())
		case 22:
			return c("ZREMRANGEBYRANK", k, idx(), idx())
		case 23:
			return c("ZREMRANGEBYSCORE", k, bound(), bound())
		case 24:
			args := []string{pick("ZPOPMIN", "ZPOPMAX"), k}
			if rng.IntN(2) == 0 {
				args = append(args, pick("0", "1", "2", "5", "-1", "x"))
			}
			return cmd{args: args}
		case 25:
			args := []string{"ZMPOP", "2", k, zkey(), pick("MIN", "MAX", "mid")}
			if rng.IntN(2) == 0 {
				args = append(args, "COUNT", pick("1", "3", "0"))
			}
			return cmd{args: args}
		case 26:
			return c(pick("BZPOPMIN", "BZPOPMAX"), k, zkey(), "0.01")
		case 27:
			return c("ZRANGESTORE", pick("d0", "z3", "str"), k, idx(), idx())
		case 28:
			return cmd{args: limit(withOpt([]string{"ZRANGESTORE", pick("d0", "z2"), k, bound(), bound(), "BYSCORE"}, "REV"))}
		case 29:
			return setop(pick("ZUNION", "ZINTER", "ZDIFF"), false)
		case 30:
			return setop(pick("ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"), true)
		case 31:
			return setop("ZINTERCARD", false)
		case 32:
			return c("ZRANGE", pick("d0", "z3", "z2"), "0", "-1", "WITHSCORES")
		case 33:
			return c("SADD", "s", member(), member())
		case 34:
			// Everything in one call (a big set is in Redis's hash order:
			// compared sorted).
			return cmd{args: []string{"ZSCAN", k, "0", "COUNT", "1000"}, order: "scan"}
		case 35:
			// A count at least the size: the whole set, highest first.
			return cmd{args: withOpt([]string{"ZRANDMEMBER", k, pick("200", "1000")}, "WITHSCORES")}
		case 36:
			return c("SET", "str", "v")
		case 37:
			return c(pick("DEL", "EXISTS"), k)
		case 38:
			return c("BZMPOP", "0.01", "2", k, zkey(), pick("MIN", "MAX"), "COUNT", pick("1", "2"))
		case 39:
			if rng.IntN(4) == 0 { // a set past listpack's 128 members
				args := []string{"ZADD", "zb"}
				for i := range 130 + rng.IntN(20) {
					args = append(args, score(), "m"+strconv.Itoa(i))
				}
				return cmd{args: args}
			}
			return c("ZADD", "zb", score(), member())
		default:
			return c(pick("RENAME", "COPY"), k, zkey())
		}
	}
	var script []cmd
	for len(script) < 5000 {
		script = append(script, gen())
		if rng.IntN(50) == 0 {
			script = append(script, cmd{args: []string{"MULTI"}})
			for range rng.IntN(5) {
				if c := gen(); c.order == "" {
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
				if c.order == "scan" && strings.HasPrefix(r, "*2\r\n$1\r\n0\r\n") {
					r = "cursor 0 " + sortedReply(t, strings.TrimPrefix(r, "*2\r\n$1\r\n0\r\n"), true)
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
			var before []string
			for _, b := range script[max(0, i-15):i] {
				before = append(before, strconv.Quote(strings.Join(b.args, " ")))
			}
			d := 0
			for d < min(len(got[i]), len(want[i])) && got[i][d] == want[i][d] {
				d++
			}
			from := max(0, d-150)
			t.Fatalf("command %d %q: statehouse %q, redis-server %q (from byte %d)\n(the commands before it: %s)", i, c.args, got[i][from:min(len(got[i]), d+150)], want[i][from:min(len(want[i]), d+150)], from, strings.Join(before, " | "))
		}
	}
	t.Logf("%d random sorted set commands, the same replies", len(script))
}
