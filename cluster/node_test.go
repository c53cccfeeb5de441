package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func openNode(t *testing.T, dir string, mut ...func(*Config)) *Node {
	t.Helper()
	cfg := Config{
		NodeID:           "n1",
		DataDir:          dir,
		PeerAddr:         "127.0.0.1:0",
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
	}
	for _, m := range mut {
		m(&cfg)
	}
	n, err := Open(cfg, fsm.New())
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Shutdown()
		t.Fatalf("not ready: %v", err)
	}
	return n
}

func set(t testing.TB, n *Node, k, v string) {
	t.Helper()
	if err := trySet(n, k, v); err != nil {
		t.Fatal(err)
	}
}

// trySet is set for goroutines, which must not call t.Fatal.
func trySet(n *Node, k, v string) error {
	reply, _, err := n.Propose(context.Background(), fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(k), []byte(v)}}}})
	if err != nil || string(reply) != "+OK\r\n" {
		return fmt.Errorf("SET %s: %q, %v", k, reply, err)
	}
	return nil
}

func get(n *Node, k string) string {
	return string(n.FSM().Read(0, n.Now(), 0, [][]byte{[]byte("GET"), []byte(k)}, nil))
}

// readOwn is what a client of n reads for k: from n after its read
// barrier, or through the leader while n is catching up.
func readOwn(t testing.TB, n *Node, k string) string {
	t.Helper()
	err := n.ReadBarrier(context.Background())
	if errors.Is(err, ErrBehind) {
		b, err := n.ReadThroughLeader(context.Background(), 0, [][]byte{[]byte("GET"), []byte(k)})
		if err != nil {
			t.Fatalf("%s: read through the leader: %v", n.cfg.NodeID, err)
		}
		return string(b)
	}
	if err != nil {
		t.Fatalf("%s: read barrier: %v", n.cfg.NodeID, err)
	}
	return get(n, k)
}

// Every concurrent proposal gets its own reply, and all of them are applied.
func TestConcurrentProposalsShareEntries(t *testing.T) {
	n := openNode(t, t.TempDir())
	defer n.Shutdown()
	before := n.Status().LastIndex
	var wg sync.WaitGroup
	const writers, each = 50, 40
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := trySet(n, fmt.Sprintf("k:%d:%d", w, i), fmt.Sprintf("v%d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			if got, want := get(n, fmt.Sprintf("k:%d:%d", w, i)), fmt.Sprintf("$%d\r\nv%d\r\n", len(fmt.Sprint(i))+1, i); got != want {
				t.Fatalf("k:%d:%d = %q, want %q", w, i, got, want)
			}
		}
	}
	entries := n.Status().LastIndex - before
	t.Logf("%d writes in %d log entries", writers*each, entries)
	if entries >= writers*each {
		t.Fatalf("no group commit: %d writes took %d entries", writers*each, entries)
	}
}

// A pipeline request gets all its replies, in order, from one entry.
func TestPipelineRequestReplies(t *testing.T) {
	n := openNode(t, t.TempDir())
	defer n.Shutdown()
	req := fsm.Request{Ops: []fsm.Op{
		{Args: [][]byte{[]byte("SET"), []byte("a"), []byte("1")}},
		{Args: [][]byte{[]byte("DEL"), []byte("a"), []byte("b")}},
		{Args: [][]byte{[]byte("SET"), []byte("c"), []byte("1")}},
	}}
	reply, _, err := n.Propose(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if want := "+OK\r\n:1\r\n+OK\r\n"; string(reply) != want {
		t.Fatalf("reply %q, want %q", reply, want)
	}
	// A read is not something the log replicates outside MULTI: the leader
	// refuses the whole request, and none of it applies.
	req.Ops = append(req.Ops, fsm.Op{Args: [][]byte{[]byte("GET"), []byte("a")}})
	req.Ops[2].Args[1] = []byte("d")
	if reply, _, err = n.Propose(context.Background(), req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unknown command 'GET'") {
		t.Fatalf("a read outside MULTI: %q, %v", reply, err)
	}
	if got := get(n, "d"); got != "$-1\r\n" {
		t.Fatalf("part of a refused request applied: d = %q", got)
	}
}

// The keyspace survives a restart after snapshots taken while writes went
// on and a log truncated behind them: the reopened node's log no longer
// holds the first writes, so they can only come back from the snapshot.
func TestReopenRestoresKeyspace(t *testing.T) {
	dir := t.TempDir()
	small := func(c *Config) {
		c.SnapshotThreshold = 10
		c.TrailingLogs = 5
		c.SnapshotInterval = 50 * time.Millisecond
	}
	n := openNode(t, dir, small)
	write := func(from, to int) {
		t.Helper()
		for b := from; b < to; b += 100 {
			var req fsm.Request
			for i := b; i < b+100; i++ {
				req.Ops = append(req.Ops, fsm.Op{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("v%d", i))}})
			}
			if _, _, err := n.Propose(context.Background(), req); err != nil {
				t.Fatal(err)
			}
		}
	}
	// truncatedPast holds once a snapshot has let Raft drop the log up to
	// past first.
	truncatedPast := func(first uint64) func() error {
		return func() error {
			if fi, err := n.store.FirstIndex(); err != nil || fi <= first {
				return fmt.Errorf("log starts at %d (%v)", fi, err)
			}
			return nil
		}
	}
	write(0, 1500)
	testcluster.Eventually(t, "a snapshot and a truncated log", truncatedPast(1))
	first, _ := n.store.FirstIndex()
	write(1500, 3000)
	testcluster.Eventually(t, "a second snapshot after more writes", truncatedPast(first))
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	n = openNode(t, dir, small)
	defer n.Shutdown()
	if fi, _ := n.store.FirstIndex(); fi <= first {
		t.Fatalf("reopened log starts at %d: the restart did not depend on a snapshot", fi)
	}
	for i := 0; i < 3000; i++ {
		want := fmt.Sprintf("$%d\r\nv%d\r\n", len(fmt.Sprint(i))+1, i)
		if got := get(n, fmt.Sprintf("k%d", i)); got != want {
			t.Fatalf("k%d = %q after reopen, want %q", i, got, want)
		}
	}
	if err := n.ReadBarrier(context.Background()); err != nil {
		t.Fatalf("read barrier after reopen: %v", err)
	}
}

