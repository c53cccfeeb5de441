package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// testCluster is N in-process nodes on loopback, each with its own data dir
// and peer port, formed with InitialCluster.
type testCluster struct {
	t     testing.TB
	nodes []*Node
	cfgs  []Config
}

// freeAddr is a loopback address on a port testcluster.FreePort gives:
// below the kernel's ephemeral range, so no outgoing connection of a test
// running beside this one takes it before the node binds it (a port the
// kernel picked for ":0" was taken that way under the race detector).
func freeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testcluster.FreePort(t)))
}

func newTestCluster(t testing.TB, size int, mut ...func(*Config)) *testCluster {
	t.Helper()
	tc := &testCluster{t: t}
	initial := map[string]string{}
	for i := 0; i < size; i++ {
		id := fmt.Sprintf("n%d", i+1)
		addr := freeAddr(t)
		initial[id] = addr
		tc.cfgs = append(tc.cfgs, Config{
			NodeID:           id,
			DataDir:          t.TempDir(),
			PeerAddr:         addr,
			Secret:           "s3cret",
			Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
			HeartbeatTimeout: 400 * time.Millisecond,
			ElectionTimeout:  400 * time.Millisecond,
		})
	}
	for i := range tc.cfgs {
		tc.cfgs[i].InitialCluster = initial
		for _, m := range mut {
			m(&tc.cfgs[i])
		}
		n, err := Open(tc.cfgs[i], fsm.New())
		if err != nil {
			t.Fatalf("open %s: %v", tc.cfgs[i].NodeID, err)
		}
		tc.nodes = append(tc.nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range tc.nodes {
			if n != nil {
				n.Shutdown()
			}
		}
	})
	tc.leader()
	return tc
}

// leader waits for a ready leader among the running nodes.
func (tc *testCluster) leader() *Node {
	tc.t.Helper()
	var leader *Node
	testcluster.EventuallyWithin(tc.t, testcluster.LeaderTimeout, "a ready leader", func() error {
		for _, n := range tc.nodes {
			if n != nil && n.raft.State() == raft.Leader && n.ready.Load() {
				leader = n
				return nil
			}
		}
		return errors.New("no running node is a ready leader")
	})
	return leader
}

func (tc *testCluster) followers() []*Node {
	var out []*Node
	for _, n := range tc.nodes {
		if n != nil && n.raft.State() != raft.Leader {
			out = append(out, n)
		}
	}
	return out
}

func TestFollowerForwardsAndReadsItsWrites(t *testing.T) {
	tc := newTestCluster(t, 3)
	f := tc.followers()[0]
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("k%d", i)
		set(t, f, k, "v")
		// Read-your-writes on the node that took the write.
		if got := readOwn(t, f, k); got != "$1\r\nv\r\n" {
			t.Fatalf("follower does not see its own write %s: %q", k, got)
		}
	}
	// Every node, after its read barrier, sees every write.
	for _, n := range tc.nodes {
		if err := n.ReadBarrier(context.Background()); err != nil {
			t.Fatalf("%s read barrier: %v", n.cfg.NodeID, err)
		}
		for i := 0; i < 50; i++ {
			if got := get(n, fmt.Sprintf("k%d", i)); got != "$1\r\nv\r\n" {
				t.Fatalf("%s k%d = %q", n.cfg.NodeID, i, got)
			}
		}
	}
}

func TestLeaderLossElectsAnother(t *testing.T) {
	tc := newTestCluster(t, 3)
	old := tc.leader()
	set(t, old, "before", "1")
	for i, n := range tc.nodes {
		if n == old {
			n.Shutdown()
			tc.nodes[i] = nil
		}
	}
	start := time.Now()
	nl := tc.leader()
	t.Logf("new leader %s after %v", nl.cfg.NodeID, time.Since(start))
	set(t, nl, "after", "2")
	for _, n := range tc.nodes {
		if n == nil {
			continue
		}
		if err := n.ReadBarrier(context.Background()); err != nil {
			t.Fatal(err)
		}
		if get(n, "before") != "$1\r\n1\r\n" || get(n, "after") != "$1\r\n2\r\n" {
			t.Fatalf("%s lost a write", n.cfg.NodeID)
		}
	}
}

