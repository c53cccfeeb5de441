package fsm

import (
	"bytes"
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Random hash writes that cross the packing limits both ways (more than
// packMaxEntries fields, more than packMaxBytes of them, then back under)
// answer as a plain map would, and after every write a hash is packed
// exactly when its contents fit: the form follows the contents, not the
// history, so a replica restored from a snapshot holds the same form and
// counts the same used_memory.
func TestPackedHashFollowsContents(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	tf := newTFSM()
	model := map[string]string{}
	field := func() string { return "f" + strconv.Itoa(r.Intn(packMaxEntries+40)) }
	value := func() string {
		if r.Intn(8) == 0 {
			return strings.Repeat("v", r.Intn(600)) // a few large values cross packMaxBytes
		}
		return strconv.Itoa(r.Intn(1000))
	}
	packedSeen, treeSeen := false, false
	for i := range propIters(4000) {
		// Grow for a while, then shrink, twice, so both crossings happen.
		grow := (i/1000)%2 == 0
		switch op := r.Intn(10); {
		case op < 5 && grow, op < 2:
			args := []string{"HSET", "h"}
			for range 1 + r.Intn(4) {
				f, v := field(), value()
				args = append(args, f, v)
			}
			added := map[string]bool{}
			for j := 2; j < len(args); j += 2 {
				if _, ok := model[args[j]]; !ok {
					added[args[j]] = true
				}
				model[args[j]] = args[j+1]
			}
			expect(t, tf.do(0, args...), ":"+strconv.Itoa(len(added))+"\r\n")
		case op < 8:
			f := field()
			_, had := model[f]
			delete(model, f)
			want := ":0\r\n"
			if had {
				want = ":1\r\n"
			}
			expect(t, tf.do(0, "HDEL", "h", f), want)
		default:
			f := field()
			if v, ok := model[f]; ok {
				expect(t, tf.do(0, "HGET", "h", f), "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n")
			} else {
				expect(t, tf.do(0, "HGET", "h", f), "$-1\r\n")
			}
		}
		it := tf.f.dbs[0].raw("h")
		if len(model) == 0 {
			if it != nil {
				t.Fatalf("seed %d op %d: an empty hash is still there", seed, i)
			}
			continue
		}
		var elems []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range model {
				if !yield(k) {
					return
				}
			}
		}) {
			elems = append(elems, k, model[k])
		}
		fits := fitsPacked(len(model), packedSize(elems, 2))
		if packed := it.hash == nil; packed != fits {
			t.Fatalf("seed %d op %d: %d fields, %d packed bytes: packed=%v", seed, i, len(model), packedSize(elems, 2), packed)
		}
		if fits && len(it.str) != packedSize(elems, 2) {
			t.Fatalf("seed %d op %d: packed in %d bytes, packedSize says %d", seed, i, len(it.str), packedSize(elems, 2))
		}
		packedSeen = packedSeen || fits
		treeSeen = treeSeen || !fits
		if i%50 == 0 {
			var got []string
			it.hashScan(func(k, v string) bool {
				got = append(got, k, v)
				return true
			})
			if !slices.Equal(got, elems) {
				t.Fatalf("seed %d op %d: fields %q, want %q", seed, i, got, elems)
			}
			for j := 0; j < len(elems); j += 7 {
				if k, v := it.hashAt(j / 2); k != elems[j/2*2] || v != elems[j/2*2+1] {
					t.Fatalf("seed %d op %d: hashAt(%d) = %q %q", seed, i, j/2, k, v)
				}
			}
			c := New()
			if err := c.Restore(bytes.NewReader(propSnapBytes(t, tf.f))); err != nil {
				t.Fatal(err)
			}
			if ci := c.dbs[0].raw("h"); (ci.hash == nil) != (it.hash == nil) || c.UsedMemory() != tf.f.UsedMemory() {
				t.Fatalf("seed %d op %d: restored packed=%v used %d, had packed=%v used %d", seed, i,
					ci.hash == nil, c.UsedMemory(), it.hash == nil, tf.f.UsedMemory())
			}
		}
	}
	if !packedSeen || !treeSeen {
		t.Fatalf("seed %d: the walk never crossed the limits (packed %v, tree %v)", seed, packedSeen, treeSeen)
	}
}

