package fsm

import (
	"bytes"
	"math/rand"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// recount sizes every item from scratch: what the incremental used_memory
// must equal.
func recount(f *FSM) int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var n int64
	for _, ks := range f.dbs {
		ks.keys.Scan(func(it *item) bool {
			n += itemSize(it)
			return true
		})
	}
	return n
}

func memOp(db int, a ...string) Op { return Op{DB: db, Args: propArgs(a...)} }

// TestPropUsedMemory: over random logs with a memory limit and the
// leader's evictions mixed in, used_memory kept incrementally equals the
// sum of every item's estimate recomputed from scratch, after every
// entry; two replicas (one decoding every entry) agree on replies, on
// used_memory, on evicted_keys and on the snapshot; a restored snapshot
// has the same used_memory.
func TestPropUsedMemory(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	policies := []string{"noeviction", "allkeys-lru", "volatile-lru", "allkeys-random", "volatile-ttl"}
	for iter := range propIters(100) {
		a, b := New(), New()
		g := &logGen{r: r, ref: a, now: 1_000_000}
		for i := range 60 {
			e := g.entry()
			switch r.Intn(8) {
			case 0:
				e.Reqs = append(e.Reqs, Request{Ops: []Op{
					memOp(0, MemConfigCommand, "maxmemory", strconv.Itoa(r.Intn(3000))),
					memOp(0, MemConfigCommand, "maxmemory-policy", policies[r.Intn(len(policies))]),
				}})
			case 1, 2:
				// Evictions the leader could propose, some stale.
				db, k := r.Intn(3), g.key()
				var rev uint64
				a.mu.RLock()
				if it := a.dbs[db].raw(k); it != nil {
					rev = it.rev - uint64(r.Intn(2))
				}
				a.mu.RUnlock()
				e.Reqs = append(e.Reqs, Request{Ops: []Op{memOp(db, EvictCommand, k, strconv.FormatUint(rev, 10))}})
			}
			idx := uint64(i + 1)
			ra := a.Apply(idx, e)
			dec, err := DecodeEntry(e.Encode(nil))
			if err != nil {
				t.Fatal(err)
			}
			rb := b.Apply(idx, dec)
			for j := range ra {
				if !bytes.Equal(ra[j], rb[j]) {
					t.Fatalf("seed %d iter %d entry %d: replies differ: %q vs %q", seed, iter, i, ra[j], rb[j])
				}
			}
			if got, want := a.UsedMemory(), recount(a); got != want {
				t.Fatalf("seed %d iter %d entry %d: used_memory %d, items sum to %d", seed, iter, i, got, want)
			}
			if a.UsedMemory() != b.UsedMemory() || a.EvictedKeys() != b.EvictedKeys() {
				t.Fatalf("seed %d iter %d entry %d: replicas disagree: used %d/%d evicted %d/%d", seed, iter, i,
					a.UsedMemory(), b.UsedMemory(), a.EvictedKeys(), b.EvictedKeys())
			}
		}
		sa, sb := propSnapBytes(t, a), propSnapBytes(t, b)
		if !bytes.Equal(sa, sb) {
			t.Fatalf("seed %d iter %d: snapshots differ", seed, iter)
		}
		c := New()
		if err := c.Restore(bytes.NewReader(sa)); err != nil {
			t.Fatal(err)
		}
		if c.UsedMemory() != a.UsedMemory() || c.MemConfig() != a.MemConfig() {
			t.Fatalf("seed %d iter %d: restored used %d config %+v, had %d %+v", seed, iter, c.UsedMemory(), c.MemConfig(), a.UsedMemory(), a.MemConfig())
		}
	}
}

