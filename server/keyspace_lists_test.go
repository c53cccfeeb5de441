package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// Random list commands against statehouse and redis-server alike, on a few
// keys that are mostly lists (one is a string, for WRONGTYPE), with
// elements from a small alphabet so that LREM, LPOS and LINSERT find
// matches, and indexes around the lists' ends; the blocking forms with a
// timeout of 10 ms (a null array from both when nothing comes). Every reply must be the
// same bytes; the seed is printed.
func TestListsRandomAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	rng := seededRand(t)
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	key := func() string {
		if rng.IntN(25) == 0 {
			return pick("str", "missing")
		}
		return "l" + strconv.Itoa(rng.IntN(4))
	}
	elem := func() string { return pick("a", "b", "c", "", "a\x00b", "1", "-1", "xyz") }
	elems := func(max int) []string {
		out := []string{}
		for range 1 + rng.IntN(max) {
			out = append(out, elem())
		}
		return out
	}
	idx := func() string {
		if rng.IntN(30) == 0 {
			return pick("x", "9223372036854775807", "-9223372036854775808", "1.5", "")
		}
		return strconv.Itoa(rng.IntN(25) - 12)
	}
	side := func() string { return pick("LEFT", "RIGHT", "left", "right") }
	gen := func() []string {
		k := key()
		if rng.IntN(100) == 0 { // now and then a long list: a tree of many nodes
			args := []string{pick("LPUSH", "RPUSH"), k}
			for range 100 + rng.IntN(3000) {
				args = append(args, elem())
			}
			return args
		}
		switch rng.IntN(24) {
		case 0, 1, 2:
			return append([]string{pick("LPUSH", "RPUSH"), k}, elems(6)...)
		case 3:
			return append([]string{pick("LPUSHX", "RPUSHX"), k}, elems(3)...)
		case 4:
			return []string{pick("LPOP", "RPOP"), k}
		case 5:
			return []string{pick("LPOP", "RPOP"), k, pick("0", "1", "2", "5", "-1", "x")}
		case 6:
			return []string{"LLEN", k}
		case 7, 8:
			return []string{"LRANGE", k, idx(), idx()}
		case 9:
			return []string{"LINDEX", k, idx()}
		case 10:
			return []string{"LSET", k, idx(), elem()}
		case 11:
			return []string{"LINSERT", k, pick("BEFORE", "AFTER", "before", "middle"), elem(), elem()}
		case 12:
			return []string{"LREM", k, pick("0", "1", "2", "-1", "-2", "x"), elem()}
		case 13:
			return []string{"LTRIM", k, idx(), idx()}
		case 14, 15:
			args := []string{"LPOS", k, elem()}
			for range rng.IntN(3) {
				switch rng.IntN(3) {
				case 0:
					args = append(args, "RANK", pick("1", "2", "-1", "-2", "3", "0"))
				case 1:
					args = append(args, "COUNT", pick("0", "1", "2", "-1"))
				default:
					args = append(args, "MAXLEN", pick("0", "1", "3", "10"))
				}
			}
			return args
		case 16:
			return []string{"LMOVE", k, key(), side(), side()}
		case 17:
			return []string{"RPOPLPUSH", k, key()}
		case 18:
			nk := 1 + rng.IntN(3)
			args := []string{"LMPOP", strconv.Itoa(nk)}
			for range nk {
				args = append(args, key())
			}
			args = append(args, side())
			if rng.IntN(2) == 0 {
				args = append(args, "COUNT", pick("1", "2", "3", "10", "0"))
			}
			return args
		case 19:
			return []string{pick("TYPE", "EXISTS"), k}
		case 20:
			if rng.IntN(2) == 0 {
				return []string{"DEL", "str"}
			}
			return []string{"SET", "str", "v"}
		case 22, 23: // blocking forms: they pop at once, or time out after 10 ms on both servers
			switch rng.IntN(4) {
			case 0:
				return []string{pick("BLPOP", "BRPOP"), k, key(), pick("0.01", "0.01", "x", "-1")}
			case 1:
				return []string{"BLMOVE", k, key(), side(), pick("LEFT", "RIGHT", "up"), "0.01"}
			case 2:
				return []string{"BRPOPLPUSH", k, key(), "0.01"}
			default:
				return []string{"BLMPOP", "0.01", pick("2", "2", "3", "0"), k, key(), pick("LEFT", "RIGHT", "up"), "COUNT", pick("1", "3", "0")}
			}
		default:
			return []string{pick("RENAME", "COPY"), k, key()}
		}
	}
	var script [][]string
	for len(script) < 5000 {
		script = append(script, gen())
		if rng.IntN(60) == 0 { // a transaction of list commands
			script = append(script, []string{"MULTI"})
			for range rng.IntN(5) {
				script = append(script, gen())
			}
			script = append(script, []string{"EXEC"})
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
				batch = append(batch, encode(c...)...)
			}
			rc.write(batch)
			for range script[start:end] {
				out = append(out, rc.read())
			}
		}
		// The lists themselves at the end.
		for k := range 4 {
			rc.write(encode("LRANGE", "l"+strconv.Itoa(k), "0", "-1"))
			out = append(out, rc.read())
		}
		return out
	}
	want := run(addr)
	got := run(n.addr)
	lists := 0
	for i := range want {
		if got[i] != want[i] {
			what := "the lists at the end"
			if i < len(script) {
				what = strings.Join(script[i], " ")
			}
			t.Fatalf("command %d %q: statehouse %q, redis-server %q\n(the commands before it: %q)", i, what, got[i], want[i], script[max(0, i-20):min(i, len(script))])
		}
		if strings.HasPrefix(want[i], "*") && len(want[i]) > 10 {
			lists++
		}
	}
	t.Logf("%d random list commands, the same replies (%d non-trivial array replies)", len(script), lists)
}
