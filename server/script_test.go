package server

import (
	"strings"
	"testing"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// scriptScript runs on one connection against statehouse and redis-server
// alike; replies are compared byte for byte.
var scriptScript = [][]string{
	{"EVAL", "return redis.call('incr', KEYS[1])", "1", "n"},
	{"EVAL", "return redis.call('incr', KEYS[1])", "0"},
	{"EVAL", "return x", "0"},
	{"EVAL", "x = 1", "0"},
	{"EVAL", "return redis.call('nosuch')", "0"},
	{"EVAL", "return {1,2,{3,'a'},nil,5}", "0"},
	{"EVAL", "return redis.call('get', 'a', 'b')", "0"},
	{"SET", "sk", "abc"},
	{"EVAL", "return redis.call('incr', 'sk')", "0"},
	{"EVAL", "return redis.pcall('incr', 'sk')", "0"},
	{"EVAL", "return {err='My Error'}", "0"},
	{"EVAL", "return redis.error_reply('x')", "0"},
	{"EVAL", "return redis.error_reply('MY thing')", "0"},
	{"EVAL", "return redis.status_reply('FINE')", "0"},
	{"EVAL", "return 3.99", "0"},
	{"EVAL", "return true", "0"},
	{"EVAL", "return false", "0"},
	{"EVAL", "return 1", "-1"},
	{"EVAL", "return 1", "5", "a"},
	{"EVAL", "return 1", "x"},
	{"EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"},
	{"EVAL_RO", "return redis.call('set','a','b')", "0"},
	{"EVAL_RO", "return redis.call('get','sk')", "0"},
	{"SCRIPT", "LOAD", "return ARGV[1]..KEYS[1]"},
	{"EVALSHA", "6422bbca20e946d82a497c734aea0cb231a6cc54", "1", "k", "v"},
	{"EVALSHA_RO", "6422BBCA20E946D82A497C734AEA0CB231A6CC54", "1", "k", "v"},
	{"SCRIPT", "EXISTS", "6422bbca20e946d82a497c734aea0cb231a6cc54", "abc"},
	// The lock release of session handlers (phpredis, Redisson...).
	{"SET", "lock", "token-1"},
	{"EVAL", "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end", "1", "lock", "token-2"},
	{"EVAL", "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end", "1", "lock", "token-1"},
	{"EVAL", "local t = {} for i=1,10 do t[i]=i*i end return t", "0"},
	{"EVAL", "return redis.call('hset', KEYS[1], 'a', 1, 'b', 2.5)", "1", "h"},
	{"EVAL", "return redis.call('hgetall', KEYS[1])", "1", "h"},
	{"EVAL", "return redis.sha1hex('')", "0"},
	{"EVAL", "return string.format('%d-%s', 7, 'x') .. string.rep('ab', 3)", "0"},
	{"EVAL", "return tonumber('12') + 1", "0"},
	{"EVAL", "return cjson.encode({1,2,'a/b'})", "0"},
	{"EVAL", "return cjson.encode({a={b=true}, d=cjson.null})", "0"},
	{"EVAL", "local t = cjson.decode('{\"a\":[1,2,{\"b\":null}],\"c\":1.5}') return {t.a[1], t.a[2], tostring(t.c), type(t.a[3].b)}", "0"},
	{"EVAL", "return {bit.band(12, 10), bit.tohex(255), bit.lshift(1, 40), bit.bnot(0), bit.bxor(5, 3, 1), bit.tohex(-1, -4)}", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(cmsgpack.pack(0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(cmsgpack.pack(1.5, 0.1, 1e300, 2^53, 2^63, -2^63, 1/0, -1/0))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(cmsgpack.pack(true, false, nil, '', 'abc', string.rep('x', 31), string.rep('y', 32), string.rep('z', 256)))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(cmsgpack.pack({}, {1, 2, 3}, {1, nil, 3}, {a = 1}, {[2] = 1}, {[1.5] = 1}, {1, {2, {3}}}, string.rep('w', 70000):sub(1, 3)))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end local t = {} for i = 1, 20 do t[i] = i end return hex(cmsgpack.pack(t))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end local t = {} local c = t for i = 1, 20 do c[1] = {} c = c[1] end return hex(cmsgpack.pack(t))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(cmsgpack.pack(redis.call, cjson.null))", "0"},
	{"EVAL", "return cmsgpack.pack()", "0"},
	{"EVAL", "local a, b, c, d = cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, {x = 4}}, -5.25)) return {a, b, c[1], c[2].x, tostring(d)}", "0"},
	{"EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))}", "0"},
	{"EVAL", "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}", "0"},
	{"EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}", "0"},
	{"EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)}", "0"},
	{"EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 0)}", "0"},
	{"EVAL", "return {cmsgpack.unpack_one('')}", "0"},
	{"EVAL", "return cmsgpack.unpack_one('abc', 9)", "0"},
	{"EVAL", "return cmsgpack.unpack_limit('abc', -1)", "0"},
	{"EVAL", "return cmsgpack.unpack('\\220\\255\\255')", "0"},
	{"EVAL", "return cmsgpack.unpack('\\193')", "0"},
	{"EVAL", "return {cmsgpack.unpack('\\217\\002hi\\207\\000\\000\\000\\001\\000\\000\\000\\000\\211\\255\\255\\255\\255\\255\\255\\255\\255\\202\\063\\192\\000\\000')}", "0"},
	{"EVAL", "return cmsgpack.unpack()", "0"},
	{"EVAL", "return cmsgpack.unpack('\\196\\002hi')", "0"},
	{"EVAL", "return cmsgpack.unpack_limit('a')", "0"},
	{"EVAL", "return cmsgpack.unpack_one({})", "0"},
	{"EVAL", "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2), '1', '1')}", "0"},
	{"EVAL", "return {cmsgpack._VERSION, cmsgpack._NAME}", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 4000000000))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('>bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 4000000000))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('<i3>i3I1i16', -5, 70000, 200, -2))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('!4 b i h d !2 b d', 1, 2, 3, 1.5, 4, 2.25))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('fd>fd', 0.1, 0.1, -2.5, 1/3))", "0"},
	{"EVAL", "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end return hex(struct.pack('c3 c0 s x c', 'abcdef', 'xyz', 'zt', 'q'))", "0"},
	{"EVAL", "return struct.pack('c5', 'abc')", "0"},
	{"EVAL", "return struct.pack('i40', 1)", "0"},
	{"EVAL", "return struct.pack('!3', 1)", "0"},
	{"EVAL", "return struct.pack('y', 1)", "0"},
	{"EVAL", "return struct.pack('i', 'notanumber')", "0"},
	{"EVAL", "return struct.pack('i')", "0"},
	{"EVAL", "return struct.pack()", "0"},
	{"EVAL", "return {struct.unpack('bBhHlLTiI', struct.pack('bBhHlLTiI', -1, 255, -2, 65535, -3, 2^40, 7, -4, 4000000000))}", "0"},
	{"EVAL", "return {struct.unpack('>i3<I2i16', struct.pack('>i3<I2i16', -5, 65000, -2))}", "0"},
	{"EVAL", "local a, b, c, d = struct.unpack('fd>fd', struct.pack('fd>fd', 0.1, 0.1, -2.5, 1/3)) return {a == 0.1, b == 0.1, c, d == 1/3, a > 0.1, a < 0.10000001}", "0"},
	{"EVAL", "return {struct.unpack('!4 b i h', struct.pack('!4 b i h', 1, 2, 3))}", "0"},
	{"EVAL", "return {struct.unpack('B c0 s c2', '\\003abcdef\\000gh')}", "0"},
	{"EVAL", "return {struct.unpack('h', 'abcdef', 3)}", "0"},
	{"EVAL", "return {struct.unpack('h', 'abcdef', 6)}", "0"},
	{"EVAL", "return {struct.unpack('h', 'abcdef', 0)}", "0"},
	{"EVAL", "return {struct.unpack('s', 'abc')}", "0"},
	{"EVAL", "return {struct.unpack('c0', 'abc')}", "0"},
	{"EVAL", "return {struct.unpack('', 'abc', 2)}", "0"},
	{"EVAL", "return {struct.size('bhilTfdxc5'), struct.size('!8 b d'), struct.size('!4 b d i2 c3'), struct.size('z')}", "0"},
	{"EVAL", "return struct.size('s')", "0"},
	{"EVAL", "return struct.size('c0')", "0"},
	{"EVAL", "return struct.size('!5')", "0"},
	{"EVAL", "return struct.size('i99999999999')", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"},
	{"EVAL", "#!lua flags=no-writes\nreturn redis.call('get','sk')", "0"},
	{"EVAL", "#!lua\nreturn 1", "0"},
	{"EVAL", "#!lua flags=bogus\nreturn 1", "0"},
	{"EVAL", "return #redis.call('time')", "0"},
	{"EVAL", "return redis.call('blpop', 'q', 0)", "0"},
	{"EVAL", "return redis.call('eval', 'return 1', '0')", "0"},
	{"EVAL", "return redis.call('fcall', 'f', '0')", "0"},
	{"EVAL", "return redis.pcall('multi')", "0"},
	{"EVAL", "return redis.call('subscribe', 'ch')", "0"},
	{"EVAL", "return redis.call('wait', '0', '0')", "0"},
	{"EVAL", "return redis.call('function', 'list')", "0"},
	{"EVAL", "return redis.call('script', 'exists', 'x')", "0"},
	{"EVAL", "return redis.call('client', 'id')", "0"},
	{"EVAL", "return redis.call('nosuchcommand')", "0"},
	{"EVAL", "redis.call('rpush', KEYS[1], 'a', 'b') return redis.call('lrange', KEYS[1], 0, -1)", "1", "sl"},
	{"SCRIPT", "FLUSH"},
	{"SCRIPT", "EXISTS", "6422bbca20e946d82a497c734aea0cb231a6cc54"},
	{"SCRIPT", "FLUSH", "BAD"},
	{"SCRIPT", "KILL"},
}

func TestScriptingAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		out := make([]string, len(scriptScript))
		for i, args := range scriptScript {
			rc.write(encode(args...))
			out[i] = rc.read()
		}
		return out
	}
	want, got := run(addr), run(n.addr)
	for i, args := range scriptScript {
		if got[i] != want[i] {
			t.Errorf("%q:\nstatehouse   %q\nredis-server %q", strings.Join(args, " "), got[i], want[i])
		}
	}
}

// A script that runs too long fails after its instruction budget, the
// same way on every replica, and leaves nothing behind; the node goes on
// serving.
func TestScriptBudget(t *testing.T) {
	n, c := ksNode(t)
	defer fsm.SetScriptBudget(fsm.SetScriptBudget(1_000_000)) // the endless script fails sooner
	rc := dialRaw(t, n.addr)
	rc.write(encode("EVAL", "redis.call('set', KEYS[1], 'before') while true do end", "1", "k"))
	if got := rc.read(); !strings.HasPrefix(got, "-ERR Script exceeded its budget") {
		t.Fatalf("endless script: %q", got)
	}
	if n, err := c.Exists(kctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("the write before the failure is still there: %d, %v", n, err)
	}
	// An error raised halfway takes back what the script wrote, in every
	// database it wrote (Redis would keep it); one caught by pcall does not.
	rc.write(encode("EVAL", "redis.call('set', KEYS[1], 'v') redis.call('copy', KEYS[1], KEYS[2], 'DB', '3') redis.call('incr', KEYS[1])", "2", "k", "k2"))
	if got := rc.read(); !strings.HasPrefix(got, "-ERR value is not an integer") {
		t.Fatalf("a script failing halfway: %q", got)
	}
	rc.write(encode("EXISTS", "k"))
	rc.write(encode("SELECT", "3"))
	rc.write(encode("EXISTS", "k2"))
	rc.write(encode("SELECT", "0"))
	rc.write(encode("EVAL", "redis.call('set', KEYS[1], 'kept') return redis.pcall('incr', KEYS[1])", "1", "k"))
	rc.write(encode("GET", "k"))
	for _, want := range []string{":0\r\n", "+OK\r\n", ":0\r\n", "+OK\r\n", "-ERR value is not an integer or out of range\r\n", "$4\r\nkept\r\n"} {
		if got := rc.read(); got != want {
			t.Fatalf("after a failed script: %q, want %q", got, want)
		}
	}
}
