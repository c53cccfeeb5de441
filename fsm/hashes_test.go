package fsm

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// hsFSM drives an FSM as the server would: writes as log entries through
// the codec, reads through Read.
type hsFSM struct {
	*FSM
	idx uint64
	now int64
}

func newHSFSM() *hsFSM { return &hsFSM{FSM: New(), now: 1_000_000} }

func (h *hsFSM) do(db int, args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	if cmd := Lookup(argv[0]); cmd != nil && cmd.IsWrite() {
		h.idx++
		e := &Entry{Now: h.now, Reqs: []Request{{Ops: []Op{{DB: db, Args: argv}}}}}
		dec, err := DecodeEntry(e.Encode(nil))
		if err != nil {
			panic(err)
		}
		return string(h.Apply(h.idx, dec)[0])
	}
	return string(h.Read(db, h.now, 42, argv, nil))
}

// setDeadline gives key a TTL behind the commands' back: this branch has no
// EXPIRE family yet.
func (h *hsFSM) setDeadline(db int, key string, deadline int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ks := h.dbs[db]
	it := ks.raw(key).clone()
	it.deadline = deadline
	ks.put(it)
}

func (h *hsFSM) deadline(db int, key string) int64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if it := h.dbs[db].raw(key); it != nil {
		return it.deadline
	}
	return -1
}

func (h *hsFSM) expires(db int) int {
	for _, s := range h.Stats() {
		if s.DB == db {
			return s.Expires
		}
	}
	return 0
}

