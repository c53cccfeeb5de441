package main

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server bugs found with jepsen-lite, kept as regression tests. Both failed
// before their fixes in cluster/node.go and pass since.

// Fixed bug: a node that restarted while its peers still took it for the
// leader panicked (nil pointer in cluster.(*Node).handleCall): the peer port
// served read-index calls before raft.NewRaft had set n.raft. The peer port
// now serves only once Raft is up.
func TestRestartedLeaderServesPeerCalls(t *testing.T) {
	skipUnlessCluster(t)
	var crashes atomic.Int32
	b := newLocal(BackendConfig{Nodes: 3, Binary: testBinary(t), RaftTimeout: 500 * time.Millisecond, Dir: t.TempDir(), Logf: t.Logf,
		OnCrash: func(node, status string) { crashes.Add(1); t.Logf("%s exited on its own: %s", node, status) }})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer b.Teardown()
	if err := b.Setup(ctx); IsUnsupported(err) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	topo := newTopology(b)
	defer topo.Close()
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	// Linearizable reads on every follower: each asks the leader for a
	// read index over the peer port.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range b.Nodes() {
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rc := newRedis(b.ClientAddr(n))
				defer rc.Close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					rc.Get(context.Background(), "k")
				}
			}()
		}
	}
	defer func() { close(stop); wg.Wait() }()
	for round := 0; round < 10 && crashes.Load() == 0; round++ {
		l := topo.FindLeader(ctx)
		if l == "" {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		// kill -9 the leader and start it again at once, before the
		// followers' election timeout: they still send it read-index calls.
		if err := b.Kill(l); err != nil {
			t.Fatal(err)
		}
		if err := b.Start(l, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if crashes.Load() > 0 {
			break
		}
		hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
		err := topo.WaitHealthy(hctx)
		hcancel()
		if err != nil && crashes.Load() == 0 {
			t.Fatal(err)
		}
	}
	if n := crashes.Load(); n > 0 {
		for _, id := range b.Nodes() {
			log, _ := os.ReadFile(b.LogPath(id))
			if i := strings.Index(string(log), "panic:"); i >= 0 {
				t.Logf("%s:\n%s", id, firstLines(string(log[i:]), 12))
			}
		}
		t.Fatalf("%d node(s) crashed after a restart", n)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// Fixed availability bug: after the leader was paused (SIGSTOP) and the
// others had elected a new leader that took writes, linearizable reads on
// the healthy nodes still hung for seconds behind a read-index call to the
// old leader. Such calls are now abandoned when the leader changes.
func TestReadsDoNotStallBehindPausedLeader(t *testing.T) {
	skipUnlessCluster(t)
	b := newLocal(BackendConfig{Nodes: 3, Binary: testBinary(t), RaftTimeout: 300 * time.Millisecond, Dir: t.TempDir(), Logf: t.Logf})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	defer b.Teardown()
	if err := b.Setup(ctx); IsUnsupported(err) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	topo := newTopology(b)
	defer topo.Close()
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	old := topo.FindLeader(ctx)
	// Keep reads flowing on the followers, as a web tier would.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range b.Nodes() {
		if n == old {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc := newRedis(b.ClientAddr(n))
			defer rc.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rc.Get(context.Background(), "k")
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(500 * time.Millisecond)
	if err := b.Pause(old); err != nil {
		t.Fatal(err)
	}
	defer b.Resume(old)
	paused := time.Now()
	// Wait for a new leader that takes a write.
	var leader string
	for leader == "" {
		if time.Since(paused) > 10*time.Second {
			t.Fatal("no new leader")
		}
		for _, n := range b.Nodes() {
			if n == old {
				continue
			}
			c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			m, _, err := topo.role(c, n)
			if err == nil && m && topo.probe(n).Set(c, "w", "1", 0).Err() == nil {
				leader = n
			}
			cancel()
		}
	}
	elected := time.Since(paused)
	// Now a fresh client reads on each healthy node.
	var worst time.Duration
	for _, n := range b.Nodes() {
		if n == old {
			continue
		}
		rc := newRedis(b.ClientAddr(n))
		start := time.Now()
		var err error
		for time.Since(start) < 10*time.Second {
			if err = rc.Get(context.Background(), "w").Err(); err == nil {
				break
			}
		}
		took := time.Since(start)
		rc.Close()
		t.Logf("%s (leader %v): first read took %v after the new leader %s took a write %v after the pause (%v)", n, n == leader, took, leader, elected, err)
		worst = max(worst, took)
	}
	if worst > time.Second {
		t.Fatalf("linearizable reads on healthy nodes stalled %v after a new leader took writes", worst)
	}
}
