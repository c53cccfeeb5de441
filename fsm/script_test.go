package fsm

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// Two replicas applying the same entries end in the same state, also
// with scripts that use math.random, walk tables with pairs, encode them
// as JSON, print a table's address or run out of their instruction
// budget.
func TestScriptsAreDeterministic(t *testing.T) {
	defer SetScriptBudget(SetScriptBudget(1_000_000)) // the endless script fails sooner
	scripts := []string{
		"redis.call('set', KEYS[1], math.random(1000000)) return 1",
		"local t = {} for i = 1, 50 do t['k' .. i] = i end local s = '' for k, v in pairs(t) do s = s .. k end redis.call('set', KEYS[1], s)",
		"redis.call('set', KEYS[1], tostring({}) .. tostring(nil))",
		"redis.call('incr', KEYS[1]) while true do end",
		"math.randomseed(7) redis.call('rpush_does_not_exist')",
		"redis.call('set', KEYS[1], cjson.encode({a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i={j=1, k=2, l=3}}))",
	}
	replica := func() *FSM {
		f := New()
		for i, s := range scripts {
			e := &Entry{Now: 1000, Reqs: []Request{{Ops: []Op{{Args: [][]byte{[]byte(ScriptCommand), []byte(s), []byte("1"), []byte("k" + string(rune('a'+i)))}}}}}}
			f.Apply(uint64(i+1), e)
		}
		return f
	}
	a, b := replica(), replica()
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatal("two replicas of the same log differ after scripts")
	}
	if got := string(a.Read(0, 1000, 0, [][]byte{[]byte("GET"), []byte("kc")}, nil)); got != "$8\r\ntablenil\r\n" {
		t.Fatalf("tostring of a table and a missing global: %q", got)
	}
	if got := string(a.Read(0, 1000, 0, [][]byte{[]byte("GET"), []byte("kd")}, nil)); got != "$-1\r\n" {
		t.Fatalf("the write of a script that ran out of budget was kept: %q", got)
	}
}

// An entry proposed at an older script version (a leader without
// cmsgpack or struct) runs without them on every replica, and in every
// replay.
func TestScriptVersionGatesLibraries(t *testing.T) {
	f := New()
	script := "local m, s = rawget(_G, 'cmsgpack'), rawget(_G, 'struct') " +
		"redis.call('set', KEYS[1], (m and #m.pack({a = {1, 2.5}}) or 'none') .. ' ' .. (s and s.size('!8 b d') or 'none'))"
	for i, v := range []int{1, 2, 3} {
		e := &Entry{Now: 1000, Reqs: []Request{{Ops: []Op{{Version: v, Args: [][]byte{[]byte(ScriptCommand), []byte(script), []byte("1"), []byte{byte('x' + i)}}}}}}}
		f.Apply(uint64(i+1), e)
	}
	for key, want := range map[string]string{"x": "$9\r\nnone none\r\n", "y": "$7\r\n10 none\r\n", "z": "$5\r\n10 16\r\n"} {
		if got := string(f.Read(0, 1000, 0, [][]byte{[]byte("GET"), []byte(key)}, nil)); got != want {
			t.Errorf("key %s: %q, want %q", key, got, want)
		}
	}
}

// cmsgpack.unpack and struct.unpack/pack/size on arbitrary input fail
// with a Lua error, never with a Go runtime error (an index out of
// range would be one), and never hang.
func TestScriptLibsOnGarbage(t *testing.T) {
	L := newScriptState(1, scriptVersion)
	defer L.Close()
	seed := uint64(7)
	rnd := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	alphabet := "bBhHlLTiIxfdcs<>! 0123489"
	for i := 0; i < 5000; i++ {
		data := make([]byte, rnd(24))
		for j := range data {
			data[j] = byte(rnd(256))
		}
		format := make([]byte, rnd(8))
		for j := range format {
			format[j] = alphabet[rnd(len(alphabet))]
		}
		for _, call := range []string{"cmsgpack.unpack(d)", "cmsgpack.unpack_limit(d, 2, 1)", "struct.unpack(f, d)", "struct.size(f)", "struct.pack(f, 1, 'abc', 2, 'x', 3)"} {
			L.SetGlobal("d", lua.LString(data))
			L.SetGlobal("f", lua.LString(format))
			if err := L.DoString("return " + call); err != nil && strings.Contains(err.Error(), "runtime error") {
				t.Fatalf("%s with f=%q d=%q: %v", call, format, data, err)
			}
		}
	}
}
