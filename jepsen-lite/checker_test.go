package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Hand-written histories: each checker finds what it claims, and nothing
// in a clean history. Times are in milliseconds for readability.

func mk(f, key, typ string, p int, inv, comp int64, v *int64) Op {
	return Op{Process: p, F: f, Key: key, Type: typ, Value: v, Invoke: inv * 1e6, Complete: comp * 1e6}
}

func kinds(r CheckResult) string {
	var s []string
	for _, a := range r.Anomalies {
		s = append(s, a.Kind)
	}
	return strings.Join(s, ",")
}

func TestRegisterLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want string // anomaly kinds
	}{
		{"empty read", []Op{mk("read", "k", OK, 1, 0, 1, nil)}, ""},
		{"sequential", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 11, 12, i64(1)),
			mk("write", "k", OK, 1, 13, 20, i64(2)),
			mk("read", "k", OK, 2, 21, 22, i64(2)),
		}, ""},
		{"stale read", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mk("write", "k", OK, 1, 11, 20, i64(2)),
			mk("read", "k", OK, 2, 21, 22, i64(1)),
		}, KindNonLinearizable},
		{"read of an acknowledged write lost", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 21, 22, nil),
		}, KindNonLinearizable},
		{"concurrent read may see either", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mk("write", "k", OK, 1, 11, 20, i64(2)),
			mk("read", "k", OK, 2, 15, 25, i64(1)),
		}, ""},
		{"failed write never visible", []Op{
			mk("write", "k", Fail, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 21, 22, i64(1)),
		}, KindNonLinearizable},
		{"unknown write may land late", []Op{
			mk("write", "k", Info, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 11, 12, nil),
			mk("read", "k", OK, 2, 100, 101, i64(1)),
		}, ""},
		{"unknown write may never land", []Op{
			mk("write", "k", Info, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 100, 101, nil),
		}, ""},
		{"unknown write cannot flicker", []Op{
			mk("write", "k", Info, 1, 0, 10, i64(1)),
			mk("read", "k", OK, 2, 11, 12, i64(1)),
			mk("read", "k", OK, 2, 100, 101, nil),
		}, KindNonLinearizable},
		{"other key is independent", []Op{
			mk("write", "a", OK, 1, 0, 10, i64(1)),
			mk("read", "b", OK, 2, 21, 22, nil),
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkLinearizable(CheckInput{Workload: "register", Ops: tc.ops, Timeout: 5 * time.Second})
			if got := kinds(r); got != tc.want {
				t.Fatalf("anomalies %q, want %q: %v", got, tc.want, r.Anomalies)
			}
			if len(r.Inconclusive) > 0 {
				t.Fatalf("inconclusive: %v", r.Inconclusive)
			}
		})
	}
}

func cas(typ string, p int, inv, comp int64, from, to int64) Op {
	op := mk("cas", "k", typ, p, inv, comp, i64(to))
	op.Expect = i64(from)
	return op
}

func mismatch(p int, inv, comp int64, from, to int64, saw *int64) Op {
	op := cas(Fail, p, inv, comp, from, to)
	op.Error, op.Observed = "mismatch", saw
	return op
}

func TestCasLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"swap", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			cas(OK, 2, 11, 20, 1, 2),
			mk("read", "k", OK, 3, 21, 22, i64(2)),
		}, ""},
		{"swap from a value never there", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			cas(OK, 2, 11, 20, 5, 2),
		}, KindNonLinearizable},
		{"two swaps from the same value", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			cas(OK, 2, 11, 20, 1, 2),
			cas(OK, 3, 11, 20, 1, 3),
		}, KindNonLinearizable},
		{"mismatch is a read", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mismatch(2, 11, 20, 7, 8, i64(1)),
		}, ""},
		{"mismatch saw a stale value", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			mk("write", "k", OK, 1, 11, 20, i64(2)),
			mismatch(2, 21, 30, 7, 8, i64(1)),
		}, KindNonLinearizable},
		{"unknown cas", []Op{
			mk("write", "k", OK, 1, 0, 10, i64(1)),
			cas(Info, 2, 11, 20, 1, 2),
			mk("read", "k", OK, 3, 30, 31, i64(1)),
			mk("read", "k", OK, 3, 32, 33, i64(2)),
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkLinearizable(CheckInput{Workload: "cas", Ops: tc.ops, Timeout: 5 * time.Second})
			if got := kinds(r); got != tc.want {
				t.Fatalf("anomalies %q, want %q: %v", got, tc.want, r.Anomalies)
			}
		})
	}
}

