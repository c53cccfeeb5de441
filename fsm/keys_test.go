package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// tfsm drives an FSM the way the server does: writes as log entries, reads
// through Read.
type tfsm struct {
	f     *FSM
	index uint64
	now   int64
}

func newTFSM() *tfsm { return &tfsm{f: New(), now: 1_000_000} }

func (t *tfsm) do(db int, args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	if cmd := Lookup(argv[0]); cmd != nil && cmd.IsWrite() {
		t.index++
		e := &Entry{Now: t.now, Reqs: []Request{{Ops: []Op{{DB: db, Args: argv}}}}}
		return string(t.f.Apply(t.index, e)[0])
	}
	return string(t.f.Read(db, t.now, 0, argv, nil))
}

func (t *tfsm) read(db int, rnd uint64, args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	return string(t.f.Read(db, t.now, rnd, argv, nil))
}

func expect(tb testing.TB, got, want string) {
	tb.Helper()
	if got != want {
		tb.Fatalf("got %q, want %q", got, want)
	}
}

func hashItem(key string, kv ...string) *item {
	it := &item{key: key, kind: KindHash}
	if !it.fillHash(kv) {
		panic("a field repeats")
	}
	return it
}

func setItem(key string, members ...string) *item {
	it := &item{key: key, kind: KindSet}
	if !it.fillSet(members) {
		panic("a member repeats")
	}
	return it
}

// parseScan reads a SCAN reply: the cursor and the keys.
func parseScan(tb testing.TB, reply string) (uint64, []string) {
	tb.Helper()
	r := reply
	next := func() string {
		i := strings.Index(r, "\r\n")
		if i < 0 {
			tb.Fatalf("short reply %q", reply)
		}
		l := r[:i]
		r = r[i+2:]
		return l
	}
	bulk := func() string {
		h := next()
		n, err := strconv.Atoi(h[1:])
		if h[0] != '$' || err != nil {
			tb.Fatalf("bad bulk %q in %q", h, reply)
		}
		v := r[:n]
		r = r[n+2:]
		return v
	}
	if next() != "*2" {
		tb.Fatalf("not a SCAN reply: %q", reply)
	}
	cursor, err := strconv.ParseUint(bulk(), 10, 64)
	if err != nil {
		tb.Fatalf("bad cursor in %q", reply)
	}
	n, _ := strconv.Atoi(next()[1:])
	keys := make([]string, n)
	for i := range keys {
		keys[i] = bulk()
	}
	return cursor, keys
}

// --- command table -------------------------------------------------------------

// TestKeyCommandTable holds the table to what Redis 7.0's COMMAND INFO says.
func TestKeyCommandTable(t *testing.T) {
	want := []struct {
		name         string
		arity        int
		flags        string
		first, last  int
		step         int
		group        string
		fastExpected bool
	}{
		{"del", -2, "write", 1, -1, 1, "generic", false},
		{"unlink", -2, "write fast", 1, -1, 1, "generic", true},
		{"exists", -2, "readonly fast", 1, -1, 1, "generic", true},
		{"type", 2, "readonly fast", 1, 1, 1, "generic", true},
		{"touch", -2, "readonly fast", 1, -1, 1, "generic", true},
		{"expire", -3, "write fast", 1, 1, 1, "generic", true},
		{"pexpire", -3, "write fast", 1, 1, 1, "generic", true},
		{"expireat", -3, "write fast", 1, 1, 1, "generic", true},
		{"pexpireat", -3, "write fast", 1, 1, 1, "generic", true},
		{"ttl", 2, "readonly fast", 1, 1, 1, "generic", true},
		{"pttl", 2, "readonly fast", 1, 1, 1, "generic", true},
		{"expiretime", 2, "readonly fast", 1, 1, 1, "generic", true},
		{"pexpiretime", 2, "readonly fast", 1, 1, 1, "generic", true},
		{"persist", 2, "write fast", 1, 1, 1, "generic", true},
		{"rename", 3, "write", 1, 2, 1, "generic", false},
		{"renamenx", 3, "write fast", 1, 2, 1, "generic", true},
		{"copy", -3, "write denyoom", 1, 2, 1, "generic", false},
		{"keys", 2, "readonly", 0, 0, 0, "generic", false},
		{"scan", -2, "readonly", 0, 0, 0, "generic", false},
		{"randomkey", 1, "readonly", 0, 0, 0, "generic", false},
		{"dbsize", 1, "readonly fast", 0, 0, 0, "server", true},
		{"flushdb", -1, "write", 0, 0, 0, "server", false},
		{"flushall", -1, "write", 0, 0, 0, "server", false},
	}
	for _, w := range want {
		c := Lookup([]byte(strings.ToUpper(w.name)))
		if c == nil {
			t.Errorf("%s: not registered", w.name)
			continue
		}
		if c.Arity != w.arity || strings.Join(c.FlagNames(), " ") != w.flags ||
			c.FirstKey != w.first || c.LastKey != w.last || c.Step != w.step || c.Group != w.group {
			t.Errorf("%s: arity %d flags %q keys %d,%d,%d group %s; want %d %q %d,%d,%d %s",
				w.name, c.Arity, c.FlagNames(), c.FirstKey, c.LastKey, c.Step, c.Group,
				w.arity, w.flags, w.first, w.last, w.step, w.group)
		}
	}
	args := [][]byte{[]byte("copy"), []byte("a"), []byte("b"), []byte("DB"), []byte("1")}
	if got := Lookup([]byte("copy")).Keys(args); len(got) != 2 || string(got[1]) != "b" {
		t.Errorf("copy keys = %q", got)
	}
}

