package fsm

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// checkList verifies the tree's invariants and that it holds want.
func checkList(t *testing.T, l *list, want []string) {
	t.Helper()
	if l.len() != len(want) {
		t.Fatalf("len %d, want %d", l.len(), len(want))
	}
	if l.root == nil {
		if len(want) != 0 {
			t.Fatal("no root")
		}
		return
	}
	depth := -1
	var walk func(n *lnode, d int) int
	walk = func(n *lnode, d int) int {
		if n.leaf() {
			if depth == -1 {
				depth = d
			} else if depth != d {
				t.Fatalf("leaves at depths %d and %d", depth, d)
			}
			if len(n.elems) > listLeafMax {
				t.Fatalf("leaf of %d", len(n.elems))
			}
			return len(n.elems)
		}
		if len(n.kids) != len(n.sizes) || len(n.kids) > listNodeMax {
			t.Fatalf("inner node of %d kids, %d sizes", len(n.kids), len(n.sizes))
		}
		total := 0
		for k, kid := range n.kids {
			c := walk(kid, d+1)
			if c != n.sizes[k] {
				t.Fatalf("size %d recorded, %d under it", n.sizes[k], c)
			}
			total += c
		}
		return total
	}
	if c := walk(l.root, 0); c != len(want) {
		t.Fatalf("%d elements under the root, want %d", c, len(want))
	}
	if got := l.slice(0, l.len()); !slices.Equal(got, want) {
		t.Fatalf("scan: %q, want %q", got, want)
	}
	var back []string
	l.rscan(l.len()-1, func(_ int, v string) bool { back = append(back, v); return true })
	slices.Reverse(back)
	if !slices.Equal(back, want) {
		t.Fatalf("rscan: %q, want %q", back, want)
	}
	for i := range want {
		if l.at(i) != want[i] {
			t.Fatalf("at(%d) = %q, want %q", i, l.at(i), want[i])
		}
	}
}

// Random edits of a list against a plain slice; every list an edit
// started from is checked again afterwards: writes never change a list
// already made (snapshots rely on it).
func TestListRandomEdits(t *testing.T) {
	seed := testcluster.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	type version struct {
		l    *list
		want []string
	}
	var kept []version
	l, model := newList(nil), []string(nil)
	next := 0
	elem := func() string { next++; return strconv.Itoa(next) }
	maxLen := 0
	for step := range 3000 {
		grow := 75 // phases of growth and of shrinking
		if step/300%2 == 1 {
			grow = 30
		}
		w := l.writer()
		for range 1 + rng.IntN(200) {
			switch op := rng.IntN(100); {
			case op < grow || len(model) == 0:
				i := rng.IntN(len(model) + 1)
				switch rng.IntN(3) {
				case 0:
					i = 0
				case 1:
					i = len(model)
				}
				v := elem()
				w.insert(i, v)
				model = slices.Insert(model, i, v)
			case op < 90:
				i := rng.IntN(len(model))
				switch rng.IntN(3) {
				case 0:
					i = 0
				case 1:
					i = len(model) - 1
				}
				if got := w.remove(i); got != model[i] {
					t.Fatalf("step %d: remove(%d) = %q, want %q", step, i, got, model[i])
				}
				model = slices.Delete(model, i, i+1)
			case op < 99:
				i := rng.IntN(len(model))
				v := elem()
				w.set(i, v)
				model[i] = v
			default:
				i := rng.IntN(len(model) + 1)
				j := i + rng.IntN(min(len(model)-i, 80)+1)
				if rng.IntN(20) == 0 {
					j = i + rng.IntN(len(model)-i+1)
				}
				w.removeRange(i, j)
				model = slices.Delete(model, i, j)
			}
			if w.len() != len(model) {
				t.Fatalf("step %d: len %d, want %d", step, w.len(), len(model))
			}
		}
		l = w.done()
		maxLen = max(maxLen, len(model))
		checkList(t, l, model)
		if step%50 == 0 {
			kept = append(kept, version{l, slices.Clone(model)})
		}
	}
	for _, v := range kept {
		checkList(t, v.l, v.want)
	}
	t.Logf("3000 edit sessions, lists of up to %d elements", maxLen)
}

func TestListBuild(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 64 * 32, 64*32 + 1, 100_000} {
		elems := make([]string, n)
		for i := range elems {
			elems[i] = strconv.Itoa(i)
		}
		checkList(t, newList(slices.Clone(elems)), elems)
	}
}

// A push onto a long list copies a path, not the list.
func BenchmarkListPush(b *testing.B) {
	elems := make([]string, 100_000)
	for i := range elems {
		elems[i] = strconv.Itoa(i)
	}
	l := newList(elems)
	b.ReportAllocs()
	for b.Loop() {
		w := l.writer()
		w.insert(0, "x")
		l = w.done()
	}
}