func TestLinearizableVisualisation(t *testing.T) {
	dir := t.TempDir()
	ops := []Op{
		mk("write", "reg:1", OK, 1, 0, 10, i64(1)),
		mk("write", "reg:1", OK, 1, 11, 20, i64(2)),
		mk("read", "reg:1", OK, 2, 21, 22, i64(1)),
	}
	r := checkLinearizable(CheckInput{Workload: "register", Ops: ops, OutDir: dir, Timeout: 5 * time.Second})
	if len(r.Anomalies) != 1 || r.Anomalies[0].File == "" {
		t.Fatalf("want one anomaly with a visualisation: %v", r.Anomalies)
	}
	if !strings.Contains(r.Anomalies[0].Detail, "had replaced it before the read began") {
		t.Errorf("no witness in %q", r.Anomalies[0].Detail)
	}
	if r.Anomalies[0].File != filepath.Join(dir, "register-reg_1.html") {
		t.Errorf("file %s", r.Anomalies[0].File)
	}
	b, err := os.ReadFile(r.Anomalies[0].File)
	if err != nil || !strings.Contains(string(b), "<html") {
		t.Fatalf("visualisation: %v, %d bytes", err, len(b))
	}
}

func final(key, node string, v int64) Op {
	op := mk("final-read", key, OK, 9, 1000, 1001, i64(v))
	op.Node = node
	return op
}

func TestCounter(t *testing.T) {
	incr := func(typ string, inv, comp int64, v *int64) Op { return mk("incr", "c", typ, 1, inv, comp, v) }
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"clean", []Op{
			incr(OK, 0, 10, i64(1)), incr(OK, 11, 20, i64(2)), incr(Info, 21, 30, nil), incr(Fail, 31, 40, nil),
			mk("read", "c", OK, 2, 41, 42, i64(3)),
			final("c", "n1", 3), final("c", "n2", 3),
		}, ""},
		{"unknown may not land", []Op{
			incr(OK, 0, 10, i64(1)), incr(Info, 21, 30, nil),
			final("c", "n1", 1),
		}, ""},
		{"lost increment", []Op{
			incr(OK, 0, 10, i64(1)), incr(OK, 11, 20, i64(2)), incr(OK, 21, 30, i64(3)),
			final("c", "n1", 2),
		}, KindLostIncrement},
		{"too many", []Op{
			incr(OK, 0, 10, i64(1)), incr(Fail, 11, 20, nil),
			final("c", "n1", 2),
		}, KindPhantom},
		{"stale read", []Op{
			incr(OK, 0, 10, i64(1)), incr(OK, 11, 20, i64(2)),
			mk("read", "c", OK, 2, 21, 22, i64(1)),
			final("c", "n1", 2),
		}, KindStaleRead},
		{"duplicate count", []Op{
			incr(OK, 0, 10, i64(1)), incr(OK, 5, 20, i64(1)),
			final("c", "n1", 2),
		}, KindDuplicateIncr},
		{"nodes disagree", []Op{
			incr(OK, 0, 10, i64(1)), incr(Info, 11, 20, nil),
			final("c", "n1", 1), final("c", "n2", 2),
		}, KindDivergence},
		{"ack without a count", []Op{
			incr(OK, 0, 10, nil), incr(OK, 11, 20, nil),
			final("c", "n1", 1),
		}, KindBadReply + "," + KindLostIncrement},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkCounter(CheckInput{Workload: "counter", Ops: tc.ops})
			if got := kinds(r); got != tc.want {
				t.Fatalf("anomalies %q, want %q: %v", got, tc.want, r.Anomalies)
			}
		})
	}
	r := checkCounter(CheckInput{Workload: "counter", Ops: []Op{incr(OK, 0, 10, i64(1))}})
	if len(r.Inconclusive) != 1 {
		t.Errorf("no final read must be inconclusive: %+v", r)
	}
}