// Proposals after shutdown fail with an error, never hang or succeed.
func TestProposeAfterShutdown(t *testing.T) {
	n := openNode(t, t.TempDir())
	n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, err := n.Propose(ctx, fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte("a"), []byte("1")}}}}); err == nil {
		t.Fatal("propose after shutdown succeeded")
	}
}

// An Open that fails part-way closes what it opened: the error names the
// step, and the data dir and peer port are free for the next Open.
func TestOpenFailureReleasesWhatItOpened(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	cfg := Config{
		NodeID:           "n1",
		DataDir:          dir,
		PeerAddr:         addr,
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
	}
	bad := cfg
	bad.InitialCluster = map[string]string{"n2": addr} // does not list n1
	if _, err := Open(bad, fsm.New()); err == nil || !strings.HasPrefix(err.Error(), "bootstrap: initial cluster does not list this node") {
		t.Fatalf("open without this node in the initial cluster: %v", err)
	}
	bad = cfg
	bad.Advertise = "no-port"
	if _, err := Open(bad, fsm.New()); err == nil || !strings.HasPrefix(err.Error(), "advertise address: ") {
		t.Fatalf("open with a bad advertise address: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg, fsm.New()); err == nil || !strings.HasPrefix(err.Error(), "peer port: ") {
		t.Fatalf("open on a peer port in use: %v", err)
	}
	ln.Close()
	n, err := Open(cfg, fsm.New())
	if err != nil {
		t.Fatalf("open after failed opens: %v", err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// Without a quorum there is no leader: waitLeader gives up after its wait
// with ErrNoLeader, at once when its context ends, and with ErrShutdown
// when the node stops; WaitReady ends with its context.
func TestWaitLeaderWithoutQuorum(t *testing.T) {
	open := func(election time.Duration) *Node {
		addr := freeAddr(t)
		n, err := Open(Config{
			NodeID:   "n1",
			DataDir:  t.TempDir(),
			PeerAddr: addr,
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			// Two members that never start: n1 alone cannot win.
			InitialCluster:   map[string]string{"n1": addr, "n2": freeAddr(t), "n3": freeAddr(t)},
			HeartbeatTimeout: election,
			ElectionTimeout:  election,
		}, fsm.New())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	quick := open(50 * time.Millisecond)
	defer quick.Shutdown()
	if _, err := quick.waitLeader(context.Background()); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("waitLeader without a quorum: %v, want ErrNoLeader", err)
	}

	slow := open(time.Minute) // waitLeader would wait two minutes
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := slow.waitLeader(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("waitLeader with an ended context: %v, want ErrNoLeader", err)
	}
	if err := slow.WaitReady(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitReady with an ended context: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := slow.waitLeader(context.Background())
		done <- err
	}()
	slow.Shutdown()
	if err := <-done; !errors.Is(err, ErrShutdown) {
		t.Fatalf("waitLeader across a shutdown: %v, want ErrShutdown", err)
	}
}

// waitLeader wakes when a leader appears: a fresh node is asked at once,
// before its first election ends.
func TestWaitLeaderSeesElection(t *testing.T) {
	n, err := Open(Config{
		NodeID:           "n1",
		DataDir:          t.TempDir(),
		PeerAddr:         "127.0.0.1:0",
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
		HeartbeatTimeout: 200 * time.Millisecond,
		ElectionTimeout:  200 * time.Millisecond,
	}, fsm.New())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	// waitLeader gives up after two election timeouts; a busy machine may
	// take longer to elect even a lone node, so ask again until it leads.
	testcluster.EventuallyWithin(t, testcluster.LeaderTimeout, "waitLeader returns this node", func() error {
		leader, err := n.waitLeader(context.Background())
		if err != nil || leader != n.self() {
			return fmt.Errorf("waitLeader: %q, %v; want this node %q", leader, err, n.self())
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}
