package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// Property tests over random logs. Each test prints its seed; replay one
// with STATEHOUSE_SEED=<seed> go test ./fsm -run <Test>.

func propSeed(t testing.TB) int64 {
	t.Helper()
	return int64(testcluster.Seed(t))
}

// propIters scales the work down under -short.
func propIters(n int) int {
	if testing.Short() {
		return max(n/10, 1)
	}
	return n
}

// testExpire is the command the generator uses to give keys a deadline.
func testExpire() string { return "pexpireat" }

// logGen generates random log entries. ref is the FSM the entries will be
// applied to first; WATCH conditions and reap ops are drawn from its state
// so that some of them hold.
type logGen struct {
	r   *rand.Rand
	ref *FSM
	now int64
}

const (
	genKeys   = 10
	genFields = 6
)

func (g *logGen) key() string { return "k" + strconv.Itoa(g.r.Intn(genKeys)) }
func (g *logGen) field() string {
	if g.r.Intn(20) == 0 {
		return "" // empty fields and members are legal
	}
	return "f" + strconv.Itoa(g.r.Intn(genFields))
}
func (g *logGen) val() string {
	switch g.r.Intn(6) {
	case 0:
		return strconv.Itoa(g.r.Intn(200) - 100)
	case 1:
		return strconv.FormatFloat(g.r.NormFloat64()*100, 'f', g.r.Intn(4), 64)
	case 2:
		return "abc"
	case 3:
		return string([]byte{byte(g.r.Intn(256)), 0, '\r', '\n'})
	}
	return "v" + strconv.Itoa(g.r.Intn(1000))
}

func propArgs(s ...string) [][]byte {
	out := make([][]byte, len(s))
	for i, a := range s {
		out[i] = []byte(a)
	}
	return out
}