func TestSet(t *testing.T) {
	add := func(typ string, v int64) Op { return mk("add", "s", typ, 1, v*10, v*10+5, i64(v)) }
	fr := func(node string, es ...int64) Op {
		op := mk("final-read", "s", OK, 9, 1000, 1001, nil)
		op.Node, op.Elements = node, es
		return op
	}
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"clean", []Op{add(OK, 1), add(OK, 2), add(Info, 3), add(Info, 4), add(Fail, 5), fr("n1", 1, 2, 3), fr("n2", 1, 2, 3)}, ""},
		{"lost", []Op{add(OK, 1), add(OK, 2), fr("n1", 1)}, KindLostWrite},
		{"phantom", []Op{add(OK, 1), fr("n1", 1, 99)}, KindPhantom},
		{"failed but there", []Op{add(OK, 1), add(Fail, 2), fr("n1", 1, 2)}, KindFailApplied},
		{"diverged", []Op{add(OK, 1), add(Info, 2), fr("n1", 1), fr("n2", 1, 2)}, KindDivergence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkSet(CheckInput{Workload: "set", Ops: tc.ops})
			if got := kinds(r); got != tc.want {
				t.Fatalf("anomalies %q, want %q: %v", got, tc.want, r.Anomalies)
			}
		})
	}
}

func TestSession(t *testing.T) {
	write := func(typ string, inv, comp, ttl int64) Op {
		op := mk("write", "s", typ, 1, inv, comp, i64(7))
		op.TTL = ttl
		return op
	}
	seen := func(inv, comp int64) Op { return mk("read", "s", OK, 2, inv, comp, i64(7)) }
	gone := func(inv, comp int64) Op { return mk("read", "s", OK, 2, inv, comp, nil) }
	for _, tc := range []struct {
		name string
		skew time.Duration
		ops  []Op
		want string
	}{
		{"clean", 0, []Op{gone(0, 5), write(OK, 10, 20, 100), seen(15, 25), seen(50, 60), seen(105, 115), gone(125, 130), gone(200, 210)}, ""},
		{"before written", 0, []Op{seen(0, 5), write(OK, 10, 20, 100)}, KindReadBeforeWrite},
		{"phantom value", 0, []Op{write(OK, 10, 20, 100), mk("read", "s", OK, 2, 30, 31, i64(8))}, KindPhantom},
		{"after expiry", 0, []Op{write(OK, 10, 20, 100), seen(130, 131)}, KindSeenAfterExpiry},
		{"after expiry within skew", 50 * time.Millisecond, []Op{write(OK, 10, 20, 100), seen(130, 131)}, ""},
		{"lost session", 0, []Op{write(OK, 10, 20, 100), gone(30, 40)}, KindLostSession},
		{"gone early within skew", 50 * time.Millisecond, []Op{write(OK, 10, 20, 100), gone(60, 61)}, ""},
		{"resurrected", 0, []Op{write(OK, 10, 20, 100), gone(112, 113), seen(119, 120)}, KindResurrected},
		{"unknown write seen bounds the deadline", 0, []Op{write(Info, 10, 500, 100), seen(20, 30), seen(140, 150)}, KindSeenAfterExpiry},
		{"unknown write never seen", 0, []Op{write(Info, 10, 500, 100), gone(20, 30)}, ""},
		{"failed write seen", 0, []Op{write(Fail, 10, 20, 100), seen(30, 31)}, KindFailApplied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := checkSession(CheckInput{Workload: "session", Ops: tc.ops, SkewBound: tc.skew})
			if got := kinds(r); got != tc.want {
				t.Fatalf("anomalies %q, want %q: %v", got, tc.want, r.Anomalies)
			}
		})
	}
}

