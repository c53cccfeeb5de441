package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// tmpfsDir mounts a tmpfs of the given size ("200m") and returns a data dir
// on it: a small disk to fill.
func tmpfsDir(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	return filepath.Join(mnt, "data")
}

// fillDisk writes a file beside dataDir until its file system is full, as
// another program on the machine would, and returns the file.
func fillDisk(t testing.TB, dataDir string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(dataDir), fmt.Sprint("filler-", time.Now().UnixNano()))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for { // the last bytes, smaller than a chunk
		if _, err := f.Write(chunk[:4096]); err != nil {
			break
		}
	}
	return path
}

// syncLog is a logger whose output a test reads.
type syncLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func term(n *Node) string { return n.raft.Stats()["term"] }

// trySetErr is trySet returning the cluster's error as it is.
func trySetErr(n *Node, k, v string) error {
	_, _, err := n.Propose(context.Background(), fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(k), []byte(v)}}}})
	return err
}

// A leader whose disk fills refuses writes with ErrDiskFull (the server's
// -MISCONF), on itself and for its followers, while every node goes on
// serving linearizable reads; leadership does not move; once space is
// freed writes resume by themselves, and nothing acknowledged is lost.
// The three data dirs share one small disk, as three nodes on one machine
// do, so the disk is full for every node at once.
func TestFullDiskRefusesWritesAndResumes(t *testing.T) {
	dir := tmpfsDir(t, "400m")
	logs := &syncLog{}
	tc := newTestCluster(t, 3, func(c *Config) {
		c.DataDir = filepath.Join(dir, c.NodeID)
		c.MinFreeDisk = 64 << 20
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	leader := tc.leader()
	f := tc.followers()[0]
	for i := range 50 {
		set(t, []*Node{leader, f}[i%2], fmt.Sprint("session:", i), fmt.Sprint("user", i))
	}
	filler := fillDisk(t, dir)
	leaderTerm := term(leader)

	for _, n := range []*Node{leader, f} {
		testcluster.Eventually(t, n.cfg.NodeID+" refuses writes for want of space", func() error {
			err := trySetErr(n, "during", "x")
			if !errors.Is(err, ErrDiskFull) {
				return fmt.Errorf("got %v", err)
			}
			if !strings.Contains(err.Error(), "under --min-free-disk") || !strings.Contains(err.Error(), "reads go on") {
				t.Errorf("the refusal does not say why: %v", err)
			}
			return nil
		})
	}
	if !leader.Disk().Full || leader.Disk().Free >= 64<<20 {
		t.Errorf("leader's disk status: %+v", leader.Disk())
	}
	if !strings.Contains(logs.String(), "data dir short of space") {
		t.Error("no log line says the disk is short of space")
	}
	// Reads go on everywhere, linearizable, for as long as the disk is
	// full; past diskHandOffAfter, and no member has room to lead instead.
	for range 2 * int(diskHandOffAfter/time.Second) {
		for _, n := range tc.nodes {
			if got := readOwn(t, n, "session:7"); !strings.Contains(got, "user7") {
				t.Errorf("%s: session:7 read %q while the disk is full", n.cfg.NodeID, got)
			}
		}
		if err := trySetErr(f, "during", "x"); !errors.Is(err, ErrDiskFull) {
			t.Errorf("a write while the disk is full: %v", err)
		}
		time.Sleep(500 * time.Millisecond) // a full disk lasting a while is what is tested
	}
	if leader.raft.State() != raft.Leader || term(leader) != leaderTerm {
		t.Errorf("leadership moved while the disk was full: %s term %s, was term %s", leader.raft.State(), term(leader), leaderTerm)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{leader, f} {
		testcluster.Eventually(t, n.cfg.NodeID+" takes writes once space is freed", func() error {
			return trySet(n, "after:"+n.cfg.NodeID, "ok")
		})
	}
	if !strings.Contains(logs.String(), "data dir has space again") {
		t.Error("no log line says writes resumed")
	}
	for _, n := range tc.nodes {
		for i := range 50 {
			if got := readOwn(t, n, fmt.Sprint("session:", i)); !strings.Contains(got, fmt.Sprint("user", i)) {
				t.Errorf("%s: session:%d is %q", n.cfg.NodeID, i, got)
			}
		}
	}
}

// Writes that themselves fill the disk stop short of it: the leader
// refuses before its log runs out of room, so no write fails half-way (an
// unknown outcome), leadership stays, and after space is freed and the
// node restarted every acknowledged write is there.
func TestWritesFillingTheDiskStopShortOfIt(t *testing.T) {
	dir := tmpfsDir(t, "300m")
	os.MkdirAll(filepath.Dir(dir), 0o750)
	ballast := filepath.Join(filepath.Dir(dir), "ballast")
	if err := os.WriteFile(ballast, make([]byte, 64<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	cfg := func(c *Config) {
		c.MinFreeDisk = 96 << 20
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	n := openNode(t, dir, cfg)
	startTerm := term(n)
	acked := 0
	for ; ; acked++ {
		_, _, err := n.Propose(context.Background(), setReq(fmt.Sprint("k", acked), 1<<20))
		if errors.Is(err, ErrDiskFull) {
			break
		}
		if err != nil {
			t.Fatalf("write %d failed other than refused: %v", acked, err)
		}
		if acked > 300 {
			t.Fatal("a 300 MiB disk took 300 MiB of writes")
		}
	}
	if acked == 0 {
		t.Fatal("no write was taken before the disk filled")
	}
	if n.store.stuck.Load() || n.disk.failed.Load() {
		t.Error("the log ran out of space before writes were refused")
	}
	if term(n) != startTerm || n.raft.State() != raft.Leader {
		t.Errorf("leadership changed while the disk filled: term %s, was %s", term(n), startTerm)
	}
	if strings.Contains(logs.String(), "level=ERROR msg=\"writing the raft log failed") {
		t.Error("a write reached a full disk")
	}
	os.Remove(ballast)
	testcluster.Eventually(t, "writes resume once space is freed", func() error {
		return trySet(n, "after", "ok")
	})
	n.Shutdown()
	n = openNode(t, dir, cfg)
	defer n.Shutdown()
	for i := range acked {
		if got := get(n, fmt.Sprint("k", i)); len(got) < 1<<20 {
			t.Fatalf("k%d lost after a restart: %d bytes", i, len(got))
		}
	}
	t.Logf("%d writes of 1 MiB acknowledged before the refusal", acked)
}

// With the check off, a full disk reaches the log itself: raft-wal cannot
// open its next segment and refuses every later append, and hashicorp/raft
// steps the leader down at each failed append. Once there is space the
// node reopens its log by itself and takes writes again, with nothing
// acknowledged lost.
func TestLogReopensAfterItCouldNotOpenASegment(t *testing.T) {
	dir := tmpfsDir(t, "150m")
	os.MkdirAll(filepath.Dir(dir), 0o750)
	ballast := filepath.Join(filepath.Dir(dir), "ballast")
	if err := os.WriteFile(ballast, make([]byte, 40<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	n := openNode(t, dir, func(c *Config) {
		c.MinFreeDisk = -1
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	defer n.Shutdown()
	acked := 0
	for i, fails := 0, 0; fails == 0 && i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, _, err := n.Propose(ctx, setReq(fmt.Sprint("k", i), 1<<20))
		cancel()
		if err != nil {
			fails++
			continue
		}
		acked++
	}
	if !n.store.stuck.Load() {
		t.Fatal("the log never failed to open a segment: the disk did not fill")
	}
	os.Remove(ballast)
	testcluster.Eventually(t, "writes resume once space is freed", func() error {
		return trySet(n, "after", "ok")
	})
	if !strings.Contains(logs.String(), "raft log reopened") {
		t.Error("no log line says the log was reopened")
	}
	for i := range acked {
		if got := get(n, fmt.Sprint("k", i)); len(got) < 1<<20 {
			t.Errorf("k%d lost: %d bytes", i, len(got))
		}
	}
}

// A snapshot cut short by a full disk leaves nothing behind, and one left
// by a crash is removed when the node opens.
func TestNoUnfinishedSnapshotLeftBehind(t *testing.T) {
	dir := tmpfsDir(t, "150m")
	n := openNode(t, dir, func(c *Config) { c.MinFreeDisk = -1 })
	for i := range 20 {
		if _, _, err := n.Propose(context.Background(), setReq(fmt.Sprint("k", i), 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	filler := fillDisk(t, dir)
	if err := n.Snapshot(); err == nil {
		t.Fatal("a snapshot of 20 MiB fit on a full disk")
	}
	tmps := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.tmp"))
		return m
	}
	if left := tmps(); len(left) > 0 {
		t.Errorf("a failed snapshot left %v", left)
	}
	os.Remove(filler)
	n.Shutdown()

	crashed := filepath.Join(dir, "snapshots", "2-9-123.tmp")
	if err := os.MkdirAll(crashed, 0o750); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(crashed, "state.bin"), []byte("partial"), 0o600)
	n = openNode(t, dir)
	defer n.Shutdown()
	if left := tmps(); len(left) > 0 {
		t.Errorf("opening left %v", left)
	}
}

// A leader whose own disk fills, while its followers have room, hands
// leadership to one of them: writes go on (through every node, the full
// one too), reads go on everywhere, and once the space is freed the old
// leader catches up with everything written meanwhile.
func TestLeaderWithAFullDiskHandsOff(t *testing.T) {
	dirs := make([]string, 3)
	for i := range dirs {
		dirs[i] = tmpfsDir(t, "200m")
	}
	logs := &syncLog{}
	tc := newTestCluster(t, 3, func(c *Config) {
		i := int(c.NodeID[1] - '1')
		c.DataDir = dirs[i]
		c.MinFreeDisk = 64 << 20
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	old := tc.leader()
	set(t, old, "before", "1")
	var oldDir string
	for i, n := range tc.nodes {
		if n == old {
			oldDir = dirs[i]
		}
	}
	filler := fillDisk(t, oldDir)
	var leader *Node
	testcluster.Eventually(t, "writes through the full node go on under another leader", func() error {
		if err := trySetErr(old, "during", "x"); err != nil {
			return err
		}
		leader = tc.leader()
		if leader == old {
			return errors.New("the node with the full disk still leads")
		}
		return nil
	})
	if !strings.Contains(logs.String(), "handing leadership to a member with room") {
		t.Error("no log line says why leadership moved")
	}
	for i := range 20 {
		set(t, []*Node{leader, old}[i%2], fmt.Sprint("k", i), "v")
	}
	for _, n := range tc.nodes {
		if got := readOwn(t, n, "k19"); got != "$1\r\nv\r\n" {
			t.Errorf("%s: k19 = %q while a disk is full", n.cfg.NodeID, got)
		}
	}
	os.Remove(filler)
	testcluster.Eventually(t, "the old leader catches up once its disk has room", func() error {
		if err := old.ReadBarrier(context.Background()); err != nil {
			return err
		}
		if got := get(old, "k19"); got != "$1\r\nv\r\n" {
			return fmt.Errorf("k19 = %q", got)
		}
		return nil
	})
}
