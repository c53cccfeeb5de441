package fsm

import "testing"

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

// An entry proposed at script version 1 (a leader without cmsgpack) runs
// without it on every replica, and in every replay; version 2 has it.
func TestScriptVersionGatesCMsgpack(t *testing.T) {
	f := New()
	for i, v := range []int{1, 2} {
		script := "local m = rawget(_G, 'cmsgpack') redis.call('set', KEYS[1], type(m) .. (m and #m.pack({a = {1, 2.5}}) or ''))"
		e := &Entry{Now: 1000, Reqs: []Request{{Ops: []Op{{Version: v, Args: [][]byte{[]byte(ScriptCommand), []byte(script), []byte("1"), []byte{byte('x' + i)}}}}}}}
		f.Apply(uint64(i+1), e)
	}
	for key, want := range map[string]string{"x": "$3\r\nnil\r\n", "y": "$7\r\ntable10\r\n"} {
		if got := string(f.Read(0, 1000, 0, [][]byte{[]byte("GET"), []byte(key)}, nil)); got != want {
			t.Errorf("script version %s: %q, want %q", key, got, want)
		}
	}
}