// --- other kinds ---------------------------------------------------------------------

func TestKeysOtherKinds(t *testing.T) {
	tf := newTFSM()
	tf.f.dbs[0].put(hashItem("h", "f", "v"))
	tf.f.dbs[0].put(setItem("s", "m1", "m2"))
	expect(t, tf.do(0, "SET", "str", "x"), "+OK\r\n")

	expect(t, tf.do(0, "TYPE", "h"), "+hash\r\n")
	expect(t, tf.do(0, "TYPE", "s"), "+set\r\n")
	expect(t, tf.do(0, "TYPE", "str"), "+string\r\n")
	expect(t, tf.do(0, "EXISTS", "h", "s", "str", "nope"), ":3\r\n")

	for _, tc := range []struct{ typ, want string }{
		{"hash", "h"}, {"HASH", "h"}, {"set", "s"}, {"string", "str"},
		{"list", ""}, {"zset", ""}, {"stream", ""}, {"none", ""},
	} {
		_, keys := parseScan(t, tf.do(0, "SCAN", "0", "COUNT", "100", "TYPE", tc.typ))
		if got := strings.Join(keys, ","); got != tc.want {
			t.Errorf("SCAN TYPE %s = %q, want %q", tc.typ, got, tc.want)
		}
	}

	// EXPIRE works on any kind and keeps the value.
	expect(t, tf.do(0, "EXPIRE", "h", "100"), ":1\r\n")
	expect(t, tf.do(0, "TTL", "h"), ":100\r\n")
	if it := tf.f.dbs[0].raw("h"); it.kind != KindHash || it.hashLen() != 1 {
		t.Fatalf("EXPIRE changed the hash: %+v", it)
	}

	// COPY: the destination gets its own copy-on-write view and the TTL.
	expect(t, tf.do(0, "COPY", "h", "h2"), ":1\r\n")
	expect(t, tf.do(0, "COPY", "s", "s2", "DB", "5"), ":1\r\n")
	expect(t, tf.do(0, "TTL", "h2"), ":100\r\n")
	// A writer of the copy (clone, mutHash, Put) must not touch the
	// source, packed (h) or a tree (big: more fields than pack).
	var kv []string
	for i := range packMaxEntries + 10 {
		kv = append(kv, fmt.Sprint("f", i), "v")
	}
	tf.f.dbs[0].put(hashItem("big", kv...))
	expect(t, tf.do(0, "COPY", "big", "big2"), ":1\r\n")
	if tf.f.dbs[0].raw("h").hash != nil || tf.f.dbs[0].raw("big").hash == nil {
		t.Fatal("a one-field hash is not packed, or a big one is")
	}
	if tf.f.dbs[0].raw("big").hash == tf.f.dbs[0].raw("big2").hash {
		t.Fatal("COPY shares the hash tree with the source")
	}
	w := Ctx{f: tf.f, ks: tf.f.dbs[0], Now: tf.now, Rev: 99, Write: true}
	for _, k := range []string{"h", "big"} {
		src := tf.f.dbs[0].raw(k)
		n0 := src.hashLen()
		n := tf.f.dbs[0].raw(k + "2").clone()
		n.mutHash()
		n.hashSet("f", "changed", "g", "new")
		w.Put(n)
		if v, _ := src.hashGet("f"); (k == "h" && v != "v") || src.hashLen() != n0 {
			t.Fatalf("%s: writing the copy changed the source: f=%q len=%d", k, v, src.hashLen())
		}
		// Even a direct write to the copy's tree leaves the source alone.
		if dst := tf.f.dbs[0].raw(k + "2"); dst.hash != nil {
			dst.hash.Set("direct", "x")
			if _, ok := src.hashGet("direct"); ok {
				t.Fatal("copied hash tree is not isolated from the source")
			}
		}
	}
	expect(t, tf.do(0, "DEL", "big", "big2"), ":2\r\n")
	s5 := tf.f.dbs[5].raw("s2")
	if s5 == nil || s5.kind != KindSet || s5.members().Len() != 2 {
		t.Fatalf("COPY to db 5: %+v", s5)
	}
	expect(t, tf.do(5, "SADD", "s2", "m3"), ":1\r\n")
	if tf.f.dbs[0].raw("s").members().Len() != 2 {
		t.Fatal("writing the copied set changed the source")
	}
	expect(t, tf.do(5, "TYPE", "s2"), "+set\r\n")

	// RENAME keeps the kind and the TTL.
	expect(t, tf.do(0, "RENAME", "h", "h3"), "+OK\r\n")
	expect(t, tf.do(0, "TYPE", "h3"), "+hash\r\n")
	expect(t, tf.do(0, "TTL", "h3"), ":100\r\n")
	expect(t, tf.do(0, "EXISTS", "h"), ":0\r\n")
	// RENAME over a set replaces it whole.
	expect(t, tf.do(0, "RENAME", "h3", "s"), "+OK\r\n")
	expect(t, tf.do(0, "TYPE", "s"), "+hash\r\n")
	expect(t, tf.do(0, "TTL", "s"), ":100\r\n")

	// KEYS and TYPE once the TTL (copied to h2, moved to s) has passed.
	tf.now += 100_001
	expect(t, tf.do(0, "TYPE", "s"), "+none\r\n")
	expect(t, tf.do(0, "TYPE", "h2"), "+none\r\n")
	expect(t, tf.do(0, "KEYS", "*"), "*1\r\n$3\r\nstr\r\n")
	expect(t, tf.do(5, "KEYS", "*"), "*1\r\n$2\r\ns2\r\n")
}

