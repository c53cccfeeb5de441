package fsm

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// applyOne applies one command as its own entry and returns its reply.
func applyOne(f *FSM, index uint64, db int, args ...string) string {
	e := &Entry{Now: 1_000_000, Reqs: []Request{{Ops: []Op{{DB: db, Args: propArgs(args...)}}}}}
	return string(f.Apply(index, e)[0])
}

// listsFSM holds a long list (several levels of tree), short ones, one
// with a TTL and one in another database.
func listsFSM(t *testing.T) (*FSM, uint64) {
	t.Helper()
	f := New()
	var idx uint64
	apply := func(db int, args ...string) {
		idx++
		if r := applyOne(f, idx, db, args...); r[0] == '-' {
			t.Fatalf("%q: %s", args, r)
		}
	}
	for i := 0; i < 100_000; i += 1000 {
		args := []string{"RPUSH", "long"}
		for j := i; j < i+1000; j++ {
			switch j % 7 {
			case 0:
				args = append(args, "")
			case 1:
				args = append(args, "bin\x00\r\n"+strconv.Itoa(j))
			default:
				args = append(args, "e"+strconv.Itoa(j))
			}
		}
		apply(0, args...)
	}
	apply(0, "LPUSH", "short", "a", "b", "c")
	apply(0, "RPUSH", "ttl", "x")
	apply(0, "PEXPIREAT", "ttl", "4102444800000")
	apply(3, "RPUSH", "other", "y", "z")
	return f, idx
}

func listReads(f *FSM) []byte {
	var out []byte
	for _, a := range [][]string{
		{"LRANGE", "long", "0", "-1"}, {"LRANGE", "short", "0", "-1"}, {"LLEN", "long"},
		{"LINDEX", "long", "54321"}, {"TYPE", "long"}, {"PEXPIRETIME", "ttl"}, {"LRANGE", "ttl", "0", "-1"},
	} {
		out = f.Read(0, 1_000_000, 0, propArgs(a...), out)
	}
	return f.Read(3, 1_000_000, 0, propArgs("LRANGE", "other", "0", "-1"), out)
}

// Lists survive a snapshot and restore: the same elements, order, TTL and
// database, and the restored keyspace snapshots to the same bytes.
func TestListSnapshotRoundTrip(t *testing.T) {
	src, _ := listsFSM(t)
	s1 := propSnapBytes(t, src)
	dst := New()
	if err := dst.Restore(bytes.NewReader(s1)); err != nil {
		t.Fatal(err)
	}
	if s2 := propSnapBytes(t, dst); !bytes.Equal(s1, s2) {
		t.Fatal("the restored keyspace snapshots to other bytes")
	}
	if a, b := listReads(src), listReads(dst); !bytes.Equal(a, b) {
		t.Fatal("reads differ after restore")
	}
	if _, d1 := src.Digest(); true {
		if _, d2 := dst.Digest(); d1 != d2 {
			t.Fatalf("digests %s and %s", d1, d2)
		}
	}
	// A restored list takes writes like any other.
	if r := applyOne(dst, 1000, 0, "LPUSH", "long", "new"); r != ":100001\r\n" {
		t.Fatalf("LPUSH after restore: %q", r)
	}
	t.Logf("snapshot of %d bytes", len(s1))
}

// A snapshot taken before writes to a long list serializes the list as it
// was: the writes copy the nodes they change and leave the rest shared.
func TestListSnapshotIsolation(t *testing.T) {
	f, idx := listsFSM(t)
	want := propSnapBytes(t, f)
	reads := listReads(f)
	snap := f.Snapshot()
	for _, a := range [][]string{
		{"LPUSH", "long", "p", "q"}, {"RPOP", "long", "3"}, {"LSET", "long", "50000", "set"},
		{"LINSERT", "long", "BEFORE", "e5", "ins"}, {"LREM", "long", "0", ""}, {"LTRIM", "long", "10", "-10"},
		{"LMOVE", "long", "short", "LEFT", "RIGHT"}, {"RPOPLPUSH", "short", "short"}, {"LMPOP", "2", "ttl", "other", "LEFT"},
		{"DEL", "short"},
	} {
		idx++
		if r := applyOne(f, idx, 0, a...); r[0] == '-' {
			t.Fatalf("%q: %s", a, r)
		}
	}
	if bytes.Equal(listReads(f), reads) {
		t.Fatal("the writes changed nothing")
	}
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatal("the snapshot changed with later writes")
	}
}