// The same for sets: SADD, SREM, SPOP and SMOVE across the limits, the
// members as a plain map holds them, packed exactly when they fit.
func TestPackedSetFollowsContents(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	tf := newTFSM()
	model := map[string]bool{}
	member := func() string {
		m := "m" + strconv.Itoa(r.Intn(packMaxEntries+40))
		if r.Intn(10) == 0 { // long members cross packMaxBytes
			m += strings.Repeat("x", 300+len(m))
		}
		return m
	}
	packedSeen, treeSeen := false, false
	for i := range propIters(4000) {
		grow := (i/1000)%2 == 0
		switch op := r.Intn(10); {
		case op < 5 && grow, op < 2:
			args := []string{"SADD", "s"}
			added := map[string]bool{}
			for range 1 + r.Intn(4) {
				m := member()
				args = append(args, m)
				if !model[m] {
					added[m] = true
				}
				model[m] = true
			}
			expect(t, tf.do(0, args...), ":"+strconv.Itoa(len(added))+"\r\n")
		case op < 7:
			m := member()
			want := ":0\r\n"
			if model[m] {
				want = ":1\r\n"
			}
			delete(model, m)
			expect(t, tf.do(0, "SREM", "s", m), want)
		case op < 8:
			m := member()
			want := ":0\r\n"
			if model[m] {
				want = ":1\r\n"
			}
			delete(model, m)
			expect(t, tf.do(0, "SMOVE", "s", "other", m), want)
		default:
			if len(model) > 0 {
				reply := tf.do(0, "SPOP", "s")
				var l int
				var m string
				if _, err := fmt.Sscanf(reply, "$%d\r\n", &l); err != nil {
					t.Fatalf("SPOP: %q", reply)
				}
				m = reply[len(reply)-2-l : len(reply)-2]
				if !model[m] {
					t.Fatalf("seed %d op %d: SPOP gave %q, not a member", seed, i, m)
				}
				delete(model, m)
			}
		}
		it := tf.f.dbs[0].raw("s")
		if len(model) == 0 {
			if it != nil {
				t.Fatalf("seed %d op %d: an empty set is still there", seed, i)
			}
			continue
		}
		var elems []string
		for m := range model {
			elems = append(elems, m)
		}
		slices.Sort(elems)
		fits := fitsPacked(len(elems), packedSize(elems, 1))
		if packed := it.set == nil; packed != fits {
			t.Fatalf("seed %d op %d: %d members, %d packed bytes: packed=%v", seed, i, len(elems), packedSize(elems, 1), packed)
		}
		packedSeen = packedSeen || fits
		treeSeen = treeSeen || !fits
		if i%50 == 0 {
			var got []string
			it.members().Scan(func(m string) bool {
				got = append(got, m)
				return true
			})
			if !slices.Equal(got, elems) {
				t.Fatalf("seed %d op %d: members %q, want %q", seed, i, got, elems)
			}
			c := New()
			if err := c.Restore(bytes.NewReader(propSnapBytes(t, tf.f))); err != nil {
				t.Fatal(err)
			}
			if ci := c.dbs[0].raw("s"); (ci.set == nil) != (it.set == nil) || c.UsedMemory() != tf.f.UsedMemory() {
				t.Fatalf("seed %d op %d: restored packed=%v used %d, had packed=%v used %d", seed, i,
					ci.set == nil, c.UsedMemory(), it.set == nil, tf.f.UsedMemory())
			}
		}
	}
	if !packedSeen || !treeSeen {
		t.Fatalf("seed %d: the walk never crossed the limits (packed %v, tree %v)", seed, packedSeen, treeSeen)
	}
	if o := tf.f.dbs[0].raw("other"); o != nil && (o.set == nil) != fitsPacked(o.members().Len(), packedSize(unpackAll(o.members()), 1)) {
		t.Fatalf("seed %d: SMOVE's destination is not in the form its contents call for", seed)
	}
}