// The deadline index must follow every TTL change, or the leader would reap
// live keys (or never reap dead ones).
func TestKeysDeadlineIndex(t *testing.T) {
	tf := newTFSM()
	check := func(wantKeys ...string) {
		t.Helper()
		var got []string
		for _, ks := range tf.f.dbs {
			ks.ttls.Scan(func(r ttlRef) bool {
				it := ks.raw(r.key)
				if it == nil || it.deadline != r.deadline {
					t.Errorf("stale ttl ref %+v (item %+v)", r, it)
				}
				got = append(got, r.key)
				return true
			})
			ks.keys.Scan(func(it *item) bool {
				if it.deadline != 0 {
					if _, ok := ks.ttls.Get(ttlRef{it.deadline, it.h, it.key}); !ok {
						t.Errorf("key %q with deadline %d missing from the index", it.key, it.deadline)
					}
				}
				return true
			})
		}
		slices.Sort(got)
		slices.Sort(wantKeys)
		if !slices.Equal(got, wantKeys) {
			t.Errorf("deadline index holds %q, want %q", got, wantKeys)
		}
	}
	tf.do(0, "SET", "a", "1")
	tf.do(0, "SET", "b", "1")
	tf.do(0, "EXPIRE", "a", "10")
	tf.do(0, "EXPIRE", "a", "20")
	tf.do(0, "PEXPIREAT", "b", "5000000")
	check("a", "b")
	tf.do(0, "PERSIST", "b")
	check("a")
	tf.do(0, "RENAME", "a", "c")
	check("c")
	tf.do(0, "SET", "d", "1")
	tf.do(0, "EXPIRE", "d", "50")
	tf.do(0, "RENAME", "c", "d") // d's own deadline goes, c's comes with it
	check("d")
	tf.do(0, "COPY", "d", "e")
	tf.do(0, "COPY", "d", "e", "DB", "3")
	check("d", "e", "e")
	tf.do(0, "EXPIRE", "e", "-1")
	check("d", "e")
	tf.do(3, "FLUSHDB")
	check("d")
	tf.do(0, "SET", "x", "1")
	tf.do(0, "PEXPIRE", "x", "1")
	tf.now += 2
	// An expired destination: RENAMENX removes it through Get first.
	tf.do(0, "RENAMENX", "d", "x")
	check("x")
	tf.do(0, "FLUSHALL")
	check()
}

