package server

import (
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

const (
	fnLib = "#!lua name=mylib\nredis.register_function('f1', function(keys, args) return redis.call('incr', keys[1]) end)\n"
	fnRO  = "#!lua name=rolib\nlocal function helper(x) return string.format('<%s>', x) end\n" +
		"redis.register_function{function_name='ro', callback=function(keys, args) return {redis.call('get', keys[1]), helper(args[1])} end, flags={'no-writes'}, description='a reader'}\n"
	fnErrs = "#!lua name=errs\n" +
		"redis.register_function('te', function(keys, args) return redis.call('nosuch') end)\n"
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