func TestExpiryEvents(t *testing.T) {
	set := func(typ string, inv, comp int64, ttl int64) Op {
		op := mk("set", "k", typ, 1, inv, comp, i64(1))
		op.TTL = ttl
		return op
	}
	ev := func(node, name string, at int64) Op {
		op := mk("ev:"+name, "k", OK, 9, at, at, nil)
		op.Node = node
		return op
	}
	sub := func(node string, from, to int64, err string) Op {
		op := mk("subscribed", "", OK, 9, from, to, nil)
		op.Node, op.Error = node, err
		return op
	}
	subs := []Op{sub("n1", 0, 5000, ""), sub("n2", 0, 5000, "")}
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"left to expire, seen once everywhere", []Op{set(OK, 10, 12, 100), ev("n1", "expire", 12), ev("n2", "expire", 12),
			ev("n1", "expired", 200), ev("n2", "expired", 210)}, ""},
		{"expired twice on one subscriber", []Op{set(OK, 10, 12, 100), ev("n1", "expire", 12), ev("n2", "expire", 12),
			ev("n1", "expired", 200), ev("n2", "expired", 210), ev("n2", "expired", 900)}, KindDuplicateEvent},
		{"a subscriber connected throughout missed it", []Op{set(OK, 10, 12, 100), ev("n1", "expire", 12), ev("n2", "expire", 12),
			ev("n1", "expired", 200)}, KindMissedEvent},
		{"expired before the deadline", []Op{set(OK, 10, 12, 100), ev("n1", "expire", 12), ev("n2", "expire", 12),
			ev("n1", "expired", 50), ev("n2", "expired", 210)}, KindEarlyExpiry},
		{"deleted in time: del, never expired", []Op{set(OK, 10, 12, 100), mk("del", "k", OK, 1, 50, 52, i64(1)),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "del", 52), ev("n2", "del", 52)}, ""},
		{"deleted in time, yet expired", []Op{set(OK, 10, 12, 100), mk("del", "k", OK, 1, 50, 52, i64(1)),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "del", 52), ev("n2", "del", 52), ev("n2", "expired", 200)}, KindSpuriousEvent},
		{"renewed in time: expire twice", []Op{set(OK, 10, 12, 100), mk("renew", "k", OK, 1, 50, 52, i64(1)),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "expire", 52), ev("n2", "expire", 52)}, ""},
		{"DEL too late found it expired", []Op{set(OK, 10, 12, 100), mk("del", "k", OK, 1, 150, 152, i64(0)),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "expired", 152), ev("n2", "expired", 152)}, ""},
		{"unknown DEL: either, not both", []Op{set(OK, 10, 12, 100), mk("del", "k", Info, 1, 50, 3000, nil),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "del", 60), ev("n2", "del", 60)}, ""},
		{"unknown DEL: both", []Op{set(OK, 10, 12, 100), mk("del", "k", Info, 1, 50, 3000, nil),
			ev("n1", "expire", 12), ev("n2", "expire", 12), ev("n1", "del", 60), ev("n2", "del", 60), ev("n1", "expired", 200)}, KindDuplicateEvent},
		{"a subscriber cut meanwhile may miss it", append([]Op{set(OK, 10, 12, 100), ev("n1", "expire", 12), ev("n1", "expired", 200)},
			sub("n2", 0, 50, "EOF"), sub("n2", 300, 5000, "")), ""},
		{"SET certainly failed, yet an event", []Op{set(Fail, 10, 12, 100), ev("n1", "expire", 12)}, KindFailApplied},
	} {
		ops := tc.ops
		if !strings.Contains(tc.name, "cut meanwhile") {
			ops = append(append([]Op(nil), subs...), ops...)
		}
		got := kinds(checkExpiry(CheckInput{Workload: "expiry-events", Ops: ops}))
		if got != tc.want {
			t.Errorf("%s: anomalies %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestQueue(t *testing.T) {
	push := func(typ string, el int64) Op { return mk("enqueue", "q", typ, 1, 0, 1, i64(el)) }
	take := func(typ string, el *int64) Op { return mk("dequeue", "q", typ, 2, 2, 3, el) }
	move := func(typ string, el *int64) Op { return mk("move", "q", typ, 2, 2, 3, el) }
	moved := func(op Op, els ...int64) Op { op.Moved = els; return op }
	final := func(node string, els ...int64) Op {
		op := mk("final-read", "q", OK, 3, 10, 11, nil)
		op.Node, op.Elements = node, append([]int64{}, els...)
		return op
	}
	for _, tc := range []struct {
		name string
		ops  []Op
		want string
	}{
		{"taken or left", []Op{push(OK, 1), push(OK, 2), push(Info, 3), take(OK, i64(1)), take(OK, nil), final("n1", 2), final("n2", 2)}, ""},
		{"taken twice", []Op{push(OK, 1), take(OK, i64(1)), take(OK, i64(1)), final("n1")}, KindDuplicateDelivery},
		{"taken and still queued", []Op{push(OK, 1), take(OK, i64(1)), final("n1", 1)}, KindDuplicateDelivery},
		{"acknowledged and gone", []Op{push(OK, 1), push(OK, 2), take(OK, i64(1)), final("n1")}, KindLostWrite},
		{"gone, but an unknown take may have it", []Op{push(OK, 1), push(OK, 2), take(OK, i64(1)), take(Info, nil), final("n1")}, ""},
		{"taken, never pushed", []Op{push(OK, 1), take(OK, i64(7)), final("n1", 1)}, KindPhantom},
		{"push failed, yet queued", []Op{push(Fail, 1), final("n1", 1)}, KindFailApplied},
		{"nodes differ", []Op{push(OK, 1), push(OK, 2), final("n1", 1, 2), final("n2", 2, 1)}, KindDivergence},
		{"moved, in the moved list", []Op{push(OK, 1), push(OK, 2), move(OK, i64(1)), move(Info, nil), moved(final("n1"), 1, 2)}, ""},
		{"moved and popped", []Op{push(OK, 1), move(OK, i64(1)), take(OK, i64(1)), moved(final("n1"), 1)}, KindDuplicateDelivery},
		{"moved, missing from the moved list", []Op{push(OK, 1), move(OK, i64(1)), final("n1")}, KindLostWrite},
		{"in the moved list, nobody moved it", []Op{push(OK, 1), moved(final("n1"), 1)}, KindPhantom},
		{"in the moved list and the queue", []Op{push(OK, 1), move(OK, i64(1)), moved(final("n1", 1), 1)}, KindDuplicateDelivery + "," + KindDuplicateDelivery},
	} {
		got := kinds(checkQueue(CheckInput{Workload: "queue", Ops: tc.ops}))
		if got != tc.want {
			t.Errorf("%s: anomalies %q, want %q", tc.name, got, tc.want)
		}
	}
}

// An evicted key's history reads as a lost write; with the eviction on
// record the key is left out, and the keys left are checked as ever.
func TestEvictedKeysLeftOut(t *testing.T) {
	hist := func(evicted ...string) *Saved {
		var ops []Op
		for _, k := range []string{"a", "b"} {
			for _, op := range []Op{
				mk("write", k, OK, 1, 0, 10, i64(1)),
				mk("read", k, OK, 2, 11, 12, nil), // gone
			} {
				op.Workload = "register"
				ops = append(ops, op)
			}
		}
		for _, k := range evicted {
			ops = append(ops, Op{Workload: evictionName, F: "evicted", Key: k, Type: OK, Invoke: 10.5e6, Complete: 10.5e6})
		}
		return &Saved{Workloads: []string{"register"}, Ops: ops}
	}
	for _, tc := range []struct {
		evicted []string
		want    string
	}{
		{nil, "non-linearizable,non-linearizable"},
		{[]string{"a"}, "non-linearizable"},
		{[]string{"a", "b"}, ""},
	} {
		res := Check(hist(tc.evicted...), "", 5*time.Second)
		if got := kinds(res); got != tc.want {
			t.Errorf("evicted %v: anomalies %q, want %q (notes %q)", tc.evicted, got, tc.want, res.Notes)
		}
		if len(res.Inconclusive) > 0 {
			t.Errorf("evicted %v: inconclusive %q", tc.evicted, res.Inconclusive)
		}
	}
}