func TestWrongSecretIsRefused(t *testing.T) {
	tc := newTestCluster(t, 1)
	n := tc.nodes[0]
	bad := &peerClient{addr: n.PeerAddr(), token: peerKey("wrong")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := bad.call(ctx, msgNodeInfo, nil); err == nil {
		t.Fatal("a peer with the wrong secret got an answer")
	}
	good := &peerClient{addr: n.PeerAddr(), token: peerKey("s3cret")}
	defer good.close()
	r, err := good.call(ctx, msgNodeInfo, nil)
	if err != nil {
		t.Fatalf("right secret: %v", err)
	}
	if r.index != n.applied.index() || string(r.body) != n.cfg.ClientAddr {
		t.Fatalf("node info: applied %d, client addr %q; want %d, %q", r.index, r.body, n.applied.index(), n.cfg.ClientAddr)
	}
	// A call of a kind the node does not know gets a bare status byte, as
	// from every version: too short to be taken for an answer.
	if b, err := good.roundTrip(ctx, 99, nil); err != nil || !bytes.Equal(b, []byte{stUnknown}) {
		t.Fatalf("unknown call: %v, %v", b, err)
	}
	if _, err := good.call(ctx, 99, nil); !errors.Is(err, errShortReply) {
		t.Fatalf("unknown call: %v, want errShortReply", err)
	}
}

// restart reopens node i on its data dir after it was shut down.
func (tc *testCluster) restart(i int) {
	tc.t.Helper()
	n, err := Open(tc.cfgs[i], fsm.New())
	if err != nil {
		tc.t.Fatalf("reopen %s: %v", tc.cfgs[i].NodeID, err)
	}
	tc.nodes[i] = n
}

func (tc *testCluster) stop(i int) {
	tc.nodes[i].Shutdown()
	tc.nodes[i] = nil
}

// A follower that was down while the log moved past what the leader keeps
// catches up by snapshot install and ends byte-equal with the leader.
func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) {
		c.SnapshotThreshold = 100
		c.TrailingLogs = 50
		c.SnapshotInterval = 100 * time.Millisecond
	})
	leader := tc.leader()
	down := -1
	for i, n := range tc.nodes {
		if n != leader {
			down = i
			break
		}
	}
	tc.stop(down)
	const total, per = 50_000, 50
	for b := 0; b < total; b += per {
		var req fsm.Request
		for i := b; i < b+per; i++ {
			req.Ops = append(req.Ops, fsm.Op{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprintf("key:%d", i)), []byte(fmt.Sprintf("value:%d", i))}})
		}
		for attempt := 0; ; attempt++ { // idempotent: retry if leadership moves
			_, _, err := tc.leader().Propose(context.Background(), req)
			if err == nil {
				break
			}
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	leader = tc.leader()
	if tc.nodes[down] != nil {
		t.Fatal("the stopped follower is running")
	}
	first := leader.store
	if fi, _ := first.FirstIndex(); fi <= 1 {
		t.Fatalf("leader log not truncated (first index %d): the test would not exercise snapshot install", fi)
	}
	tc.restart(down)
	n := tc.nodes[down]
	want := leader.FSM().Applied()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.applied.wait(ctx, want); err != nil {
		t.Fatalf("follower stuck at %d, leader at %d", n.FSM().Applied(), want)
	}
	li, ld := leader.FSM().Digest()
	fi, fd := n.FSM().Digest()
	if li != fi || ld != fd {
		t.Fatalf("leader %d %s, follower %d %s", li, ld, fi, fd)
	}
	t.Logf("follower caught up to index %d, digest %s", fi, fd[:16])
}

