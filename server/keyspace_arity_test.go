package server

// Arity errors and COMMAND's arity, as Redis 7.0 has them.

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// redisArity is Redis 7.0's arity of every command the issue lists (N:
// exactly N words, command included; -N: at least N).
var redisArity = map[string]int{
	"get": 2, "set": -3, "setnx": 3, "setex": 4, "psetex": 4, "getex": -2, "getdel": 2, "getset": 3,
	"mget": -2, "mset": -3, "msetnx": -3, "append": 3, "strlen": 2, "getrange": 4, "setrange": 4,
	"incr": 2, "decr": 2, "incrby": 3, "decrby": 3, "incrbyfloat": 3,
	"del": -2, "unlink": -2, "exists": -2, "type": 2, "touch": -2, "expire": -3, "pexpire": -3,
	"expireat": -3, "pexpireat": -3, "ttl": 2, "pttl": 2, "expiretime": 2, "pexpiretime": 2,
	"persist": 2, "rename": 3, "renamenx": 3, "copy": -3, "keys": 2, "scan": -2, "randomkey": 1,
	"dbsize": 1, "flushdb": -1, "flushall": -1, "select": 2,
	"hset": -4, "hsetnx": 4, "hget": 3, "hmget": -3, "hmset": -4, "hdel": -3, "hlen": 2, "hexists": 3,
	"hgetall": 2, "hkeys": 2, "hvals": 2, "hincrby": 4, "hincrbyfloat": 4, "hstrlen": 3, "hscan": -3,
	"hrandfield": -2, "sadd": -3, "srem": -3, "smembers": 2, "sismember": 3, "smismember": -3, "scard": 2, "sscan": -3,
	"multi": 1, "exec": 1, "discard": 1, "watch": -2, "unwatch": 1,
}

// Every command with one word too few (and, for a fixed arity, one too
// many) gets Redis's arity error, and COMMAND reports Redis's arity.
func TestKeyspaceArity(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}
	names := slices.Sorted(maps.Keys(redisArity))
	info, err := c.Command(kctx).Result()
	if err != nil {
		t.Fatalf("COMMAND: %v", err)
	}
	for _, name := range names {
		arity := redisArity[name]
		if ci := info[name]; ci == nil || ci.Arity != int8(arity) {
			t.Errorf("COMMAND %s = %+v, want arity %d", name, ci, arity)
		}
		words := func(n int) []any {
			args := []any{name}
			for i := 1; i < n; i++ {
				args = append(args, "x"+strconv.Itoa(i))
			}
			return args
		}
		want := errArity(name)
		if name == "exec" {
			want = "EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command"
		}
		var wrong [][]any
		if arity > 0 {
			wrong = append(wrong, words(arity+1))
			if arity > 1 {
				wrong = append(wrong, words(arity-1))
			}
		} else if -arity > 1 {
			wrong = append(wrong, words(-arity-1))
		}
		for _, args := range wrong {
			k.err(do(c, args...), want)
			// In upper case too: the error names the command in lower case.
			args[0] = strings.ToUpper(name)
			k.err(do(c, args...), want)
		}
	}
	// Pairs commands count their pairs.
	k.err(do(c, "hset", "h", "f", "v", "g"), errArity("hset"))
	k.err(do(c, "hmset", "h", "f", "v", "g"), errArity("hmset"))
	k.err(do(c, "mset", "a", "1", "b"), errArity("mset"))
	k.err(do(c, "msetnx", "a", "1", "b"), errArity("msetnx"))
	k.eq(c.DBSize(kctx), 0) // nothing was written
}
