package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// flipInWAL changes old into new (same length) in the node's log segment
// files, as a failing disk would, and reports whether it found old.
func flipInWAL(t *testing.T, dataDir, old, new string) bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, walDirName, "*.wal"))
	found := false
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte(old)); i >= 0 {
			copy(b[i:], new)
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	return found
}

// A byte changed in an old record of a node's log (a session's role=user
// read back as role=root) is caught when the node replays its log: it
// stops at that entry, names it, and serves nothing from it. The way out
// is the README's: move the data dir aside and start the node empty with
// the same id; it catches up from its peers, byte for byte.
func TestCorruptLogRecordStopsTheNode(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	set(t, leader, "session:1", "role=user")
	for i := range 300 { // so the record is not in the log's checked tail
		set(t, tc.leader(), fmt.Sprint("k", i), "v")
	}
	victim := 0
	for i, n := range tc.nodes {
		if n != tc.leader() {
			victim = i
			break
		}
	}
	if err := tc.nodes[victim].ReadBarrier(context.Background()); err != nil {
		t.Fatal(err)
	}
	tc.nodes[victim].raft.Shutdown().Error() // as kill -9 would: no snapshot, no clean close
	tc.stop(victim)
	if !flipInWAL(t, tc.cfgs[victim].DataDir, "role=user", "role=root") {
		t.Fatal("the record is not in the log segments")
	}
	tc.restart(victim)
	n := tc.nodes[victim]
	testcluster.Eventually(t, "the node stops at the damaged entry", func() error {
		if n.HaltErr() == nil {
			return errors.New("it runs")
		}
		return nil
	})
	if err := n.HaltErr(); !errors.Is(err, fsm.ErrChecksum) || !strings.Contains(err.Error(), "log entry") {
		t.Fatalf("stopped with %v", err)
	}
	t.Logf("stopped: %v", n.HaltErr())
	n.Shutdown()
	if got := get(n, "session:1"); got == "$9\r\nrole=root\r\n" {
		t.Fatal("the damaged value was applied")
	}
	// The way out: an empty data dir, the same node id.
	os.RemoveAll(tc.cfgs[victim].DataDir)
	tc.restart(victim)
	n = tc.nodes[victim]
	li, ld := uint64(0), ""
	testcluster.Eventually(t, "the node catches up from its peers", func() error {
		l := tc.leader()
		if err := n.ReadBarrier(context.Background()); err != nil {
			return err
		}
		li, ld = l.FSM().Digest()
		if fi, fd := n.FSM().Digest(); fi != li || fd != ld {
			return fmt.Errorf("at %d %s, the leader at %d %s", fi, fd, li, ld)
		}
		return nil
	})
	if got := get(n, "session:1"); got != "$9\r\nrole=user\r\n" {
		t.Fatalf("after catching up: %q", got)
	}
}
