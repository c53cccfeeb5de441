package fsm

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// TestGrowableStringsNeverChange: APPEND, SETRANGE past the end and
// within, COPY, EXPIRE and a script that fails after extending, in a
// random order on two long values, against plain strings. Every version
// of a value taken along the way (a held item's string, a snapshot
// written out while later writes apply) keeps its bytes.
func TestGrowableStringsNeverChange(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			tf := newTFSM()
			model := map[string]string{"a": "", "b": ""}
			type held struct {
				s, want string
			}
			var holds []held
			var wg sync.WaitGroup
			type snap struct {
				buf   bytes.Buffer
				model map[string]string
			}
			var snaps []*snap
			randBytes := func(n int) string {
				b := make([]byte, n)
				for i := range b {
					b[i] = byte('a' + rng.IntN(26))
				}
				return string(b)
			}
			expect(t, tf.do(0, "SET", "a", randBytes(3000)), "+OK\r\n")
			model["a"] = tf.read(0, 0, "GET", "a")[7:3007]
			for i := 0; i < 3000; i++ {
				key := []string{"a", "b"}[rng.IntN(2)]
				cur := model[key]
				switch op := rng.IntN(10); {
				case op < 4:
					v := randBytes(1 + rng.IntN(300))
					expect(t, tf.do(0, "APPEND", key, v), ":"+strconv.Itoa(len(cur)+len(v))+"\r\n")
					model[key] = cur + v
				case op < 6:
					pad := rng.IntN(50)
					v := randBytes(1 + rng.IntN(100))
					expect(t, tf.do(0, "SETRANGE", key, strconv.Itoa(len(cur)+pad), v), ":"+strconv.Itoa(len(cur)+pad+len(v))+"\r\n")
					model[key] = cur + strings.Repeat("\x00", pad) + v
				case op == 6 && len(cur) > 10:
					off := rng.IntN(len(cur) - 5)
					tf.do(0, "SETRANGE", key, strconv.Itoa(off), "XYZ")
					model[key] = cur[:off] + "XYZ" + cur[off+3:]
				case op == 7:
					other := map[string]string{"a": "b", "b": "a"}[key]
					tf.do(0, "COPY", key, other, "REPLACE")
					model[other] = cur
				case op == 8:
					tf.do(0, "EXPIRE", key, "100000")
				default:
					// A script that extends, then fails: its writes are
					// taken back, and the value it grew from is the key's
					// again.
					tf.do(0, ScriptCommand, "redis.call('append', KEYS[1], 'zz'); error('no')", "1", key)
				}
				if it := tf.f.dbs[0].raw(key); it != nil && rng.IntN(5) == 0 {
					holds = append(holds, held{it.str, strings.Clone(model[key])})
				}
				if rng.IntN(300) == 0 {
					s := &snap{model: map[string]string{"a": model["a"], "b": model["b"]}}
					sn := tf.f.Snapshot()
					snaps = append(snaps, s)
					wg.Add(1)
					go func() { // written while later writes apply
						defer wg.Done()
						if _, err := sn.WriteTo(&s.buf); err != nil {
							t.Error(err)
						}
					}()
				}
			}
			wg.Wait()
			for k, want := range model {
				got := tf.read(0, 0, "GET", k)
				if want == "" {
					continue
				}
				if got != "$"+strconv.Itoa(len(want))+"\r\n"+want+"\r\n" {
					t.Fatalf("GET %s: %d bytes, want %d", k, len(got), len(want))
				}
			}
			for i, h := range holds {
				if h.s != h.want {
					t.Fatalf("held version %d changed", i)
				}
			}
			for i, s := range snaps {
				g := New()
				if err := g.Restore(&s.buf); err != nil {
					t.Fatal(err)
				}
				for k, want := range s.model {
					if it := g.dbs[0].raw(k); want != "" && (it == nil || it.str != want) {
						t.Fatalf("snapshot %d: %s differs from the value when it was taken", i, k)
					}
				}
			}
		})
	}
}

// A one-byte APPEND to a long value copies it only when the buffer is
// full: 20 of them to 64 MiB allocate far less than one copy each.
func TestAppendDoesNotCopyLongValues(t *testing.T) {
	tf := newTFSM()
	const size = 64 << 20
	expect(t, tf.do(0, "SETRANGE", "big", strconv.Itoa(size-1), "x"), ":"+strconv.Itoa(size)+"\r\n")
	tf.do(0, "APPEND", "big", "y") // the one copy into a growable buffer
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 20; i++ {
		tf.do(0, "APPEND", "big", "y")
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > size/4 {
		t.Fatalf("20 one-byte APPENDs to a %d MiB value allocated %d MiB", size>>20, got>>20)
	}
	expect(t, tf.read(0, 0, "STRLEN", "big"), ":"+strconv.Itoa(size+21)+"\r\n")
	expect(t, tf.read(0, 0, "GETRANGE", "big", "-22", "-1"), "$22\r\nx"+strings.Repeat("y", 21)+"\r\n")
}

// Extending a version shorter than its buffer's tip (one another version
// grew from) copies: the longer version keeps its bytes.
func TestExtendOlderVersionCopies(t *testing.T) {
	base := strings.Repeat("v", growMin)
	s0, grown := extendString(&item{kind: KindString, str: base}, 0, []byte("0"))
	if !grown {
		t.Fatal("a long value was not given room")
	}
	v0 := &item{kind: KindString, str: s0, grown: true}
	s1, _ := extendString(v0, 0, []byte("x")) // in place: v0 is the tip
	if unsafeData(s1) != unsafeData(s0) {
		t.Fatal("extending the longest version copied it")
	}
	s2, _ := extendString(v0, 2, []byte("y")) // v0 again: behind the tip now
	if unsafeData(s2) == unsafeData(s0) {
		t.Fatal("extending an older version wrote into the buffer")
	}
	if s1 != base+"0x" || s2 != base+"0\x00\x00y" || s0 != base+"0" {
		t.Fatalf("versions changed: %q %q %q", s0[growMin:], s1[growMin:], s2[growMin:])
	}
}

func unsafeData(s string) *byte { return unsafe.StringData(s) }