// Every write stamps the key's revision, so WATCH sees EXPIRE, PERSIST,
// RENAME and COPY as changes.
func TestKeysWatchRevisions(t *testing.T) {
	tf := newTFSM()
	tf.do(0, "SET", "k", "v")
	rev := func(db int, k string) uint64 { return tf.f.WatchRev(db, tf.now, []byte(k)) }
	r0 := rev(0, "k")
	tf.do(0, "EXPIRE", "k", "100")
	r1 := rev(0, "k")
	tf.do(0, "EXPIRE", "k", "100", "GT") // refused: no change
	if rev(0, "k") != r1 || r1 == r0 {
		t.Fatalf("revisions %d %d %d", r0, r1, rev(0, "k"))
	}
	tf.do(0, "PERSIST", "k")
	r2 := rev(0, "k")
	tf.do(0, "PERSIST", "k") // nothing to do
	if r2 == r1 || rev(0, "k") != r2 {
		t.Fatal("PERSIST revisions")
	}
	tf.do(0, "COPY", "k", "k", "DB", "1")
	if rev(1, "k") != tf.index || rev(0, "k") != r2 {
		t.Fatal("COPY revisions")
	}
	tf.do(0, "RENAME", "k", "j")
	if rev(0, "j") != tf.index || rev(0, "k") != 0 {
		t.Fatal("RENAME revisions")
	}
}

// FLUSHALL must not reach into a snapshot taken before it.
func TestKeysFlushSnapshotIsolation(t *testing.T) {
	tf := newTFSM()
	tf.do(0, "SET", "a", "1")
	tf.do(4, "SET", "b", "1")
	snap := tf.f.Snapshot()
	tf.do(0, "FLUSHALL")
	tf.do(4, "SET", "c", "1")
	if snap.dbs[0].keys.Len() != 1 || snap.dbs[4].keys.Len() != 1 {
		t.Fatalf("snapshot changed by FLUSHALL: %d %d", snap.dbs[0].keys.Len(), snap.dbs[4].keys.Len())
	}
	expect(t, tf.do(4, "DBSIZE"), ":1\r\n")
	expect(t, tf.do(0, "DBSIZE"), ":0\r\n")
}

// --- RANDOMKEY ---------------------------------------------------------------------------

func TestRandomKey(t *testing.T) {
	tf := newTFSM()
	const n = 50
	for i := range n {
		tf.do(0, "SET", fmt.Sprint("k", i), "v")
	}
	// Expire half of them.
	for i := 0; i < n; i += 2 {
		tf.do(0, "PEXPIRE", fmt.Sprint("k", i), "1")
	}
	tf.now += 2
	seen := map[string]int{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		r := tf.read(0, rng.Uint64(), "RANDOMKEY")
		if !strings.HasPrefix(r, "$") {
			t.Fatalf("RANDOMKEY = %q", r)
		}
		k := strings.Split(r, "\r\n")[1]
		i, _ := strconv.Atoi(k[1:])
		if i%2 == 0 {
			t.Fatalf("RANDOMKEY returned expired key %s", k)
		}
		seen[k]++
	}
	if len(seen) != n/2 {
		t.Fatalf("RANDOMKEY reached %d of %d live keys", len(seen), n/2)
	}
	// Same randomness, same answer: the fsm adds none of its own.
	expect(t, tf.read(0, 12345, "RANDOMKEY"), tf.read(0, 12345, "RANDOMKEY"))
	// A pivot past the last key wraps around to the first live one.
	var first string
	tf.f.dbs[0].keys.Scan(func(it *item) bool {
		if !it.expired(tf.now) {
			first = it.key
			return false
		}
		return true
	})
	expect(t, tf.read(0, ^uint64(0), "RANDOMKEY"), fmt.Sprintf("$%d\r\n%s\r\n", len(first), first))
	// Nothing live: a null reply.
	for i := 1; i < n; i += 2 {
		tf.do(0, "PEXPIRE", fmt.Sprint("k", i), "1")
	}
	tf.now += 2
	expect(t, tf.read(0, 7, "RANDOMKEY"), "$-1\r\n")
}