// TestOOM: noeviction refuses denyoom commands over the limit with
// Redis's error, lets reads, deletes and non-growing writes through, and
// refuses an EXEC holding a denyoom command as a whole; scripts' denyoom
// calls are refused too.
func TestOOM(t *testing.T) {
	tf := newTFSM()
	expect(t, tf.do(0, "set", "a", strings.Repeat("x", 1000)), "+OK\r\n")
	expect(t, tf.do(0, "set", "b", "1"), "+OK\r\n")
	expect(t, tf.do(0, MemConfigCommand, "maxmemory", "1000"), "+OK\r\n")
	oom := "-" + OOMError + "\r\n"
	expect(t, tf.do(0, "set", "c", "v"), oom)
	expect(t, tf.do(0, "rpush", "l", "v"), oom)
	expect(t, tf.do(0, "get", "b"), "$1\r\n1\r\n")
	expect(t, tf.do(0, "expire", "b", "100"), ":1\r\n") // not denyoom in Redis either
	tf.index++
	e := &Entry{Now: tf.now, Reqs: []Request{{Atomic: true, Ops: []Op{memOp(0, "del", "b"), memOp(0, "set", "b", "2")}}}}
	expect(t, string(tf.f.Apply(tf.index, e)[0]), "-"+ExecAbortOOM+"\r\n")
	expect(t, tf.do(0, ScriptCommand, "return redis.pcall('set','z','1')", "0"), oom)
	expect(t, tf.do(0, "del", "a"), ":1\r\n")
	expect(t, tf.do(0, "set", "c", "v"), "+OK\r\n")
	b, _ := tf.f.MemoryUsage(0, tf.now, []byte("b"), -1)
	c, _ := tf.f.MemoryUsage(0, tf.now, []byte("c"), -1)
	if b+c != tf.f.UsedMemory() {
		t.Fatalf("MEMORY USAGE of b %d and c %d do not add up to used_memory %d", b, c, tf.f.UsedMemory())
	}
}

// TestEvictConditions: the leader's conditional delete evicts only a key
// unchanged since it looked, only one the policy allows, and only while
// used_memory is over the limit; it counts and notifies "evicted".
func TestEvictConditions(t *testing.T) {
	tf := newTFSM()
	var events []Event
	tf.f.OnEvents(func(ev []Event) { events = append(events, ev...) })
	expect(t, tf.do(0, NotifyCommand, "KEA"), "+OK\r\n")
	expect(t, tf.do(0, "set", "a", strings.Repeat("x", 500)), "+OK\r\n") // rev 2
	expect(t, tf.do(0, "set", "v", "1", "EX", "100"), "+OK\r\n")         // rev 3
	evict := func(key string, rev int) string {
		return tf.do(0, EvictCommand, key, strconv.Itoa(rev))
	}
	expect(t, evict("a", 2), ":0\r\n") // no limit
	expect(t, tf.do(0, MemConfigCommand, "maxmemory-policy", "volatile-lru"), "+OK\r\n")
	expect(t, tf.do(0, MemConfigCommand, "maxmemory", "100"), "+OK\r\n")
	expect(t, evict("a", 2), ":0\r\n") // no TTL: volatile-lru keeps it
	expect(t, evict("v", 2), ":0\r\n") // wrong revision
	expect(t, evict("v", 3), ":1\r\n")
	expect(t, tf.do(0, MemConfigCommand, "maxmemory-policy", "allkeys-lru"), "+OK\r\n")
	expect(t, evict("a", 2), ":1\r\n")
	if tf.f.EvictedKeys() != 2 || tf.f.UsedMemory() != 0 {
		t.Fatalf("evicted %d, used %d", tf.f.EvictedKeys(), tf.f.UsedMemory())
	}
	expect(t, tf.do(0, MemConfigCommand, "maxmemory", "1000"), "+OK\r\n")
	expect(t, tf.do(0, "set", "b", "1"), "+OK\r\n")
	expect(t, tf.do(0, EvictCommand, "b", strconv.Itoa(int(tf.index))), ":0\r\n") // under the limit
	var got []string
	for _, ev := range events {
		if ev.Event == "evicted" {
			got = append(got, string(ev.Key))
		}
	}
	if strings.Join(got, ",") != "v,a" {
		t.Fatalf("evicted events %v", got)
	}
}

