package systest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
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
	switch client.Classify(err) {
	case client.OK:
		return ok
	case client.Retry, client.NotApplied:
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
		acked   = map[*testcluster.Node]*atomic.Int64{} // acknowledged writes by the node that took them
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for _, n := range c.Nodes {
		acked[n] = new(atomic.Int64)
	}
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
				if err == nil {
					acked[node].Add(1)
					continue
				}
				if !node.Running() {
					// The node this writer used is gone: move to the next.
					cl.Close()
					node = c.Nodes[(w+1)%len(c.Nodes)]
					if node == leader {
						node = c.Nodes[(w+2)%len(c.Nodes)]
					}
					cl = node.NewClient()
				}
				time.Sleep(10 * time.Millisecond) // pacing: back off after an error
			}
		}(w)
	}
	// waitAcked waits until each node has acknowledged n more writes.
	waitAcked := func(what string, nodes []*testcluster.Node, n int64) {
		t.Helper()
		from := map[*testcluster.Node]int64{}
		for _, nd := range nodes {
			from[nd] = acked[nd].Load()
		}
		testcluster.Eventually(t, what, func() error {
			for _, nd := range nodes {
				if got := acked[nd].Load() - from[nd]; got < n {
					return fmt.Errorf("%s acknowledged %d of %d writes", nd.ID, got, n)
				}
			}
			return nil
		})
	}

	waitAcked("writes acknowledged on every node before the kill", c.Nodes, 100)
	killed := time.Now()
	leader.Kill()
	next := c.WaitForNewLeader(leader)
	t.Logf("killed leader %s; %s took a write %v later", leader.ID, next.ID, time.Since(killed))
	waitAcked("writes acknowledged on the survivors under the new leader", c.Followers(leader), 100)
	close(stop)
	wg.Wait()
	leader.Start()
	leader.WaitWritable()

	var nacked, failures, unknowns int
	for _, r := range results {
		switch r.out {
		case ok:
			nacked++
		case failed:
			failures++
		case unknown:
			unknowns++
		}
	}
	t.Logf("%d writes: %d acknowledged, %d failed, %d unknown", len(results), nacked, failures, unknowns)
	var keys []string
	for _, r := range results {
		if r.out == ok {
			keys = append(keys, r.key)
		}
	}
	// Every acknowledged write on every node, the restarted one included.
	// A read is linearizable: once a node answers, a missing key is lost.
	for _, n := range c.Nodes {
		var missing []string
		testcluster.Eventually(t, n.ID+" answers for every acknowledged write", func() error {
			got, err := mget(ctx, n.Client(), keys)
			if err != nil {
				return err
			}
			missing = missing[:0]
			for i, v := range got {
				if v != "x" {
					missing = append(missing, keys[i])
				}
			}
			return nil
		})
		if len(missing) > 0 {
			t.Fatalf("%d acknowledged writes missing on %s: %v", len(missing), n.ID, missing[:min(len(missing), 10)])
		}
	}
}

// mget reads keys in batches of 1000 ("" for a missing key).
func mget(ctx context.Context, c *redis.Client, keys []string) ([]string, error) {
	out := make([]string, 0, len(keys))
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		vals, err := c.MGet(ctx, batch...).Result()
		if err != nil {
			return nil, err
		}
		for _, v := range vals {
			s, _ := v.(string)
			out = append(out, s)
		}
	}
	return out, nil
}

// Killing every node at once and starting them again keeps every
// acknowledged write.
func TestFullClusterKillRestart(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	const n = 3000
	var keys []string
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
	for i := 0; i < n; i++ {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	for _, nd := range c.Nodes {
		nd.Kill()
	}
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.Leader()
	for _, nd := range c.Nodes {
		nd.WaitWritable()
		got, err := mget(ctx, nd.Client(), keys)
		if err != nil {
			t.Fatalf("read on %s after full restart: %v", nd.ID, err)
		}
		for i, v := range got {
			if v != strconv.Itoa(i) {
				t.Fatalf("k%d on %s after full restart: %q", i, nd.ID, v)
			}
		}
		if size := nd.Client().DBSize(ctx).Val(); size != n {
			t.Fatalf("DBSIZE on %s after full restart: %d, want %d", nd.ID, size, n)
		}
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
	latest := earliest.Add(acked + testcluster.ClockSlack)
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
				time.Sleep(2 * time.Millisecond) // pacing: no assertion depends on it
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
		time.Sleep(time.Duration(15+i%10) * time.Millisecond) // the race: re-SET as the TTL runs out
		if err := node.Client().Set(ctx, k, "new", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Reads are linearizable: every re-SET key is "new" on every node now.
	for _, n := range c.Nodes {
		for i := 0; i < 100; i++ {
			v, err := n.Client().Get(ctx, fmt.Sprintf("race:%d", i)).Result()
			if err != nil || v != "new" {
				t.Fatalf("race:%d on %s = %q, %v: a re-SET key was lost to expiry", i, n.ID, v, err)
			}
		}
	}
	// The leader reaps the expired key ("session") in its own time; then it
	// is gone from every node's memory, and the 100 race keys are left.
	for _, n := range c.Nodes {
		testcluster.Eventually(t, n.ID+" reclaims the expired key", func() error {
			keys, err := n.KeyCount(ctx, 0)
			if err != nil {
				return err
			}
			if keys != 100 {
				return fmt.Errorf("db0 holds %d keys, want the 100 race keys", keys)
			}
			return nil
		})
	}
}

// Nodes of a cluster never disagree about who is let in: CONFIG SET
// requirepass on one of them is refused, naming the way that works.
func TestPasswordChangeRefusedOnACluster(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	err := c.Nodes[0].Client().ConfigSet(context.Background(), "requirepass", "new").Err()
	if err == nil || !strings.Contains(err.Error(), "must agree on the password") {
		t.Fatalf("CONFIG SET requirepass on a cluster: %v", err)
	}
	if err := c.Nodes[1].Client().Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("a client without a password after the refused change: %v", err)
	}
}