// writeOp is one random write (or, rarely, garbage that must be answered
// with an error, never a panic).
func (g *logGen) writeOp() Op {
	db := g.r.Intn(3)
	k := g.key()
	var a []string
	switch g.r.Intn(22) {
	case 0:
		a = []string{"SET", k, g.val()}
	case 1:
		a = []string{"DEL", k, g.key()}
	case 2, 3:
		a = []string{"HSET", k}
		for range 1 + g.r.Intn(3) {
			a = append(a, g.field(), g.val())
		}
	case 4:
		a = []string{"HMSET", k, g.field(), g.val()}
	case 5:
		a = []string{"HSETNX", k, g.field(), g.val()}
	case 6:
		a = []string{"HDEL", k, g.field(), g.field()}
	case 7:
		a = []string{"HINCRBY", k, g.field(), strconv.Itoa(g.r.Intn(21) - 10)}
	case 8:
		a = []string{"HINCRBYFLOAT", k, g.field(), g.val()}
	case 9, 10:
		a = []string{"SADD", k}
		for range 1 + g.r.Intn(3) {
			a = append(a, g.field())
		}
	case 11:
		a = []string{"SREM", k, g.field(), g.field()}
	case 12, 13:
		a = []string{testExpire(), k, strconv.FormatInt(g.now+int64(g.r.Intn(6000))-1000, 10)}
	case 14:
		// A reap the leader could propose: the key's real deadline (may
		// be stale by the time it applies) or a wrong one.
		var dl int64 = g.now
		g.ref.mu.RLock()
		if it := g.ref.dbs[db].raw(k); it != nil && g.r.Intn(4) != 0 {
			dl = it.deadline
		}
		g.ref.mu.RUnlock()
		a = []string{ReapCommand, k, strconv.FormatInt(dl, 10)}
	case 15:
		// Other families' writes, exercised once they are registered.
		for _, cand := range [][]string{
			{"INCR", k}, {"APPEND", k, g.val()}, {"SETNX", k, g.val()},
			{"SET", k, g.val(), "PXAT", strconv.FormatInt(g.now+int64(g.r.Intn(4000)), 10)},
			{"PERSIST", k}, {"RENAME", k, g.key()}, {"INCRBYFLOAT", k, "1.5"},
		} {
			if Lookup([]byte(cand[0])) != nil && g.r.Intn(2) == 0 {
				a = cand
				break
			}
		}
		if a == nil {
			a = []string{"HSET", k, g.field(), g.val()}
		}
	case 16, 17:
		a = []string{[]string{"LPUSH", "RPUSH", "LPUSHX", "RPUSHX"}[g.r.Intn(4)], k}
		for range 1 + g.r.Intn(3) {
			a = append(a, g.field())
		}
	case 18:
		side := func() string { return []string{"LEFT", "RIGHT"}[g.r.Intn(2)] }
		n := func(lo, hi int) string { return strconv.Itoa(lo + g.r.Intn(hi-lo+1)) }
		a = [][]string{
			{"LPOP", k}, {"RPOP", k, n(0, 3)}, {"LMOVE", k, g.key(), side(), side()},
			{"RPOPLPUSH", k, g.key()}, {"LMPOP", "2", k, g.key(), side(), "COUNT", n(1, 3)},
			{"LREM", k, n(-2, 2), g.field()}, {"LTRIM", k, n(-3, 3), n(-3, 3)},
			{"LSET", k, n(-3, 3), g.val()}, {"LINSERT", k, "BEFORE", g.field(), g.val()},
		}[g.r.Intn(9)]
	case 19:
		a = []string{"ZADD", k}
		for range 1 + g.r.Intn(3) {
			a = append(a, []string{"1", "-0", "2.5", "inf", "0.1"}[g.r.Intn(5)], g.field())
		}
	case 20:
		n := func(lo, hi int) string { return strconv.Itoa(lo + g.r.Intn(hi-lo+1)) }
		a = [][]string{
			{"ZINCRBY", k, "0.5", g.field()}, {"ZREM", k, g.field()}, {"ZPOPMIN", k, n(1, 2)},
			{"ZMPOP", "2", k, g.key(), "MAX", "COUNT", n(1, 3)}, {"ZREMRANGEBYRANK", k, n(-2, 2), n(-2, 2)},
			{"ZUNIONSTORE", k, "2", g.key(), g.key(), "WEIGHTS", "2", "-1"}, {"ZRANGESTORE", k, g.key(), "0", n(-1, 2)},
			{"BZPOPMAX", k, g.key(), "0"},
		}[g.r.Intn(8)]
	default:
		switch g.r.Intn(3) {
		case 0:
			a = []string{"NOSUCHCOMMAND", k}
		case 1:
			a = []string{"HSET", k, "odd"}
		default:
			a = []string{"HGET", k, g.field()} // a read outside MULTI: refused
		}
	}
	return Op{DB: db, Args: propArgs(a...)}
}

// readOp is a read that may appear inside MULTI/EXEC.
func (g *logGen) readOp() Op {
	k := g.key()
	a := [][]string{
		{"GET", k}, {"HGETALL", k}, {"SMEMBERS", k}, {"HGET", k, g.field()},
		{"HRANDFIELD", k, "-3", "WITHVALUES"}, {"SSCAN", k, "0", "MATCH", "f*"},
		{"HLEN", k}, {"SMISMEMBER", k, g.field(), g.field()},
		{"LRANGE", k, "0", "-1"}, {"LPOS", k, g.field(), "COUNT", "0"},
		{"ZRANGE", k, "0", "-1", "WITHSCORES"}, {"ZSCAN", k, "0"},
	}[g.r.Intn(12)]
	return Op{DB: g.r.Intn(3), Args: propArgs(a...)}
}

// entry returns a random entry; now mostly moves forward but sometimes
// goes back (a new leader with a slower clock).
func (g *logGen) entry() *Entry {
	g.now += int64(g.r.Intn(700)) - 100
	e := &Entry{Now: g.now}
	for range 1 + g.r.Intn(4) {
		var req Request
		n := 1 + g.r.Intn(4)
		if g.r.Intn(4) == 0 {
			req.Atomic = true
			for range g.r.Intn(3) {
				db, k := g.r.Intn(3), g.key()
				cd := g.ref.Watch(db, g.now, []byte(k))
				if g.r.Intn(3) == 0 {
					cd.Rev += uint64(g.r.Intn(3))
				}
				req.Conds = append(req.Conds, cd)
			}
		}
		for range n {
			if req.Atomic && g.r.Intn(3) == 0 {
				req.Ops = append(req.Ops, g.readOp())
			} else {
				req.Ops = append(req.Ops, g.writeOp())
			}
		}
		e.Reqs = append(e.Reqs, req)
	}
	return e
}

func propSnapBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPropDeterminism (a): the same entries give the same replies and the
// same snapshot bytes on two replicas; the second decodes every entry from
// its encoding, as a follower would.
func TestPropDeterminism(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	for iter := range propIters(150) {
		a, b := New(), New()
		g := &logGen{r: r, ref: a, now: 1_000_000}
		for i := range 40 {
			e := g.entry()
			idx := uint64(i + 1)
			ra := a.Apply(idx, e)
			dec, err := DecodeEntry(e.Encode(nil))
			if err != nil {
				t.Fatalf("iter %d: decode: %v", iter, err)
			}
			rb := b.Apply(idx, dec)
			if len(ra) != len(e.Reqs) || len(rb) != len(ra) {
				t.Fatalf("iter %d entry %d: %d requests, %d and %d replies", iter, i, len(e.Reqs), len(ra), len(rb))
			}
			for j := range ra {
				if !bytes.Equal(ra[j], rb[j]) {
					t.Fatalf("iter %d entry %d req %d: replies differ:\n%q\n%q", iter, i, j, ra[j], rb[j])
				}
			}
		}
		if sa, sb := propSnapBytes(t, a), propSnapBytes(t, b); !bytes.Equal(sa, sb) {
			t.Fatalf("iter %d: snapshots differ (%d vs %d bytes)", iter, len(sa), len(sb))
		}
	}
}

// readProbe runs reads over every generated key in dbs 0-2 at several
// clocks (so TTLs show: a key past its deadline reads as missing).
func readProbe(f *FSM, now int64) []byte {
	var out []byte
	for _, at := range []int64{now, now + 500, now + 2000, now + 10000} {
		for db := range 3 {
			for k := range genKeys {
				key := "k" + strconv.Itoa(k)
				for _, a := range [][]string{
					{"GET", key}, {"HGETALL", key}, {"SMEMBERS", key},
					{"HLEN", key}, {"SCARD", key}, {"HRANDFIELD", key, "-4", "WITHVALUES"},
					{"LRANGE", key, "0", "-1"}, {"TYPE", key},
					{"ZRANGE", key, "0", "-1", "WITHSCORES"}, {"ZRANDMEMBER", key, "-3", "WITHSCORES"},
				} {
					out = f.Read(db, at, uint64(k), propArgs(a...), out)
				}
				out = fmt.Appendf(out, "rev=%d|", f.WatchRev(db, at, []byte(key)))
			}
		}
	}
	return out
}

func propDeadlines(f *FSM) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var s []byte
	for db, ks := range f.dbs {
		ks.keys.Scan(func(it *item) bool {
			s = fmt.Appendf(s, "%d/%s=%d ", db, it.key, it.deadline)
			return true
		})
		s = fmt.Appendf(s, "ttls=%d;", ks.ttls.Len())
	}
	return string(s)
}