// --- SCAN ---------------------------------------------------------------------------------

// TestScanGuarantee adds and removes keys between SCAN calls and checks that
// every key present for the whole scan is returned, with COUNT bounding the
// work of each call.
func TestScanGuarantee(t *testing.T) {
	seed := testcluster.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	for round := range 20 {
		tf := newTFSM()
		stable := map[string]bool{}
		volatile := map[string]bool{}
		nextID := 0
		newKey := func(prefix string) string {
			nextID++
			return fmt.Sprintf("%s%d:%d", prefix, round, nextID)
		}
		for range 200 + rng.IntN(300) {
			k := newKey("s")
			tf.do(0, "SET", k, "v")
			stable[k] = true
		}
		for range rng.IntN(200) {
			k := newKey("v")
			tf.do(0, "SET", k, "v")
			volatile[k] = true
		}
		// Keys sharing one hash: a call must never split them.
		const shared = 1 << 40
		for i := range 1 + rng.IntN(6) {
			k := fmt.Sprintf("collide%d", i)
			tf.f.dbs[0].put(&item{h: shared, key: k, kind: KindString, str: "x"})
			stable[k] = true
		}

		everSeen := map[string]bool{}
		for k := range stable {
			everSeen[k] = true
		}
		for k := range volatile {
			everSeen[k] = true
		}
		returned := map[string]bool{}
		var cursor uint64
		calls := 0
		for {
			count := 1 + rng.IntN(25)
			args := []string{"SCAN", strconv.FormatUint(cursor, 10), "COUNT", strconv.Itoa(count)}
			if rng.IntN(4) == 0 {
				args = append(args, "MATCH", "*")
			}
			next, keys := parseScan(t, tf.do(0, args...))
			calls++
			collided := 0
			for _, k := range keys {
				if !everSeen[k] {
					t.Fatalf("seed %d: SCAN returned %q, which never existed", seed, k)
				}
				if strings.HasPrefix(k, "collide") {
					collided++
				}
				returned[k] = true
			}
			if collided != 0 && collided != countPrefix(stable, "collide") {
				t.Fatalf("seed %d: a call split the keys sharing one hash (%d returned)", seed, collided)
			}
			if limit := count + countPrefix(stable, "collide"); len(keys) > limit {
				t.Fatalf("seed %d: COUNT %d call returned %d keys", seed, count, len(keys))
			}
			if next == 0 {
				break
			}
			if next <= cursor {
				t.Fatalf("seed %d: cursor went from %d to %d", seed, cursor, next)
			}
			cursor = next
			if calls > 10_000 {
				t.Fatalf("seed %d: scan does not end", seed)
			}
			// Churn: add new keys, delete and re-add volatile ones, expire some.
			for range rng.IntN(20) {
				switch op := rng.IntN(4); {
				case op == 0 || len(volatile) == 0:
					k := newKey("v")
					tf.do(0, "SET", k, "v")
					volatile[k] = true
					everSeen[k] = true
				case op == 1:
					k := anyKey(rng, volatile)
					tf.do(0, "DEL", k)
					delete(volatile, k)
				case op == 2:
					k := anyKey(rng, volatile)
					tf.do(0, "PEXPIRE", k, "1")
				default:
					k := anyKey(rng, volatile)
					tf.do(0, "RENAME", k, k+"r")
					delete(volatile, k)
					volatile[k+"r"] = true
					everSeen[k+"r"] = true
				}
			}
			tf.now++
		}
		for k := range stable {
			if !returned[k] {
				t.Fatalf("seed %d round %d: stable key %q never returned", seed, round, k)
			}
		}
	}
}