// Many members or fields in one command go through a tree, and come back
// packed if repeats leave few enough.
func TestPackedManyAtOnce(t *testing.T) {
	tf := newTFSM()
	sadd, hset := []string{"SADD", "s"}, []string{"HSET", "h"}
	for i := range 2 * packMaxEntries {
		m := strconv.Itoa(i % 100) // 100 distinct, each twice
		sadd = append(sadd, m)
		hset = append(hset, m, "v"+strconv.Itoa(i))
	}
	expect(t, tf.do(0, sadd...), ":100\r\n")
	expect(t, tf.do(0, hset...), ":100\r\n")
	if tf.f.dbs[0].raw("s").set != nil || tf.f.dbs[0].raw("h").hash != nil {
		t.Fatal("100 members or fields are not packed")
	}
	// A later value wins, as Redis's HSET has it.
	expect(t, tf.do(0, "HGET", "h", "7"), "$4\r\nv207\r\n")
	for i := range packMaxEntries {
		sadd[2+i] = "n" + strconv.Itoa(i)
	}
	expect(t, tf.do(0, sadd[:2+packMaxEntries]...), ":128\r\n")
	if s := tf.f.dbs[0].raw("s"); s.set == nil || s.set.Len() != 100+packMaxEntries {
		t.Fatalf("a set of %d members is not a tree", 100+packMaxEntries)
	}
	expect(t, tf.do(0, "SISMEMBER", "s", "99"), ":1\r\n")
	expect(t, tf.do(0, "SISMEMBER", "s", "n127"), ":1\r\n")
}

func unpackAll(s setReader) []string {
	var out []string
	s.Scan(func(m string) bool {
		out = append(out, m)
		return true
	})
	return out
}

// BenchmarkSessionMemory loads sessions as a web tier writes them (HSET
// of four fields, about 256 bytes of data, then PEXPIREAT) and reports
// the Go heap and used_memory per session. redis-server 7.0 holds the
// same sessions in 609 B of used_memory each (README). Run with
// -benchtime=1x.
func BenchmarkSessionMemory(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				f := New()
				heap := func() uint64 {
					var ms runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&ms)
					return ms.HeapAlloc
				}
				before := heap()
				for i := 0; i < n; i += 100 {
					var ops []Op
					for j := i; j < i+100; j++ {
						a := sessionArgs(j)
						ops = append(ops, memOp(0, a[0]...), memOp(0, a[1]...))
					}
					f.Apply(uint64(i/100+1), &Entry{Now: 1_000_000, Reqs: []Request{{Ops: ops}}})
				}
				b.ReportMetric(float64(heap()-before)/float64(n), "heapB/session")
				b.ReportMetric(float64(f.UsedMemory())/float64(n), "usedB/session")
				runtime.KeepAlive(f)
			}
		})
	}
}

// sessionArgs is session i's HSET and PEXPIREAT: a 24-byte key and four
// fields of 256 bytes in all.
func sessionArgs(i int) [2][]string {
	key := fmt.Sprintf("session:%016x", uint64(i)*0x9e3779b97f4a7c15)
	return [2][]string{
		{"HSET", key,
			"user_id", strconv.Itoa(100000 + i),
			"csrf_token", fmt.Sprintf("%032x", uint64(i)*0xbf58476d1ce4e5b9),
			"cart", fmt.Sprintf(`{"items":[{"sku":"A-%04d","qty":2}],"note":"%s"}`, i%10000, strings.Repeat("x", 132)),
			"last_seen", strconv.Itoa(1733011200 + i)},
		{"PEXPIREAT", key, strconv.Itoa(1_000_000 + 1800_000)},
	}
}