// TestPropSnapshotRestore (b): snapshot, restore into a fresh FSM and
// snapshot again gives the same bytes; reads, revisions, deadlines, clock
// and applied index agree; and a replica restored mid-log that goes on
// applying ends where the source does.
func TestPropSnapshotRestore(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	for iter := range propIters(100) {
		src, mid := New(), New()
		g := &logGen{r: r, ref: src, now: 1_000_000}
		var idx uint64
		var entries []*Entry
		for range 30 + r.Intn(30) {
			e := g.entry()
			idx++
			src.Apply(idx, e)
			entries = append(entries, e)
		}
		half := len(entries) / 2
		for i, e := range entries[:half] {
			mid.Apply(uint64(i+1), e)
		}

		s1 := propSnapBytes(t, src)
		dst := New()
		dst.Apply(1, &Entry{Now: 5, Reqs: []Request{{Ops: []Op{{Args: propArgs("SET", "old", "state")}}}}})
		if err := dst.Restore(bytes.NewReader(s1)); err != nil {
			t.Fatalf("iter %d: restore: %v", iter, err)
		}
		if s2 := propSnapBytes(t, dst); !bytes.Equal(s1, s2) {
			t.Fatalf("iter %d: snapshot of the restored FSM differs", iter)
		}
		if src.Applied() != dst.Applied() || src.Now() != dst.Now() {
			t.Fatalf("iter %d: applied/now %d/%d restored as %d/%d", iter, src.Applied(), src.Now(), dst.Applied(), dst.Now())
		}
		if a, b := propDeadlines(src), propDeadlines(dst); a != b {
			t.Fatalf("iter %d: deadlines differ:\n%s\n%s", iter, a, b)
		}
		if a, b := readProbe(src, g.now), readProbe(dst, g.now); !bytes.Equal(a, b) {
			t.Fatalf("iter %d: reads differ after restore", iter)
		}
		if fmt.Sprint(src.Stats()) != fmt.Sprint(dst.Stats()) {
			t.Fatalf("iter %d: stats %v restored as %v", iter, src.Stats(), dst.Stats())
		}

		// Restore mid-log, then replay the rest.
		var buf bytes.Buffer
		if _, err := mid.Snapshot().WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		replica := New()
		if err := replica.Restore(&buf); err != nil {
			t.Fatalf("iter %d: restore mid: %v", iter, err)
		}
		for i := half; i < len(entries); i++ {
			replica.Apply(uint64(i+1), entries[i])
		}
		if s3 := propSnapBytes(t, replica); !bytes.Equal(s1, s3) {
			t.Fatalf("iter %d: restored-then-replayed replica diverged", iter)
		}
	}
}

// TestPropCorruptSnapshot (c): every truncation and every single-byte
// change of a snapshot is refused, and the FSM restored into keeps what
// it had.
func TestPropCorruptSnapshot(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	src := New()
	g := &logGen{r: r, ref: src, now: 1_000_000}
	for i := range 60 {
		src.Apply(uint64(i+1), g.entry())
	}
	good := propSnapBytes(t, src)
	t.Logf("snapshot of %d bytes", len(good))

	dst := New()
	dst.Apply(7, &Entry{Now: 77, Reqs: []Request{{Ops: []Op{
		{Args: propArgs("HSET", "mine", "f", "v")}, {DB: 2, Args: propArgs("SADD", "set", "a", "b")},
	}}}})
	before := propSnapBytes(t, dst)
	refuse := func(what string, data []byte) {
		t.Helper()
		err := dst.Restore(bytes.NewReader(data))
		if err == nil {
			t.Fatalf("%s: restore accepted a corrupt snapshot", what)
		}
		if !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("%s: error %v is not ErrBadSnapshot", what, err)
		}
	}
	step := 1
	if testing.Short() {
		step = 7
	}
	for n := 0; n < len(good); n += step {
		refuse(fmt.Sprintf("truncated to %d", n), good[:n])
	}
	for i := 0; i < len(good); i += step {
		bad := bytes.Clone(good)
		bad[i] ^= byte(1 + r.Intn(255))
		refuse(fmt.Sprintf("byte %d changed", i), bad)
	}
	if after := propSnapBytes(t, dst); !bytes.Equal(before, after) {
		t.Fatal("a refused restore changed the FSM")
	}
	if dst.Applied() != 7 || dst.Now() != 77 {
		t.Fatalf("a refused restore changed applied/now to %d/%d", dst.Applied(), dst.Now())
	}
	if err := dst.Restore(bytes.NewReader(good)); err != nil {
		t.Fatalf("the intact snapshot is refused: %v", err)
	}
}