func countPrefix(m map[string]bool, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// anyKey picks a key deterministically for the seed (map order is random).
func anyKey(rng *rand.Rand, m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))]
}

// Two FSMs fed the same keys in different orders answer KEYS and SCAN the
// same: the order is the tree's, never insertion or map order.
func TestKeysOrderIndependent(t *testing.T) {
	a, b := newTFSM(), newTFSM()
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprint("key:", i))
	}
	for _, k := range keys {
		a.do(0, "SET", k, "v")
	}
	for i := len(keys) - 1; i >= 0; i-- {
		b.do(0, "SET", keys[i], "v")
	}
	for _, cmd := range [][]string{{"KEYS", "*"}, {"KEYS", "key:1*"}, {"SCAN", "0", "COUNT", "7"}, {"RANDOMKEY"}} {
		if x, y := a.read(0, 99, cmd...), b.read(0, 99, cmd...); x != y {
			t.Errorf("%v differs: %q vs %q", cmd, x, y)
		}
	}
}

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true}, {"", 0, true}, {"17", 17, true}, {"007", 7, true}, {"+5", 5, true},
		{"-0", 0, true}, {"-1", 1<<64 - 1, true}, {"-18446744073709551615", 1, true},
		{"18446744073709551615", 1<<64 - 1, true}, {"18446744073709551616", 0, false},
		{"-18446744073709551616", 0, false}, {" 1", 0, false}, {"\t1", 0, false},
		{"1 ", 0, false}, {"+", 0, false}, {"-", 0, false}, {"1x", 0, false},
		{"0x10", 0, false}, {"5\x00junk", 5, true}, {"\x00", 0, true},
		{"99999999999999999999999", 0, false},
	} {
		got, ok := parseCursor([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseCursor(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A handler that walks the tree inside MULTI must not delete from it.
func TestKeysWalkInMultiKeepsTree(t *testing.T) {
	tf := newTFSM()
	for i := range 30 {
		tf.do(0, "SET", fmt.Sprint("k", i), "v")
		tf.do(0, "PEXPIRE", fmt.Sprint("k", i), strconv.Itoa(1+i%2))
	}
	tf.now += 2 // the odd ones (deadline +1) are dead, the even ones at their deadline
	tf.index++
	var ops []Op
	for _, c := range []string{"KEYS *", "SCAN 0 COUNT 100", "RANDOMKEY", "DBSIZE"} {
		var args [][]byte
		for _, a := range strings.Fields(c) {
			args = append(args, []byte(a))
		}
		ops = append(ops, Op{Args: args})
	}
	out := tf.f.Apply(tf.index, &Entry{Now: tf.now, Reqs: []Request{{Atomic: true, Ops: ops}}})[0]
	if !bytes.HasSuffix(out, []byte(":15\r\n")) {
		t.Fatalf("MULTI reply %q", out)
	}
	if n := tf.f.dbs[0].keys.Len(); n != 30 {
		t.Fatalf("walking deleted keys: %d left", n)
	}
}

// --- benchmark --------------------------------------------------------------------------

func BenchmarkApplyEXPIRE(b *testing.B) {
	f := New()
	const nkeys = 1 << 14
	keys := make([][]byte, nkeys)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "session:%d", i)
	}
	set := make([]Op, nkeys)
	for i, k := range keys {
		set[i] = Op{Args: [][]byte{[]byte("SET"), k, []byte("v")}}
	}
	f.Apply(1, &Entry{Now: 1_000_000, Reqs: []Request{{Ops: set}}})
	entries := make([]Entry, nkeys)
	for i, k := range keys {
		entries[i] = Entry{Now: 1_000_000, Reqs: []Request{{Ops: []Op{{Args: [][]byte{
			[]byte("EXPIRE"), k, strconv.AppendInt(nil, int64(100+i%1000), 10),
		}}}}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := &entries[i%nkeys]
		e.Now = 1_000_000 + int64(i)
		out := f.Apply(uint64(i+2), e)
		if len(out[0]) != 4 { // ":1\r\n"
			b.Fatalf("EXPIRE = %q", out[0])
		}
	}
}
