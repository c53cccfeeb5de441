package systest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node process test")
	}
}

// A write on any node is readable right after from every node.
func TestWriteAnywhereReadEverywhere(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	for i, w := range c.Nodes {
		for j := 0; j < 20; j++ {
			k, v := fmt.Sprintf("k:%d:%d", i, j), fmt.Sprintf("v%d", j)
			if err := w.Client().Set(ctx, k, v, 0).Err(); err != nil {
				t.Fatalf("SET on %s: %v", w.ID, err)
			}
			for _, r := range c.Nodes {
				got, err := r.Client().Get(ctx, k).Result()
				if err != nil || got != v {
					t.Fatalf("GET %s on %s right after SET on %s: %q, %v", k, r.ID, w.ID, got, err)
				}
			}
		}
	}
}

// outcome classifies a write's error as a client sees it.
type outcome int

const (
	ok outcome = iota
	failed
	unknown
)

func classify(err error) outcome {
	if err == nil {
		return ok
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "CLUSTERDOWN"), strings.HasPrefix(msg, "TRYAGAIN"), strings.HasPrefix(msg, "LOADING"),
		strings.Contains(msg, "connection refused"):
		return failed // certainly not applied
	}
	return unknown // UNCERTAIN, a timeout, a connection cut mid-command
}

// Kill -9 the leader under concurrent writes on every node: a new leader
// takes writes within a few election timeouts, every acknowledged write is
// there afterwards, and every other write was reported as failed or
// unknown, never as a success.
func TestKillLeaderUnderWrites(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	ctx := context.Background()

	type result struct {
		key string
		out outcome
		err error
	}
	var (
		mu      sync.Mutex
		results []result
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			node := c.Nodes[w%len(c.Nodes)]
			cl := node.NewClient()
			defer func() { cl.Close() }()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d:%d", w, i)
				err := cl.Set(ctx, k, "x", 0).Err()
				mu.Lock()
				results = append(results, result{k, classify(err), err})
				mu.Unlock()
				if err != nil && !node.Running() {
					// The node this writer used is gone: move to the next.
					cl.Close()
					node = c.Nodes[(w+1)%len(c.Nodes)]
					if node == leader {
						node = c.Nodes[(w+2)%len(c.Nodes)]
					}
					cl = node.NewClient()
				}
				if err != nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}(w)
	}
	time.Sleep(time.Second)
	killed := time.Now()
	leader.Kill()
	next := c.Leader()
	t.Logf("killed leader %s; %s took a write %v later", leader.ID, next.ID, time.Since(killed))
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	leader.Start()

	var acked, failures, unknowns int
	for _, r := range results {
		switch r.out {
		case ok:
			acked++
		case failed:
			failures++
		case unknown:
			unknowns++
		}
	}
	t.Logf("%d writes: %d acknowledged, %d failed, %d unknown", len(results), acked, failures, unknowns)
	if acked == 0 {
		t.Fatal("no write was acknowledged")
	}
	for _, n := range c.Nodes {
		cl := n.NewClient()
		deadline := time.Now().Add(20 * time.Second)
		for _, r := range results {
			if r.out != ok {
				continue
			}
			for {
				v, err := cl.Get(ctx, r.key).Result()
				if err == nil && v == "x" {
					break
				}
				if err == redis.Nil {
					t.Fatalf("acknowledged write %s missing on %s", r.key, n.ID)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never answered for %s: %v", n.ID, r.key, err)
				}
				time.Sleep(50 * time.Millisecond) // the restarted node may still be catching up
			}
		}
		cl.Close()
	}
}

// Killing every node at once and starting them again keeps every
// acknowledged write.
func TestFullClusterKillRestart(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	const n = 3000
	for b := 0; b < n; b += 100 {
		node := c.Nodes[(b/100)%3]
		_, err := node.Client().Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := b; i < b+100; i++ {
				p.Set(ctx, fmt.Sprintf("k%d", i), i, time.Hour)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("batch %d on %s: %v", b, node.ID, err)
		}
	}
	for _, nd := range c.Nodes {
		nd.Kill()
	}
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.Leader()
	for _, nd := range c.Nodes {
		cl := nd.NewClient()
		for i := 0; i < n; i++ {
			v, err := cl.Get(ctx, fmt.Sprintf("k%d", i)).Int()
			if err != nil || v != i {
				cl.Close()
				t.Fatalf("k%d on %s after full restart: %d, %v", i, nd.ID, v, err)
			}
		}
		cl.Close()
	}
}

// A TTL runs out at the same moment on every node, and a key re-SET just
// as its old TTL runs out is never deleted by the leader's reaper.
func TestExpiryEverywhereAndRacingReset(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	leader := c.Leader()
	before := time.Now()
	if err := leader.Client().Set(ctx, "session", "alive", 800*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	acked := time.Since(before)
	// The deadline is the leader's clock when it formed the entry plus
	// 800ms: somewhere in [before+800ms, before+acked+800ms]. On every node
	// (all share this machine's clock), a read that starts after that
	// window must not see the key, and a read that ends before it must.
	// Bounds on reads, not on scheduling, so a busy machine cannot flake it.
	earliest := before.Add(800 * time.Millisecond)
	latest := earliest.Add(acked + 5*time.Millisecond) // 5ms: clock resolution
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Add(1)
		go func(n *testcluster.Node) {
			defer wg.Done()
			cl := n.NewClient()
			defer cl.Close()
			for {
				start := time.Now()
				_, err := cl.Get(ctx, "session").Result()
				end := time.Now()
				switch {
				case errors.Is(err, redis.Nil):
					if end.Before(earliest) {
						t.Errorf("%s: key gone %v before its deadline", n.ID, earliest.Sub(end))
					}
					return
				case err != nil:
					t.Errorf("%s: %v", n.ID, err)
					return
				case start.After(latest):
					t.Errorf("%s: key still visible %v after its deadline", n.ID, start.Sub(latest))
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
		}(n)
	}
	wg.Wait()

	// Re-SET keys right at their deadline, many times: the reaper's
	// conditional delete must never take the new value.
	for i := 0; i < 100; i++ {
		k := fmt.Sprintf("race:%d", i)
		node := c.Nodes[i%3]
		if err := node.Client().Set(ctx, k, "old", 20*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(15+i%10) * time.Millisecond)
		if err := node.Client().Set(ctx, k, "new", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // several reaper rounds
	for _, n := range c.Nodes {
		for i := 0; i < 100; i++ {
			v, err := n.Client().Get(ctx, fmt.Sprintf("race:%d", i)).Result()
			if err != nil || v != "new" {
				t.Fatalf("race:%d on %s = %q, %v: a re-SET key was lost to expiry", i, n.ID, v, err)
			}
		}
	}
	// And the expired key's memory was reclaimed on every node.
	for _, n := range c.Nodes {
		info := n.Client().Info(ctx, "keyspace").Val()
		if !strings.Contains(info, "db0:keys=100,") { // the race keys (the probe is in db 15)
			t.Errorf("%s keyspace after reaping: %q", n.ID, info)
		}
	}
}