// TestPropSnapshotIsolation (d): a snapshot serializes the state at the
// moment it was taken, however the source changes afterwards, also while
// the writes and reads run concurrently with the serialization (-race).
func TestPropSnapshotIsolation(t *testing.T) {
	seed := propSeed(t)
	r := rand.New(rand.NewSource(seed))
	for iter := range propIters(30) {
		src, ref := New(), New()
		g := &logGen{r: r, ref: src, now: 1_000_000}
		var idx uint64
		for range 40 {
			e := g.entry()
			idx++
			src.Apply(idx, e)
			ref.Apply(idx, e)
		}
		want := propSnapBytes(t, ref)
		snap := src.Snapshot()
		more := make([]*Entry, 60)
		for i := range more {
			more[i] = g.entry() // ref follows src here only for WATCH revs
		}

		if iter%2 == 0 {
			// Sequential: all the writes first, then serialize.
			for _, e := range more {
				idx++
				src.Apply(idx, e)
			}
			var buf bytes.Buffer
			if _, err := snap.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("iter %d: snapshot changed by later writes", iter)
			}
			continue
		}

		// Concurrent: serialize (several times, from several goroutines)
		// while the writes and some reads go on.
		var wg sync.WaitGroup
		results := make(chan []byte, 6)
		for range 3 {
			wg.Go(func() {
				for range 2 {
					var buf bytes.Buffer
					if _, err := snap.WriteTo(&buf); err != nil {
						t.Error(err)
					}
					results <- buf.Bytes()
				}
			})
		}
		stop := make(chan struct{})
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				src.Read(k%3, g.now, uint64(k), propArgs("HGETALL", "k"+strconv.Itoa(k%genKeys)), nil)
				src.Read(k%3, g.now, uint64(k), propArgs("SMEMBERS", "k"+strconv.Itoa(k%genKeys)), nil)
			}
		})
		for _, e := range more {
			idx++
			src.Apply(idx, e)
			if idx%20 == 0 {
				_ = src.Snapshot() // snapshots taken while others stream
			}
		}
		close(stop)
		wg.Wait()
		close(results)
		for got := range results {
			if !bytes.Equal(got, want) {
				t.Fatalf("iter %d: snapshot streamed during writes differs from the state it was taken at", iter)
			}
		}
	}
}

// FuzzDecodeEntry: no input panics the decoder, a decoded entry encodes
// back to exactly the input (one encoding per entry), and applying it
// answers one reply per request without panicking.
func FuzzDecodeEntry(f *testing.F) {
	r := rand.New(rand.NewSource(1))
	ref := New()
	g := &logGen{r: r, ref: ref, now: 1_000_000}
	for range 30 {
		f.Add(g.entry().Encode(nil))
	}
	f.Add([]byte{entryVersion, 0xd6, 0x00, 0x00}) // overlong varint: refused
	f.Add(legacyEntry)
	f.Add([]byte{})
	f.Add([]byte{entryVersion})
	f.Add((&Entry{}).Encode(nil))
	f.Add([]byte("\x03\xfc\x890\x01\x02\x000\x00\x00")) // an ACL guard with no user: refused (one entry, one encoding)
	f.Add((&Entry{Now: -1, Reqs: []Request{{Atomic: true, Conds: []Cond{{DB: 15, Key: []byte{}, Rev: 1 << 63}}}}}).Encode(nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		// As it comes, and with a right checksum, so the fuzzer reaches
		// the parser behind it.
		fuzzEntry(t, data)
		if len(data) > 0 && data[0] == entryVersion {
			fuzzEntry(t, withCRC(append([]byte(nil), data...)))
		}
	})
}

func fuzzEntry(t *testing.T, data []byte) {
	e, err := DecodeEntry(data)
	if err != nil {
		if e != nil {
			t.Fatal("entry and error both returned")
		}
		return
	}
	if got := e.Encode(nil); data[0] == entryVersion && !bytes.Equal(got, data) {
		t.Fatalf("re-encoding differs:\n in  %x\n out %x", data, got)
	}
	if Check(e) != nil {
		return // a newer build's op: the node stops instead of applying it
	}
	replies := New().Apply(1, e)
	if len(replies) != len(e.Reqs) {
		t.Fatalf("%d requests, %d replies", len(e.Reqs), len(replies))
	}
}