// A list's memory per element, counted by the Go heap, for short elements
// (redis-server 7.0 answers MEMORY USAGE for the same list; see README).
func BenchmarkListMemory(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		f := New()
		var ms0, ms1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		for i := 0; i < n; i += 1000 {
			args := []string{"RPUSH", "l"}
			for j := i; j < i+1000; j++ {
				args = append(args, "element-"+strconv.Itoa(j%100000+100000)) // 14 bytes each
			}
			applyOne(f, uint64(i/1000+1), 0, args...)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms1)
		b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/n, "heapB/elem")
		runtime.KeepAlive(f)
	}
}

// LMPOP's keys follow its numkeys, for ACL, CLUSTER KEYSLOT and COMMAND
// GETKEYS alike; a user kept to session:* keys cannot pop another list
// through it, and needs read permission on what it pops.
func TestLMPOPKeys(t *testing.T) {
	cmd := Lookup([]byte("lmpop"))
	for _, c := range []struct {
		args string
		keys string
	}{
		{"LMPOP 2 a b LEFT", "a b"}, {"LMPOP 1 a LEFT COUNT 2", "a"}, {"LMPOP 3 a b LEFT", ""},
		{"LMPOP 0 a LEFT", ""}, {"LMPOP x a LEFT", ""},
	} {
		var got []string
		for _, k := range cmd.Keys(propArgs(strings.Fields(c.args)...)) {
			got = append(got, string(k))
		}
		if strings.Join(got, " ") != c.keys {
			t.Errorf("%s: keys %q, want %q", c.args, got, c.keys)
		}
	}
	if got := strings.Join(cmd.FlagNames(), " "); got != "write movablekeys" {
		t.Errorf("flags %q", got)
	}
	u, err := CompileACLUser("alice", []string{"on", "nopass", "~session:*", "+@all"}, ownTable)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := u.Check(cmd, propArgs("LMPOP", "2", "session:1", "other", "LEFT")); d != DeniedKey {
		t.Errorf("LMPOP of another key: %q", d)
	}
	if d, _ := u.Check(cmd, propArgs("LMPOP", "1", "session:1", "LEFT")); d != "" {
		t.Errorf("LMPOP of an allowed key: %q", d)
	}
	bob, err := CompileACLUser("bob", []string{"on", "nopass", "%W~*", "+@all"}, ownTable)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := bob.Check(Lookup([]byte("lpop")), propArgs("LPOP", "session:1")); d != DeniedKey {
		t.Errorf("LPOP with write-only keys: %q", d)
	}
	if d, _ := bob.Check(Lookup([]byte("rpush")), propArgs("RPUSH", "session:1", "x")); d != "" {
		t.Errorf("RPUSH with write-only keys: %q", d)
	}
}

// BlockSpec lets the server wait only on commands an attempt would not
// refuse: any argument error is the attempt's to answer.
func TestBlockSpec(t *testing.T) {
	for _, c := range []struct {
		args    string
		keys    string
		timeout int64
		ok      bool
	}{
		{"BLPOP a b 1.5", "a b", 1500, true},
		{"BRPOP a 0", "a", 0, true},
		{"BLPOP a 0.0001", "a", 1, true},
		{"BLPOP a -0.0001", "a", 0, true},
		{"BLMOVE s d LEFT right 2", "s", 2000, true},
		{"BRPOPLPUSH s d 0", "s", 0, true},
		{"BLMPOP 3 2 a b LEFT COUNT 2", "a b", 3000, true},
		{"BLPOP a x", "", 0, false},
		{"BLPOP a -1", "", 0, false},
		{"BLPOP a inf", "", 0, false},
		{"BLMOVE s d up LEFT 0", "", 0, false},
		{"BLMOVE s d LEFT up 0", "", 0, false},
		{"BLMPOP 0 1 a up", "", 0, false},
		{"BLMPOP 0 0 a LEFT", "", 0, false},
		{"BLMPOP 0 2 a LEFT", "", 0, false},
		{"BLMPOP 0 1 a LEFT COUNT 0", "", 0, false},
		{"BLMPOP 0 1 a LEFT COUNT 1 COUNT 1", "", 0, false},
		{"LPOP a", "", 0, false},
	} {
		args := propArgs(strings.Fields(c.args)...)
		keys, ms, ok := BlockSpec(Lookup(args[0]), args)
		var got []string
		for _, k := range keys {
			got = append(got, string(k))
		}
		if ok != c.ok || (ok && (strings.Join(got, " ") != c.keys || ms != c.timeout)) {
			t.Errorf("%s: keys %q, %d ms, ok %v", c.args, got, ms, ok)
		}
	}
}