// TestMemoryCalibration measures Go's live heap against used_memory for
// each kind of value and logs the ratio; the estimate must stay within
// 15% of the heap the data really holds.
func TestMemoryCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MB to measure the heap")
	}
	cases := []struct {
		name string
		keys int
		ops  func(i int) [][]string
	}{
		{"string-16B", 200000, func(i int) [][]string { return [][]string{{"set", "key:" + strconv.Itoa(i), strings.Repeat("v", 16)}} }},
		{"string-100B-ttl", 200000, func(i int) [][]string {
			return [][]string{{"set", "session:" + strconv.Itoa(i), strings.Repeat("v", 100), "EX", "1000"}}
		}},
		{"string-1KB", 50000, func(i int) [][]string { return [][]string{{"set", "k" + strconv.Itoa(i), strings.Repeat("v", 1000)}} }},
		{"hash-20-fields", 10000, func(i int) [][]string {
			a := []string{"hset", "h" + strconv.Itoa(i)}
			for j := range 20 {
				a = append(a, "field"+strconv.Itoa(j), "value-"+strconv.Itoa(i*j))
			}
			return [][]string{a}
		}},
		{"set-50-members", 5000, func(i int) [][]string {
			a := []string{"sadd", "s" + strconv.Itoa(i)}
			for j := range 50 {
				a = append(a, "member:"+strconv.Itoa(j))
			}
			return [][]string{a}
		}},
		{"zset-200-members", 2000, func(i int) [][]string {
			a := []string{"zadd", "z" + strconv.Itoa(i)}
			for j := range 200 {
				a = append(a, strconv.Itoa(j*7), "member:"+strconv.Itoa(j))
			}
			return [][]string{a}
		}},
		{"list-100-elements", 3000, func(i int) [][]string {
			a := []string{"rpush", "l" + strconv.Itoa(i)}
			for j := range 100 {
				a = append(a, "element-"+strconv.Itoa(j))
			}
			return [][]string{a}
		}},
	}
	for _, tc := range cases {
		f := New()
		heap := func() uint64 {
			runtime.GC()
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		for i := range tc.keys {
			var ops []Op
			for _, a := range tc.ops(i) {
				ops = append(ops, memOp(0, a...))
			}
			f.Apply(uint64(i+1), &Entry{Now: 1_000_000, Reqs: []Request{{Ops: ops}}})
		}
		grown := int64(heap()) - int64(before)
		used := f.UsedMemory()
		ratio := float64(used) / float64(grown)
		t.Logf("%-18s %7d keys: heap +%10d B, used_memory %10d B, used/heap %.3f", tc.name, tc.keys, grown, used, ratio)
		if ratio < 0.85 || ratio > 1.15 {
			t.Errorf("%s: used_memory is %.2f of the heap the data holds", tc.name, ratio)
		}
		runtime.KeepAlive(f)
	}
}

// TestScriptOOMAsRedis: from EVAL's scriptVersion 4 and FCALL's version 2,
// a script's denyoom call is refused as Redis refuses it: only when the
// limit was passed as the script started and before its first write, so
// a script that crosses the limit is not stopped halfway. Ops of the
// older versions replay as they applied: each denyoom call checked
// against the limit as it then was.
func TestScriptOOMAsRedis(t *testing.T) {
	oom := "-" + OOMError + "\r\n"
	grow := "redis.call('set', KEYS[1], string.rep('x', 2000)); return redis.pcall('set', KEYS[2], 'v')"
	fn := "#!lua name=grower\nredis.register_function('grow', function(keys) redis.call('set', keys[1], string.rep('x', 2000)); return redis.pcall('set', keys[2], 'v') end)"
	for _, c := range []struct {
		name    string
		version int // 0: as this build stamps it
		args    []string
		want    string
	}{
		{"EVAL", 0, []string{ScriptCommand, grow, "2", "k1", "k2"}, "+OK\r\n"},
		{"EVAL version 3", 3, []string{ScriptCommand, grow, "2", "k1", "k2"}, oom},
		{"FCALL", 0, []string{FcallCommand, "grow", "2", "k1", "k2"}, "+OK\r\n"},
		{"FCALL version 1", 1, []string{FcallCommand, "grow", "2", "k1", "k2"}, oom},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := New()
			var index uint64
			apply := func(version int, args ...string) string {
				index++
				req := Request{Ops: []Op{{Args: propArgs(args...)}}}
				if err := Stamp(&req); err != nil {
					t.Fatalf("%q: %v", args, err)
				}
				if version != 0 {
					req.Ops[0].Version = version
				}
				return string(f.Apply(index, &Entry{Now: 1_000_000, Reqs: []Request{req}})[0])
			}
			expect(t, apply(0, FunctionLoadCommand, "0", fn), "$6\r\ngrower\r\n")
			expect(t, apply(0, "SET", "a", "x"), "+OK\r\n")
			expect(t, apply(0, MemConfigCommand, "maxmemory", strconv.FormatInt(f.UsedMemory()+500, 10)), "+OK\r\n")
			expect(t, apply(c.version, c.args...), c.want)
			// Over the limit now: a script's first denyoom call is
			// refused; after a write (DEL) it goes on.
			expect(t, apply(c.version, ScriptCommand, "return redis.pcall('set','z','1')", "0"), oom)
			if c.version == 0 {
				expect(t, apply(0, ScriptCommand, "redis.call('del','a'); return redis.call('set','z','1')", "0"), "+OK\r\n")
			}
		})
	}
}
