package fsm

import (
	"bytes"
	"runtime"
	"strconv"
	"testing"
)

// A sorted set survives a snapshot and restore: members, scores (-0, inf
// and a long member that makes it "big" included), its encoding, and the
// digest; a write after the snapshot does not show in it.
func TestZsetSnapshotRestore(t *testing.T) {
	f := New()
	idx := uint64(0)
	apply := func(args ...string) string {
		idx++
		return applyOne(f, idx, 0, args...)
	}
	apply("ZADD", "small", "1.5", "a", "inf", "b", "-inf", "c")
	args := []string{"ZADD", "big"}
	for i := range 300 {
		args = append(args, strconv.Itoa(i%7)+".25", "m"+strconv.Itoa(i))
	}
	apply(args...)
	apply("ZADD", "big", "-0", "negzero")
	snap := f.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	apply("ZADD", "small", "9", "later")
	g := New()
	if err := g.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	for _, q := range [][]string{
		{"ZRANGE", "small", "0", "-1", "WITHSCORES"},
		{"ZRANGE", "big", "0", "-1", "WITHSCORES"},
		{"ZSCAN", "big", "0", "COUNT", "1000"},
		{"ZSCORE", "big", "negzero"},
	} {
		got := string(g.Read(0, 1_000_000, 0, propArgs(q...), nil))
		if q[1] == "small" {
			if want := "*6\r\n$1\r\nc\r\n$4\r\n-inf\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$3\r\ninf\r\n"; got != want {
				t.Fatalf("%q after restore: %q, want %q", q, got, want)
			}
			continue
		}
		if want := string(f.Read(0, 1_000_000, 0, propArgs(q...), nil)); got != want {
			t.Fatalf("%q after restore: %q, want %q", q, got, want)
		}
	}
	if got := string(g.Read(0, 1_000_000, 0, propArgs("ZSCORE", "big", "negzero"), nil)); got != "$2\r\n-0\r\n" {
		t.Fatalf("a big set keeps -0: %q", got)
	}
}

// ZSCAN over a set too big for a listpack walks it in several calls; a
// member there from the first call to the last comes back at least once,
// though members are added and removed between calls.
func TestZscanCursor(t *testing.T) {
	f := New()
	idx := uint64(0)
	apply := func(args ...string) {
		idx++
		applyOne(f, idx, 0, args...)
	}
	args := []string{"ZADD", "z"}
	for i := range 1000 {
		args = append(args, strconv.Itoa(i), "m"+strconv.Itoa(i))
	}
	apply(args...)
	seen := map[string]bool{}
	cursor, calls := "0", 0
	for {
		r := string(f.Read(0, 1_000_000, 0, propArgs("ZSCAN", "z", cursor, "COUNT", "50"), nil))
		calls++
		parts := bytes.Split([]byte(r), []byte("\r\n"))
		cursor = string(parts[2])
		for i := 5; i < len(parts); i += 4 {
			seen[string(parts[i])] = true
		}
		apply("ZADD", "z", "5", "new"+strconv.Itoa(calls))
		apply("ZREM", "z", "m"+strconv.Itoa(999-calls)) // removed: may or may not come back
		if cursor == "0" || calls > 1000 {
			break
		}
	}
	if calls < 10 {
		t.Fatalf("ZSCAN of 1000 members with COUNT 50 took %d calls", calls)
	}
	for i := range 999 - calls {
		if !seen["m"+strconv.Itoa(i)] {
			t.Fatalf("m%d was there throughout and never returned (%d calls)", i, calls)
		}
	}
}

// A sorted set's memory per element, counted by the Go heap, members of
// 14 bytes (redis-server 7.0 answers MEMORY USAGE for the same set; see
// README). Run with -benchtime=1x.
func BenchmarkZsetMemory(b *testing.B) {
	for _, n := range []int{1000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				f := New()
				var ms0, ms1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				for i := 0; i < n; i += 1000 {
					args := []string{"ZADD", "z"}
					for j := i; j < i+1000; j++ {
						args = append(args, strconv.Itoa(j*7%100003), "element-"+strconv.Itoa(j%100000+100000))
					}
					applyOne(f, uint64(i/1000+1), 0, args...)
				}
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/float64(n), "heapB/elem")
				runtime.KeepAlive(f)
			}
		})
	}
}