// A node restarting while peers already call its cluster service must not
// serve those calls before its Raft is up (it used to dereference a nil
// Raft and crash). Every call fails on the way or gets a well-formed reply
// with a known status; a node info reply never shows less applied than the
// snapshot the node restarts from.
func TestPeerCallsDuringRestart(t *testing.T) {
	tc := newTestCluster(t, 3)
	// A snapshot of some size makes the restart spend a while restoring it
	// before Raft is up: the window the calls must not hit.
	for b := 0; b < 20_000; b += 500 {
		var req fsm.Request
		for k := b; k < b+500; k++ {
			req.Ops = append(req.Ops, fsm.Op{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprintf("key:%d", k)), []byte("some session data")}})
		}
		// SETs are idempotent: on a busy machine leadership may move
		// mid-load, so retry on whichever node leads.
		for attempt := 0; ; attempt++ {
			_, _, err := tc.leader().Propose(context.Background(), req)
			if err == nil {
				break
			}
			if attempt == 20 {
				t.Fatal(err)
			}
		}
	}
	leader := tc.leader()
	i := 0
	for j, n := range tc.nodes {
		if n == leader {
			i = j
		}
	}
	floor := tc.nodes[i].applied.index() // every later snapshot covers it
	if err := tc.nodes[i].Snapshot(); err != nil {
		t.Fatal(err)
	}
	addr := tc.cfgs[i].PeerAddr
	var answered, refused, lost atomic.Int64
	check := func(typ byte, b []byte, err error) {
		if err != nil {
			var ce *callError
			if !errors.As(err, &ce) {
				t.Errorf("call %d failed with %v, not a call error", typ, err)
			}
			lost.Add(1)
			return
		}
		r, err := decodePeerReply(b)
		if err != nil {
			t.Errorf("call %d: malformed reply %v", typ, b)
			return
		}
		switch r.status {
		case stOK:
		case stNoLeader, stNotApplied, stUnknown, stLoading, stReadOnly:
			refused.Add(1)
			return
		default:
			t.Errorf("call %d: unknown status %d", typ, r.status)
			return
		}
		answered.Add(1)
		switch {
		case typ == msgNodeInfo && r.index < floor:
			t.Errorf("node info shows applied %d, below the snapshot's %d: served before Raft was up", r.index, floor)
		case typ == msgReadIndex && (r.index < floor || len(r.body) != 0):
			t.Errorf("read index %d (body %q), below %d", r.index, r.body, floor)
		case typ == msgForward && (r.index <= floor || string(r.body) != "+OK\r\n"):
			t.Errorf("forwarded SET answered %q at index %d", r.body, r.index)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &peerClient{addr: addr, token: peerKey("s3cret")}
			defer c.close()
			set := encodeRequest(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}}})
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				b, err := c.roundTrip(ctx, msgReadIndex, nil)
				check(msgReadIndex, b, err)
				b, err = c.roundTrip(ctx, msgNodeInfo, nil)
				check(msgNodeInfo, b, err)
				b, err = c.roundTrip(ctx, msgForward, set)
				check(msgForward, b, err)
				cancel()
			}
		}()
	}
	for round := 0; round < 5; round++ {
		tc.stop(i)
		tc.restart(i)
		tc.leader()
	}
	// The node as last restarted answers too. Under the race detector,
	// with every package's tests beside it on two cores, a restart that
	// restores a 20,000-key snapshot has taken over 20 s to serve.
	before := answered.Load()
	testcluster.EventuallyWithin(t, time.Minute, "the restarted node answers a peer call", func() error {
		if answered.Load() == before {
			return fmt.Errorf("%d answered, %d refused, %d lost so far", answered.Load(), refused.Load(), lost.Load())
		}
		return nil
	})
	close(stop)
	wg.Wait()
	t.Logf("%d calls answered, %d refused with a status, %d lost on the way", answered.Load(), refused.Load(), lost.Load())
}

// A follower answers a forwarded write once it has applied it, which needs
// the leader to tell it the commit index. With the leader's idle commit
// broadcast pushed out to a minute, only the leader's nudge after a
// forwarded write can make the write return in time.
func TestForwardedWriteDoesNotWaitForCommitTimeout(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.CommitTimeout = time.Minute })
	tc.leader()
	f := tc.followers()[0]
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		reply, index, err := f.Propose(ctx, fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprint("k", i)), []byte("v")}}}})
		cancel()
		if err != nil || string(reply) != "+OK\r\n" {
			t.Fatalf("forwarded SET %d: %q, %v after %v", i, reply, err, time.Since(start))
		}
		// The leader's nudge, not the minute-long idle broadcast, tells
		// the follower the write committed.
		testcluster.Eventually(t, "the follower applies its forwarded write", func() error {
			if a := f.applied.index(); a < index {
				return fmt.Errorf("applied %d of %d", a, index)
			}
			return nil
		})
		if got := get(f, fmt.Sprint("k", i)); got != "$1\r\nv\r\n" {
			t.Fatalf("follower reads %q after its forwarded write", got)
		}
	}
}

// A read on a follower right after a write on the leader waits for the
// follower to hear that the write committed: the leader nudges it when it
// hands out the read index, instead of leaving it to the idle commit
// broadcast (pushed out to a minute here). Reads alone must not make the
// leader write: the nudge entries are empty, and the read index skips them.
func TestFollowerReadAfterLeaderWrite(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.CommitTimeout = time.Minute })
	l := tc.leader()
	f := tc.followers()[0]
	for i := range 5 {
		key := fmt.Sprint("k", i)
		set(t, l, key, "v")
		// Without the nudge the follower would hear of the commit only a
		// minute later; a busy machine may make it read through the leader
		// (ErrBehind) for a moment first.
		testcluster.Eventually(t, fmt.Sprint("a read barrier on the follower after write ", i), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), testcluster.RequestTimeout)
			defer cancel()
			return f.ReadBarrier(ctx)
		})
		if got := get(f, key); got != "$1\r\nv\r\n" {
			t.Fatalf("follower reads %q after the leader's write", got)
		}
	}
	// Once the leader has sent every nudge asked of it and applied its
	// whole log, reads alone must not add an entry.
	testcluster.Eventually(t, "the leader's last nudge applied", func() error {
		want, nudged := l.nudgeWant.Load(), l.nudged.Load()
		last, applied := l.raft.LastIndex(), l.applied.index()
		if nudged < want || applied < last {
			return fmt.Errorf("nudged up to %d of %d, applied %d of %d", nudged, want, applied, last)
		}
		return nil
	})
	before := l.Status().LastIndex
	for range 200 {
		if err := f.ReadBarrier(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if grew := l.Status().LastIndex - before; grew > 0 {
		t.Fatalf("200 follower reads with no writes added %d log entries", grew)
	}
}
