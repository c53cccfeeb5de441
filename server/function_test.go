package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

const (
	fnLib = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)\n"
	fnRO  = "#!lua name=rolib\nlocal function helper(x) return string.format('<%s>', x) end\n" +
		"redis.register_function{function_name='ro', callback=function(keys, args) return {redis.call('get', keys[1]), helper(args[1])} end, flags={'no-writes'}, description='a reader'}\n"
	fnErrs = "#!lua name=errs\n" +
		"redis.register_function('te', function(keys, args) return redis.call('nosuch') end)\n" +
		"redis.register_function('te2', function(keys, args) error('boom') end)\n" +
		"redis.register_function('te3', function(keys, args) return x end)\n" +
		"redis.register_function('te4', function(keys, args) return KEYS end)\n" +
		"redis.register_function('te5', function(keys, args) return redis.call('incr', 'sk') end)\n" +
		"redis.register_function('te6', function(keys, args) y = 1 end)\n" +
		"redis.register_function{function_name='te7', callback=function(keys, args) return redis.call('set', 'a', 'b') end, flags={'no-writes'}}\n" +
		"redis.register_function('te8', function(keys, args) return redis.register_function('x', function() end) end)\n" +
		"redis.register_function('te9', function(keys, args) return {type(keys), #args, redis.status_reply('FINE'), redis.pcall('incr', 'sk')} end)\n" +
		"redis.register_function('te10', function(keys, args) return redis.REDIS_VERSION_NUM ~= nil end)\n"
)

// functionScript runs on one connection against statehouse and
// redis-server alike; replies are compared byte for byte. Libraries hold
// one function each where FUNCTION LIST shows them: Redis lists a
// library's functions in its hash table's order, statehouse by name.
var functionScript = [][]string{
	{"FUNCTION", "FLUSH"},
	{"FUNCTION", "LOAD", fnLib},
	{"FUNCTION", "LOAD", fnLib},
	{"FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('f1', function() return 1 end)"},
	{"FUNCTION", "LOAD", "REPLACE", fnLib},
	{"FUNCTION", "LOAD", "BOGUS", fnLib},
	{"FUNCTION", "LOAD", fnRO},
	{"FUNCTION", "LOAD", fnErrs},
	{"FUNCTION", "LOAD", "#!lua name=CaseLib\nredis.register_function('Fn', function() return 'fn' end)"},
	{"FCALL", "FN", "0"},
	{"FCALL_RO", "fn", "0"},
	{"FUNCTION", "LOAD", "#!lua name=caselib\nredis.register_function('fN', function() return 1 end)"},
	{"FUNCTION", "LIST", "LIBRARYNAME", "CASE*"},
	{"FUNCTION", "DELETE", "CASELIB"},
	{"FUNCTION", "DELETE", "CaseLib"},
	{"FCALL", "f1", "1", "k"},
	{"FCALL", "f1", "1", "k"},
	{"FCALL", "ro", "1", "k", "a"},
	{"FCALL_RO", "ro", "1", "k", "b"},
	{"FCALL_RO", "f1", "1", "k"},
	{"FCALL", "nosuch", "0"},
	{"FCALL", "f1", "x"},
	{"FCALL", "f1", "2", "k"},
	{"FCALL", "f1", "-1"},
	{"SET", "sk", "abc"},
	{"FCALL", "f1", "1", "sk"},
	{"FCALL", "te", "0"},
	{"FCALL", "te2", "0"},
	{"FCALL", "te3", "0"},
	{"FCALL", "te4", "0"},
	{"FCALL", "te5", "0"},
	{"FCALL", "te6", "0"},
	{"FCALL", "te7", "0"},
	{"FCALL", "te9", "1", "k", "a", "b"},
	{"FCALL", "te10", "0"},
	{"FUNCTION", "LIST", "LIBRARYNAME", "myl*"},
	{"FUNCTION", "LIST", "LIBRARYNAME", "rolib", "WITHCODE"},
	{"FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "mylib"},
	{"FUNCTION", "LIST", "LIBRARYNAME"},
	{"FUNCTION", "LIST", "BOGUS"},
	{"FUNCTION", "LIST", "WITHCODE", "WITHCODE"},
	{"FUNCTION", "LOAD", "return 1"},
	{"FUNCTION", "LOAD", "#!lua\nreturn 1"},
	{"FUNCTION", "LOAD", "#!lua name=x"},
	{"FUNCTION", "LOAD", "#!lua name=x\nreturn 1"},
	{"FUNCTION", "LOAD", "#!lua name=x foo=bar\nreturn 1"},
	{"FUNCTION", "LOAD", "#!lua name=x name=y\nreturn 1"},
	{"FUNCTION", "LOAD", "#!nolua name=x\nreturn 1"},
	{"FUNCTION", "LOAD", "#!lua name=a-b\nreturn 1"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.call('set','a','b')"},
	{"FUNCTION", "LOAD", "#!lua name=x\nlocal s = string.format('%d', 1)"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('bad name', function() return 1 end)"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('g', function() return 1 end)\nredis.register_function('g', function() return 1 end)"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=function() return 1 end, flags={'bogus'}}"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=function() return 1 end, foo=1}"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=5}"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{callback=function() end}"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('g')"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('g', function() end, 3)"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function()"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=function() return 1 end, description={}}"},
	{"FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='g', callback=function() return 1 end, flags='no-writes'}"},
	{"FUNCTION", "LOAD", "#!lua name=flagged\nredis.register_function{function_name='fl', callback=function() return redis.call('set','a','b') end, flags={'no-cluster','allow-oom','no-writes','allow-stale','allow-cross-slot-keys'}}"},
	{"FUNCTION", "LIST", "LIBRARYNAME", "flagged"},
	{"FCALL", "fl", "0"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "KILL"},
	{"FUNCTION", "DELETE", "flagged"},
	{"FUNCTION", "DELETE", "flagged"},
	{"FCALL", "fl", "0"},
	{"FUNCTION", "FLUSH", "BAD"},
	{"FUNCTION", "RESTORE", "abc"},
	{"FUNCTION", "RESTORE", "abc", "bogus"},
	{"FUNCTION", "FLUSH", "ASYNC"},
	{"FUNCTION", "LIST"},
	{"FCALL", "f1", "1", "k"},
	{"FUNCTION", "STATS"},
	{"FUNCTION", "HELP"},
	{"COMMAND", "GETKEYS", "FCALL", "f1", "2", "k1", "k2", "arg"},
	{"COMMAND", "GETKEYS", "FCALL_RO", "f1", "1", "k1"},
	{"FUNCTION", "LOAD", fnLib},
	{"ACL", "SETUSER", "fnuser", "on", "nopass", "~a*", "+@all"},
	{"AUTH", "fnuser", "x"},
	{"FCALL", "f1", "1", "b"},
	{"FCALL", "f1", "1", "a"},
	{"FUNCTION", "DELETE", "mylib"},
}

func TestFunctionsAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		out := make([]string, len(functionScript))
		for i, args := range functionScript {
			rc.write(encode(args...))
			out[i] = rc.read()
		}
		return out
	}
	want, got := run(addr), run(n.addr)
	for i, args := range functionScript {
		if got[i] != want[i] {
			t.Errorf("%q:\nstatehouse   %q\nredis-server %q", strings.Join(args, " "), got[i], want[i])
		}
	}
}

// FUNCTION DUMP's payload is Redis's: one made by redis-server restores
// into statehouse and one made by statehouse into redis-server, and both
// then list the same library and run the same function. A collision is
// refused as Redis refuses it, leaving the libraries as they were.
func TestFunctionDumpRestoreWithRedis(t *testing.T) {
	n, sc := ksNode(t)
	rc := redis.NewClient(testcluster.ClientOptions(testcluster.StartRedis(t)))
	defer rc.Close()
	ctx := context.Background()
	lib := "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)\n"
	two := "#!lua name=lib2\nredis.register_function('f2', function() return 'two' end)\n"
	for _, c := range []*redis.Client{rc, sc} {
		if err := c.Do(ctx, "FUNCTION", "FLUSH").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.Do(ctx, "FUNCTION", "LOAD", lib).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Do(ctx, "FUNCTION", "LOAD", two).Err(); err != nil {
		t.Fatal(err)
	}
	fromRedis, err := rc.Do(ctx, "FUNCTION", "DUMP").Text()
	if err != nil {
		t.Fatal(err)
	}
	fromUs, err := sc.Do(ctx, "FUNCTION", "DUMP").Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		client  *redis.Client
		payload string
	}{{"statehouse", sc, fromRedis}, {"redis-server", rc, fromUs}} {
		if err := c.client.Do(ctx, "FUNCTION", "RESTORE", c.payload).Err(); err != nil {
			t.Fatalf("%s: RESTORE: %v", c.name, err)
		}
		err := c.client.Do(ctx, "FUNCTION", "RESTORE", c.payload).Err()
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("%s: RESTORE APPEND of a library it has: %v", c.name, err)
		}
		for fn, want := range map[string]any{"f1": int64(1), "f2": "two"} {
			if got, err := c.client.Do(ctx, "FCALL", fn, "1", "fk").Result(); err != nil || got != want {
				t.Fatalf("%s: FCALL %s: %v %v", c.name, fn, got, err)
			}
		}
	}
	// Same words for the collision on both.
	rerr := rc.Do(ctx, "FUNCTION", "RESTORE", fromRedis).Err()
	serr := sc.Do(ctx, "FUNCTION", "RESTORE", fromRedis).Err()
	if rerr == nil || serr == nil || rerr.Error() != serr.Error() {
		t.Fatalf("collision: statehouse %v, redis-server %v", serr, rerr)
	}
	_ = n
	// Payloads that are not Redis's libraries: the same words on both.
	payload := func(parts ...[]byte) string {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		b = binary.LittleEndian.AppendUint16(b, 10)
		return string(binary.LittleEndian.AppendUint64(b, ^crc64.Update(^uint64(0), crc64.MakeTable(0x95ac9329ac4bc9b5), b)))
	}
	code := "#!lua name=dup\nredis.register_function('d',function() end)"
	str := append([]byte{byte(len(code))}, code...)
	for name, p := range map[string]string{
		"not a function":  payload([]byte{0}, str),
		"a library twice": payload([]byte{245}, str, []byte{245}, str),
		"bad code":        payload([]byte{245}, []byte{5}, []byte("hello")),
		"truncated":       payload([]byte{245}, []byte{40}, []byte("short")),
		"empty":           payload(),
	} {
		rerr := rc.Do(ctx, "FUNCTION", "RESTORE", p, "REPLACE").Err()
		serr := sc.Do(ctx, "FUNCTION", "RESTORE", p, "REPLACE").Err()
		if fmt.Sprint(rerr) != fmt.Sprint(serr) {
			t.Errorf("%s: statehouse %v, redis-server %v", name, serr, rerr)
		}
	}
}
