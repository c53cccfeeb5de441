package cluster

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

const tornTailMsg = "the raft log's last write was torn or damaged: discarded what followed the last good entry; " +
	"entries after it, if they were acknowledged, are on a quorum and come back from the leader (a group of one has no other copy)"

// walBatch is one append to a segment file: its frames from start to just
// past its commit frame, and how many entries it and the batches before it
// hold.
type walBatch struct {
	start, end int64
	entries    int // in this batch
	before     int // in the batches before it
}

// tailSegment is the path of the last segment file in a data dir's log.
func tailSegment(t *testing.T, dataDir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, walDirName, "*.wal"))
	if len(files) == 0 {
		t.Fatal("no log segment")
	}
	sort.Strings(files) // named by base index, then id
	return files[len(files)-1]
}

// walBatches reads a segment file's batches, as raft-wal's recovery does.
func walBatches(t *testing.T, path string) []walBatch {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []walBatch
	cur := walBatch{start: walFileHeaderLen}
	if err := walkFrames(f, func(fr walFrame) bool {
		switch fr.typ {
		case walFrameEntry:
			cur.entries++
		case walFrameCommit:
			cur.end = fr.off + fr.size()
			out = append(out, cur)
			cur = walBatch{start: cur.end, before: cur.before + cur.entries}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeAt changes bytes of a file in place, as a failing disk or a write
// cut short by a crash would.
func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// tornTailWarning is the warning a node logged at open, if any.
func tornTailWarning(h *captureHandler) (captured, bool) {
	return h.find(func(c captured) bool { return c.level == slog.LevelWarn && c.msg == tornTailMsg })
}

// nonZeroSpan is how many bytes of the file from start count as
// discarded when everything from start to end is: up to the last non-zero
// one (a batch's commit frame ends with a CRC whose last byte may be 0).
func nonZeroSpan(t *testing.T, path string, start, end int64) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for end > start && b[end-1] == 0 {
		end--
	}
	return end - start
}

func wantTornTailWarning(t *testing.T, h *captureHandler, segment string, lastGood uint64, discarded int64) {
	t.Helper()
	c, ok := tornTailWarning(h)
	if !ok {
		t.Fatalf("no torn tail warning among %d records", h.count())
	}
	want := map[string]string{"segment": segment, "last_good_index": fmt.Sprint(lastGood), "discarded_bytes": fmt.Sprint(discarded)}
	for k, v := range want {
		if c.attrs[k] != v {
			t.Fatalf("warning says %s=%s, want %s (all: %v)", k, c.attrs[k], v, c.attrs)
		}
	}
	t.Logf("logged: %s %v", c.msg, c.attrs)
}

// The log store alone, three batches of two entries, each kind of damage
// at the tail: raft-wal keeps what it can vouch for, the warning says how
// much it ignored, and the open changes nothing on disk.
func TestTornTailReportedAtOpen(t *testing.T) {
	cases := []struct {
		name      string
		damage    func(path string, b []walBatch) int64 // returns the bytes past the last good commit
		wantLast  uint64
		wantWarns bool
	}{
		{"clean", func(string, []walBatch) int64 { return 0 }, 6, false},
		{"a byte flipped in the last batch", func(path string, b []walBatch) int64 {
			writeAt(t, path, b[2].start+walFrameHeaderLen+3, []byte{0xff})
			return nonZeroSpan(t, path, b[2].start, b[2].end)
		}, 4, true},
		{"a write torn after the last commit", func(path string, b []walBatch) int64 {
			torn := append([]byte{walFrameEntry, 0, 0, 0, 200, 0, 0, 0}, bytes.Repeat([]byte("x"), 37)...)
			writeAt(t, path, b[2].end, torn)
			return int64(len(torn))
		}, 6, true},
		{"a torn write whose first sector never reached the disk", func(path string, b []walBatch) int64 {
			off := (b[2].end/4096 + 1) * 4096
			writeAt(t, path, off, []byte("xyz"))
			return off + 3 - b[2].end
		}, 6, true},
		// raft-wal checks only the last batch's CRC; statehouse's own
		// entry CRC catches this one when the entry is read.
		{"a byte flipped in an older batch", func(path string, b []walBatch) int64 {
			writeAt(t, path, b[0].start+walFrameHeaderLen+3, []byte{0xff})
			return 0
		}, 6, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _, err := openLogStore(dir, false, newRaftLogger(slog.New(newCapture(slog.LevelInfo))))
			if err != nil {
				t.Fatal(err)
			}
			for i := uint64(1); i <= 6; i += 2 {
				if err := s.StoreLogs([]*raft.Log{
					{Index: i, Term: 1, Type: raft.LogCommand, Data: []byte("session data")},
					{Index: i + 1, Term: 1, Type: raft.LogCommand, Data: []byte("more session data")},
				}); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			path := tailSegment(t, dir)
			batches := walBatches(t, path)
			if len(batches) != 3 {
				t.Fatalf("%d batches in the segment, want 3", len(batches))
			}
			discarded := tc.damage(path, batches)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}

			h := newCapture(slog.LevelInfo)
			s, _, err = openLogStore(dir, false, newRaftLogger(slog.New(h)))
			if err != nil {
				t.Fatal(err)
			}
			last, _ := s.LastIndex()
			s.Close()
			if last != tc.wantLast {
				t.Fatalf("raft-wal recovered up to %d, want %d", last, tc.wantLast)
			}
			if tc.wantWarns {
				wantTornTailWarning(t, h, path, last, discarded)
			} else if c, ok := tornTailWarning(h); ok {
				t.Fatalf("warned of a torn tail: %v", c.attrs)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("opening the log changed its segment file")
			}
		})
	}
}

// crash stops node i as kill -9 would (no snapshot at shutdown) once its
// log holds index, and returns its tail segment and the log's last index.
func (tc *testCluster) crash(t *testing.T, i int, index uint64) (string, uint64) {
	t.Helper()
	n := tc.nodes[i]
	testcluster.Eventually(t, "the node's log holds the write", func() error {
		if last := n.raft.LastIndex(); last < index {
			return fmt.Errorf("its log ends at %d, before %d", last, index)
		}
		return nil
	})
	n.raft.Shutdown().Error()
	last, err := n.store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	tc.stop(i)
	return tailSegment(t, tc.cfgs[i].DataDir), last
}

// A follower restarts twice: once with a byte flipped in its last batch,
// once with a write torn past its last commit frame. Each time it starts,
// says so in its log, catches up from the leader and reads back every
// acknowledged write byte for byte: each was on a quorum.
func TestTornTailOnAFollower(t *testing.T) {
	tc := newTestCluster(t, 3)
	acked := map[string]string{}
	write := func(k, v string) uint64 {
		t.Helper()
		reply, index, err := tc.leader().Propose(context.Background(), fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(k), []byte(v)}}}})
		if err != nil || string(reply) != "+OK\r\n" {
			t.Fatalf("SET %s: %q, %v", k, reply, err)
		}
		acked[k] = v
		return index
	}
	for i := range 20 {
		write(fmt.Sprint("session:", i), fmt.Sprint("user=", i, ";cart=", i*7))
	}
	victim := 0
	for i, n := range tc.nodes {
		if n != tc.leader() {
			victim = i
			break
		}
	}
	restart := func() (*Node, *captureHandler) {
		t.Helper()
		h := newCapture(slog.LevelInfo)
		tc.cfgs[victim].Logger = slog.New(h)
		tc.restart(victim)
		return tc.nodes[victim], h
	}
	caughtUp := func(n *Node) {
		t.Helper()
		testcluster.Eventually(t, "the node catches up from the leader", func() error {
			l := tc.leader()
			if err := n.ReadBarrier(context.Background()); err != nil {
				return err
			}
			li, ld := l.FSM().Digest()
			if fi, fd := n.FSM().Digest(); fi != li || fd != ld {
				return fmt.Errorf("at %d %s, the leader at %d %s", fi, fd, li, ld)
			}
			return nil
		})
		for k, v := range acked {
			if got, want := get(n, k), fmt.Sprintf("$%d\r\n%s\r\n", len(v), v); got != want {
				t.Fatalf("%s reads %q, want %q", k, got, want)
			}
		}
	}

	// A byte flipped in the last batch: raft-wal drops the whole batch,
	// an acknowledged write with it.
	index := write("session:last", "user=alice;role=user")
	path, last := tc.crash(t, victim, index)
	batches := walBatches(t, path)
	tail := batches[len(batches)-1]
	b, _ := os.ReadFile(path)
	at := bytes.Index(b[tail.start:tail.end], []byte("role=user"))
	if at < 0 || last != index {
		t.Fatalf("the follower's last batch (log ending at %d) does not hold the write at %d", last, index)
	}
	writeAt(t, path, tail.start+int64(at)+5, []byte("R"))
	n, h := restart()
	wantTornTailWarning(t, h, path, last-uint64(tail.entries), nonZeroSpan(t, path, tail.start, tail.end))
	caughtUp(n)

	// A write torn after the last commit frame: nothing committed is
	// dropped, and the node still says what it ignored.
	index = write("session:after", "user=bob;role=user")
	path, last = tc.crash(t, victim, index)
	batches = walBatches(t, path)
	end := batches[len(batches)-1].end
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	leftover, err := lastNonZeroByte(f, end)
	f.Close()
	if err != nil || leftover >= end {
		t.Fatalf("bytes past the last commit before the test tore anything (%d, %v)", leftover, err)
	}
	torn := append([]byte{walFrameEntry, 0, 0, 0, 0, 1, 0, 0}, []byte("user=carol;ro")...)
	writeAt(t, path, end, torn)
	n, h = restart()
	wantTornTailWarning(t, h, path, last, int64(len(torn)))
	caughtUp(n)
}