func hsExpect(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestHashSetCommandTable pins each command's row to what redis-server
// 7.0's COMMAND INFO reports (arity, flags, key positions).
func TestHashSetCommandTable(t *testing.T) {
	want := map[string]string{
		"hset":         "-4 write,denyoom,fast 1 1 1 hash",
		"hsetnx":       "4 write,denyoom,fast 1 1 1 hash",
		"hget":         "3 readonly,fast 1 1 1 hash",
		"hmget":        "-3 readonly,fast 1 1 1 hash",
		"hmset":        "-4 write,denyoom,fast 1 1 1 hash",
		"hdel":         "-3 write,fast 1 1 1 hash",
		"hlen":         "2 readonly,fast 1 1 1 hash",
		"hexists":      "3 readonly,fast 1 1 1 hash",
		"hgetall":      "2 readonly 1 1 1 hash",
		"hkeys":        "2 readonly 1 1 1 hash",
		"hvals":        "2 readonly 1 1 1 hash",
		"hincrby":      "4 write,denyoom,fast 1 1 1 hash",
		"hincrbyfloat": "4 write,denyoom,fast 1 1 1 hash",
		"hstrlen":      "3 readonly,fast 1 1 1 hash",
		"hscan":        "-3 readonly 1 1 1 hash",
		"hrandfield":   "-2 readonly 1 1 1 hash",
		"sadd":         "-3 write,denyoom,fast 1 1 1 set",
		"srem":         "-3 write,fast 1 1 1 set",
		"smembers":     "2 readonly 1 1 1 set",
		"sismember":    "3 readonly,fast 1 1 1 set",
		"smismember":   "-3 readonly,fast 1 1 1 set",
		"scard":        "2 readonly,fast 1 1 1 set",
		"sscan":        "-3 readonly 1 1 1 set",
		"spop":         "-2 write,fast 1 1 1 set",
		"srandmember":  "-2 readonly 1 1 1 set",
	}
	for name, w := range want {
		c := Lookup([]byte(strings.ToUpper(name)))
		if c == nil {
			t.Errorf("%s: not registered", name)
			continue
		}
		got := fmt.Sprintf("%d %s %d %d %d %s", c.Arity, strings.Join(c.FlagNames(), ","), c.FirstKey, c.LastKey, c.Step, c.Group)
		if got != w {
			t.Errorf("%s: got %q, want %q", name, got, w)
		}
		if keys := c.Keys([][]byte{[]byte(name), []byte("k"), []byte("a"), []byte("b")}); len(keys) != 1 || string(keys[0]) != "k" {
			t.Errorf("%s: keys %q", name, keys)
		}
	}
	n := 0
	for _, c := range commands.Commands() {
		single := c.FirstKey == 1 && c.LastKey == 1 && c.KeysFunc == nil
		if (c.Group == "hash" || c.Group == "set") && single { // SINTER and friends take several keys
			n++
		}
	}
	if n != len(want) {
		t.Errorf("%d single-key hash/set commands registered, want %d", n, len(want))
	}
}

// TestHashSetKeepTTL: every write that modifies a hash or set keeps the
// key's deadline, and the deadline index stays in step.
func TestHashSetKeepTTL(t *testing.T) {
	h := newHSFSM()
	const dl = 5_000_000
	h.do(0, "HSET", "h", "a", "1", "b", "2")
	h.do(0, "SADD", "s", "a", "b")
	h.setDeadline(0, "h", dl)
	h.setDeadline(0, "s", dl)
	for _, cmd := range [][]string{
		{"HSET", "h", "c", "3"},
		{"HMSET", "h", "a", "9"},
		{"HSETNX", "h", "d", "4"},
		{"HSETNX", "h", "d", "5"},
		{"HDEL", "h", "c"},
		{"HDEL", "h", "nosuch"},
		{"HINCRBY", "h", "n", "1"},
		{"HINCRBYFLOAT", "h", "n", "0.5"},
		{"HINCRBY", "h", "a", "x"},
		{"SADD", "s", "c"},
		{"SADD", "s", "c"},
		{"SREM", "s", "a"},
		{"SREM", "s", "nosuch"},
	} {
		h.do(0, cmd...)
		for _, k := range []string{"h", "s"} {
			if got := h.deadline(0, k); got != dl {
				t.Fatalf("after %v: %s deadline %d, want %d", cmd, k, got, dl)
			}
		}
		if got := h.expires(0); got != 2 {
			t.Fatalf("after %v: %d keys in the deadline index, want 2", cmd, got)
		}
	}
	hsExpect(t, h.do(0, "HGETALL", "h"), "*8\r\n$1\r\na\r\n$1\r\n9\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nn\r\n$3\r\n1.5\r\n")
	hsExpect(t, h.do(0, "SMEMBERS", "s"), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n")

	// Removing the last field or member removes the key and its deadline.
	h.do(0, "HDEL", "h", "a", "b", "d", "n")
	h.do(0, "SREM", "s", "b", "c")
	if h.deadline(0, "h") != -1 || h.deadline(0, "s") != -1 || h.expires(0) != 0 {
		t.Fatalf("emptied keys linger: h %d s %d index %d", h.deadline(0, "h"), h.deadline(0, "s"), h.expires(0))
	}
}

// TestHashSetExpired: an expired hash or set is invisible to reads, and a
// write treats it as missing: a fresh value without the old TTL.
func TestHashSetExpired(t *testing.T) {
	h := newHSFSM()
	h.do(0, "HSET", "h", "a", "1")
	h.do(0, "SADD", "s", "a")
	h.setDeadline(0, "h", h.now+1000)
	h.setDeadline(0, "s", h.now+1000)

	h.now += 1000 // at the deadline: still alive (expired means now > deadline)
	hsExpect(t, h.do(0, "HGET", "h", "a"), "$1\r\n1\r\n")
	hsExpect(t, h.do(0, "SCARD", "s"), ":1\r\n")

	h.now++
	for _, cmd := range [][]string{{"HGET", "h", "a"}, {"HGETALL", "h"}, {"HLEN", "h"}, {"HRANDFIELD", "h"}, {"SMEMBERS", "s"}, {"SISMEMBER", "s", "a"}, {"HSCAN", "h", "0"}} {
		if got := h.do(0, cmd...); strings.Contains(got, "a\r\n") || strings.HasPrefix(got, ":1") {
			t.Errorf("%v on an expired key: %q", cmd, got)
		}
	}
	hsExpect(t, h.do(0, "HSETNX", "h", "a", "new"), ":1\r\n")
	hsExpect(t, h.do(0, "HGETALL", "h"), "*2\r\n$1\r\na\r\n$3\r\nnew\r\n")
	hsExpect(t, h.do(0, "SREM", "s", "a"), ":0\r\n")
	hsExpect(t, h.do(0, "SADD", "s", "b"), ":1\r\n")
	hsExpect(t, h.do(0, "SMEMBERS", "s"), "*1\r\n$1\r\nb\r\n")
	if h.deadline(0, "h") != 0 || h.deadline(0, "s") != 0 || h.expires(0) != 0 {
		t.Fatalf("fresh values kept the old TTL")
	}
}

// TestHRandField checks what golden files cannot: distinctness, counts,
// that every field can come up, and that the seed alone decides.
func TestHRandField(t *testing.T) {
	h := newHSFSM()
	args := []string{"HSET", "h"}
	for i := range 50 {
		args = append(args, fmt.Sprintf("f%02d", i), strconv.Itoa(i))
	}
	h.do(0, args...)
	read := func(seed uint64, args ...string) []string {
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		out := string(h.Read(0, h.now, seed, argv, nil))
		lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
		var vals []string
		for i := 1; i < len(lines); i += 2 {
			vals = append(vals, lines[i+1])
		}
		return vals
	}
	seen := map[string]bool{}
	for seed := range uint64(400) {
		got := read(seed, "HRANDFIELD", "h", "7")
		if len(got) != 7 {
			t.Fatalf("count 7 gave %d fields", len(got))
		}
		dup := map[string]bool{}
		for i, f := range got {
			if dup[f] {
				t.Fatalf("seed %d: %s twice in %v", seed, f, got)
			}
			if i > 0 && got[i-1] > f {
				t.Fatalf("seed %d: not in order: %v", seed, got)
			}
			dup[f] = true
			seen[f] = true
		}
		wv := read(seed, "HRANDFIELD", "h", "3", "WITHVALUES")
		for i := 0; i < len(wv); i += 2 {
			if n, _ := strconv.Atoi(wv[i+1]); fmt.Sprintf("f%02d", n) != wv[i] {
				t.Fatalf("WITHVALUES pairs %v", wv)
			}
		}
		if neg := read(seed, "HRANDFIELD", "h", "-120"); len(neg) != 120 {
			t.Fatalf("count -120 gave %d fields", len(neg))
		}
		one := string(h.Read(0, h.now, seed, [][]byte{[]byte("HRANDFIELD"), []byte("h")}, nil))
		seen[strings.Split(one, "\r\n")[1]] = true
	}
	if len(seen) != 50 {
		t.Errorf("only %d of 50 fields ever picked", len(seen))
	}
	a := strings.Join(read(99, "HRANDFIELD", "h", "-30"), ",")
	if b := strings.Join(read(99, "HRANDFIELD", "h", "-30"), ","); a != b {
		t.Errorf("same seed, different picks: %s vs %s", a, b)
	}
	if b := strings.Join(read(100, "HRANDFIELD", "h", "-30"), ","); a == b {
		t.Errorf("different seeds, same picks: %s", a)
	}
}

// TestLongDouble spot-checks the long double helpers on values whose
// Redis answers are known (redis-server 7.0, x86-64).
func TestLongDoubleCases(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"0.1", "0.2", "0.3"},
		{"10.50", "0.1", "10.6"},
		{"5.0e3", "2.0e2", "5200"},
		{"1.5e30", "0", "1500000000000000000002684354560"},
		{"0x1p-2", "1", "1.25"},
		{"-1e-20", "0", "0"},
		{"9223372036854775807", "1", "9223372036854775808"},
		{"1e4932", "1e4932", ""},
	} {
		a, ok1 := parseLongDouble(tc.a)
		b, ok2 := parseLongDouble(tc.b)
		if !ok1 || !ok2 {
			t.Fatalf("%s + %s: parse failed", tc.a, tc.b)
		}
		sum, ok := addLongDouble(a, b)
		got := ""
		if ok {
			got = formatLongDouble(sum)
		}
		if got != tc.want {
			t.Errorf("%s + %s = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	for _, bad := range []string{"", " 1", "1 ", "nan", "-nan", "1e", "0x", "0x1p", "1p3", "0b1", "1_0", "1e5000", "1e-5000", strings.Repeat("1", 5120)} {
		if _, ok := parseLongDouble(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	long := "0." + strings.Repeat("1", 5117)
	if _, ok := parseLongDouble(long); !ok {
		t.Errorf("5119 bytes refused")
	}
	if _, ok := parseLongDouble(long + "1"); ok {
		t.Errorf("5120 bytes parsed (Redis's limit is 5119)")
	}
}

// BenchmarkApplyHSET measures one HSET per log entry through Apply: a
// field update in a 100-field hash, spread over 1000 keys.
func BenchmarkApplyHSET(b *testing.B) {
	f := New()
	var idx uint64
	for k := range 1000 {
		args := [][]byte{[]byte("HSET"), fmt.Appendf(nil, "session:%d", k)}
		for i := range 100 {
			args = append(args, fmt.Appendf(nil, "field%d", i), []byte("value"))
		}
		idx++
		f.Apply(idx, &Entry{Now: 1, Reqs: []Request{{Ops: []Op{{Args: args}}}}})
	}
	entries := make([]Entry, 1024)
	for i := range entries {
		entries[i] = Entry{Now: 2, Reqs: []Request{{Ops: []Op{{Args: [][]byte{
			[]byte("HSET"), fmt.Appendf(nil, "session:%d", i%1000), fmt.Appendf(nil, "field%d", i%100), []byte("new-value"),
		}}}}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		f.Apply(idx, &entries[i%len(entries)])
	}
}

// BenchmarkApplyHSETBatch: 64 HSETs of new fields per entry (group
// commit); ns/op is per command.
func BenchmarkApplyHSETBatch(b *testing.B) {
	f := New()
	const batch = 64
	entries := make([]Entry, (b.N+batch-1)/batch)
	for i := range entries {
		e := Entry{Now: 1, Reqs: make([]Request, batch)}
		for j := range e.Reqs {
			n := i*batch + j
			e.Reqs[j].Ops = []Op{{Args: [][]byte{[]byte("HSET"), fmt.Appendf(nil, "session:%d", n%10000), fmt.Appendf(nil, "f%d", n), []byte("v")}}}
		}
		entries[i] = e
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range entries {
		f.Apply(uint64(i+1), &entries[i])
	}
}

func BenchmarkApplySADD(b *testing.B) {
	f := New()
	var idx uint64
	entries := make([]Entry, 1024)
	for i := range entries {
		entries[i] = Entry{Now: 1, Reqs: []Request{{Ops: []Op{{Args: [][]byte{
			[]byte("SADD"), fmt.Appendf(nil, "set:%d", i%100), fmt.Appendf(nil, "m%d", i),
		}}}}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		f.Apply(idx, &entries[i%len(entries)])
	}
}

func BenchmarkApplyHINCRBYFLOAT(b *testing.B) {
	f := New()
	var idx uint64
	e := Entry{Now: 1, Reqs: []Request{{Ops: []Op{{Args: [][]byte{[]byte("HINCRBYFLOAT"), []byte("h"), []byte("f"), []byte("0.1")}}}}}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx++
		f.Apply(idx, &e)
	}
}

func BenchmarkReadHGETALL(b *testing.B) {
	f := New()
	args := [][]byte{[]byte("HSET"), []byte("h")}
	for i := range 20 {
		args = append(args, fmt.Appendf(nil, "field%d", i), []byte("some value"))
	}
	f.Apply(1, &Entry{Now: 1, Reqs: []Request{{Ops: []Op{{Args: args}}}}})
	rd := [][]byte{[]byte("HGETALL"), []byte("h")}
	var out []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = f.Read(0, 1, 0, rd, out[:0])
	}
}
