package fsm

import (
	"bytes"
	"strings"
	"testing"
)

const testLib = "#!lua name=counters\n" +
	"local function bump(k, by) return redis.call('incrby', k, by) end\n" +
	"redis.register_function('bump', function(keys, args) return bump(keys[1], args[1]) end)\n" +
	"redis.register_function{function_name='peek', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\n" +
	"redis.register_function('rnd', function(keys) return redis.call('set', keys[1], math.random(1000000)) end)\n" +
	"redis.register_function('fail', function(keys) redis.call('set', keys[1], 'x') error('boom') end)\n"

// Libraries are replicated state: two replicas of the same log agree
// (math.random included), a snapshot carries the libraries to a new
// replica whose digest matches, and FCALL runs there as on the original.
func TestFunctionsReplicateAndSnapshot(t *testing.T) {
	replica := func() *FSM {
		f := New()
		for i, args := range [][]string{
			{FunctionLoadCommand, "0", testLib},
			{FcallCommand, "bump", "1", "n", "5"},
			{FcallCommand, "rnd", "1", "r"},
			{FcallCommand, "fail", "1", "gone"},
			{FunctionLoadCommand, "0", "#!lua name=second\nredis.register_function('two', function() return 2 end)"},
			{FunctionDeleteCommand, "second"},
		} {
			applyOne(f, uint64(i+1), 0, args...)
		}
		return f
	}
	a, b := replica(), replica()
	_, da := a.Digest()
	_, db := b.Digest()
	if da != db {
		t.Fatal("two replicas of the same log differ after functions")
	}
	if got := string(a.Read(0, 1000, 0, [][]byte{[]byte("EXISTS"), []byte("gone")}, nil)); got != ":0\r\n" {
		t.Fatalf("a failed function's write was kept: %q", got)
	}
	var buf bytes.Buffer
	if _, err := a.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	c := New()
	if err := c.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if _, dc := c.Digest(); dc != da {
		t.Fatal("the restored replica's digest differs")
	}
	if got := applyOne(c, 10, 0, FcallCommand, "bump", "1", "n", "2"); got != ":7\r\n" {
		t.Fatalf("FCALL after a snapshot restore: %q", got)
	}
	if got := string(c.FcallRO(0, 1000, 0, "peek", [][]byte{[]byte("1"), []byte("n")}, nil, nil)); got != "$1\r\n7\r\n" {
		t.Fatalf("FCALL_RO of a no-writes function: %q", got)
	}
	if got := string(c.FcallRO(0, 1000, 0, "bump", [][]byte{[]byte("1"), []byte("n"), []byte("1")}, nil, nil)); !strings.Contains(got, "write flag") {
		t.Fatalf("FCALL_RO of a writing function: %q", got)
	}
	if got := string(c.FunctionList(nil, false)); !strings.Contains(got, "counters") || strings.Contains(got, "second") {
		t.Fatalf("FUNCTION LIST after restore: %q", got)
	}
	// A snapshot without libraries is written as before (older builds
	// read it): no function record.
	empty := New()
	applyOne(empty, 1, 0, "SET", "k", "v")
	buf.Reset()
	empty.Snapshot().WriteTo(&buf)
	if bytes.Contains(buf.Bytes(), []byte{recFunc}) && bytes.Contains(buf.Bytes(), []byte("#!lua")) {
		t.Fatal("a snapshot without libraries has a function record")
	}
}

// FUNCTION DUMP writes Redis's payload; RESTORE takes it back under each
// policy, all or nothing.
func TestFunctionDumpRestore(t *testing.T) {
	f := New()
	applyOne(f, 1, 0, FunctionLoadCommand, "0", testLib)
	dump := f.FunctionDump()
	_, rest, _ := bytes.Cut(dump, []byte("\r\n"))
	payload := string(rest[:len(rest)-2])
	g := New()
	for i, c := range []struct{ policy, want string }{
		{"append", "+OK\r\n"},
		{"append", "-ERR Library counters already exists\r\n"},
		{"replace", "+OK\r\n"},
		{"flush", "+OK\r\n"},
		{"bogus", "-ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.\r\n"},
	} {
		if got := applyOne(g, uint64(i+1), 0, FunctionRestoreCommand, c.policy, payload); got != c.want {
			t.Fatalf("RESTORE %s: %q, want %q", c.policy, got, c.want)
		}
	}
	if got := applyOne(g, 9, 0, FunctionRestoreCommand, "append", payload[:len(payload)-1]+"x"); got != "-"+errDumpPayload+"\r\n" {
		t.Fatalf("RESTORE of a corrupt payload: %q", got)
	}
	if got := applyOne(g, 10, 0, FcallCommand, "bump", "1", "n", "3"); got != ":3\r\n" {
		t.Fatalf("FCALL after RESTORE: %q", got)
	}
}

// Over the memory limit, as Redis: FUNCTION LOAD and a function that may
// write are refused; a no-writes function runs, and one flagged
// allow-oom runs with its denyoom calls.
func TestFunctionsOverMemoryLimit(t *testing.T) {
	f := New()
	applyOne(f, 1, 0, FunctionLoadCommand, "0", testLib)
	applyOne(f, 2, 0, FunctionLoadCommand, "0", "#!lua name=oomok\nredis.register_function{function_name='grow', callback=function(keys) return redis.call('set', keys[1], 'v') end, flags={'allow-oom'}}")
	applyOne(f, 3, 0, "SET", "n", "1")
	if got := applyOne(f, 4, 0, MemConfigCommand, "maxmemory", "1"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	oom := "-" + OOMError + "\r\n"
	for i, c := range []struct {
		args []string
		want string
	}{
		{[]string{FcallCommand, "bump", "1", "n", "1"}, oom},
		{[]string{FunctionLoadCommand, "0", "#!lua name=more\nredis.register_function('m', function() return 1 end)"}, oom},
		{[]string{FcallCommand, "peek", "1", "n"}, "$1\r\n1\r\n"},
		{[]string{FcallCommand, "grow", "1", "g"}, "+OK\r\n"},
	} {
		if got := applyOne(f, uint64(5+i), 0, c.args...); got != c.want {
			t.Errorf("%q over the limit: %q, want %q", c.args, got, c.want)
		}
	}
}