// A group of one has no other copy: a byte flipped in its last batch, which
// it had fsynced and acknowledged, makes raft-wal drop that write, and it
// is gone. That takes a disk that changes or loses fsynced bytes; a crash
// mid-write tears only a batch not yet fsynced, so not yet acknowledged.
// What the node owes is to say so, with the index it lost after.
func TestTornTailOnALoneNode(t *testing.T) {
	tc := newTestCluster(t, 1)
	for i := range 10 {
		set(t, tc.leader(), fmt.Sprint("session:", i), "user=alice")
	}
	reply, index, err := tc.leader().Propose(context.Background(), fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte("session:last"), []byte("role=user")}}}})
	if err != nil || string(reply) != "+OK\r\n" {
		t.Fatalf("SET: %q, %v", reply, err)
	}
	path, last := tc.crash(t, 0, index)
	batches := walBatches(t, path)
	tail := batches[len(batches)-1]
	b, _ := os.ReadFile(path)
	at := bytes.Index(b[tail.start:tail.end], []byte("role=user"))
	if at < 0 || last != index {
		t.Fatalf("the last batch (log ending at %d) does not hold the write at %d", last, index)
	}
	writeAt(t, path, tail.start+int64(at)+5, []byte("R"))
	discarded := nonZeroSpan(t, path, tail.start, tail.end)

	h := newCapture(slog.LevelInfo)
	tc.cfgs[0].Logger = slog.New(h)
	tc.restart(0)
	wantTornTailWarning(t, h, path, last-uint64(tail.entries), discarded)
	n := tc.leader()
	if err := n.ReadBarrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if got := get(n, fmt.Sprint("session:", i)); got != "$10\r\nuser=alice\r\n" {
			t.Fatalf("session:%d reads %q", i, got)
		}
	}
	if got := get(n, "session:last"); got != "$-1\r\n" {
		t.Fatalf("the dropped write reads %q", got)
	}
	if n.HaltErr() != nil {
		t.Fatalf("halted: %v", n.HaltErr())
	}
}
