package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/raft"
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
			return b[2].end - b[2].start
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
