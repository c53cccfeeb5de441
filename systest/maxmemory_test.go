package systest

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func infoField(t *testing.T, c *redis.Client, section, field string) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %s:%s", section, field, v)
			}
			return n
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return 0
}

// allKeys lists a node's keys from its own keyspace (READONLY, SCAN).
func allKeys(t *testing.T, n *testcluster.Node) []string {
	t.Helper()
	ctx := context.Background()
	c := n.NewClient()
	defer c.Close()
	var keys []string
	var cursor uint64
	for {
		ks, next, err := c.Scan(ctx, cursor, "*", 1000).Result()
		if err != nil {
			t.Fatalf("%s: SCAN: %v", n.ID, err)
		}
		keys = append(keys, ks...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	sort.Strings(keys)
	return keys
}

// sameKeysEverywhere waits until every node has applied what the leader
// has, then checks they hold the same keys and report the same
// used_memory and evicted_keys.
func sameKeysEverywhere(t *testing.T, c *testcluster.Cluster) []string {
	t.Helper()
	var keys []string
	testcluster.Eventually(t, "every node at the leader's index with the same keys", func() error {
		var want []string
		var used, evicted int64
		for i, n := range c.Nodes {
			cl := n.Client()
			applied := infoField(t, cl, "persistence", "raft_applied_index")
			ks := allKeys(t, n)
			u, e := infoField(t, cl, "memory", "used_memory"), infoField(t, cl, "stats", "evicted_keys")
			if again := infoField(t, cl, "persistence", "raft_applied_index"); again != applied {
				return fmt.Errorf("%s still applying", n.ID)
			}
			if i == 0 {
				want, used, evicted = ks, u, e
				continue
			}
			if strings.Join(ks, ",") != strings.Join(want, ",") || u != used || e != evicted {
				return fmt.Errorf("%s: %d keys, used_memory %d, evicted %d; %s: %d keys, used_memory %d, evicted %d",
					c.Nodes[0].ID, len(want), used, evicted, n.ID, len(ks), u, e)
			}
		}
		keys = want
		return nil
	})
	return keys
}

// TestMaxmemoryNoEvictionOnThreeNodes: with --maxmemory and noeviction,
// three real nodes refuse the writes past the limit with Redis's exact
// error on the leader and on a follower (redis-cli's own output), keep
// every key acknowledged before, go on serving GET and DEL, and hold the
// same keys.
func TestMaxmemoryNoEvictionOnThreeNodes(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--maxmemory", "256kb", "--maxmemory-policy", "noeviction"}})
	ctx := context.Background()
	leader := c.Leader()
	follower := c.Followers(leader)[0]
	testcluster.Eventually(t, "the start flags in the cluster's settings", func() error {
		for _, n := range c.Nodes {
			if got := n.Client().ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != "262144" {
				return fmt.Errorf("%s: maxmemory %q", n.ID, got)
			}
		}
		return nil
	})
	val := strings.Repeat("v", 1000)
	var acked []string
	for i := 0; ; i++ {
		key := "k" + strconv.Itoa(i)
		err := []*testcluster.Node{leader, follower}[i%2].Client().Set(ctx, key, val, 0).Err()
		if err != nil {
			if err.Error() != "OOM command not allowed when used memory > 'maxmemory'." {
				t.Fatalf("SET %s: %v", key, err)
			}
			break
		}
		acked = append(acked, key)
		if i > 1000 {
			t.Fatal("1 MB written under maxmemory 256kb and no OOM")
		}
	}
	for _, n := range []*testcluster.Node{leader, follower} {
		// redis-cli prints an error and an empty line, as it does for redis-server.
		if got := n.RedisCLI(t, "SET", "more", "x"); got != "OOM command not allowed when used memory > 'maxmemory'.\n\n" {
			t.Fatalf("%s: redis-cli SET over the limit: %q", n.ID, got)
		}
		if got := n.RedisCLI(t, "GET", acked[0]); got != val+"\n" {
			t.Fatalf("%s: GET over the limit: %q", n.ID, got)
		}
	}
	keys := sameKeysEverywhere(t, c)
	if strings.Join(keys, ",") != strings.Join(sortedCopy(acked), ",") {
		t.Fatalf("after OOM the nodes hold %d keys, %d were acknowledged", len(keys), len(acked))
	}
	if got := follower.RedisCLI(t, "DEL", acked[0], acked[1]); got != "2\n" {
		t.Fatalf("DEL over the limit: %q", got)
	}
	if got := follower.RedisCLI(t, "SET", "more", "x"); got != "OK\n" {
		t.Fatalf("SET after DEL made room: %q", got)
	}
	sameKeysEverywhere(t, c)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// TestMaxmemoryWriterNeverStops: three real nodes with --maxmemory 16mb
// and allkeys-lru, writers on every node that never stop until 10 times
// the limit has been written. used_memory never passes the limit plus the
// eviction slack on any node, nothing is refused, the RSS of every node
// stays under twice the limit plus 128 MiB (the Go soft limit is 1.5 x
// + 64 MiB), and afterwards every node holds the same keys.
func TestMaxmemoryWriterNeverStops(t *testing.T) {
	skipShort(t)
	const limit = 16 << 20
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--maxmemory", "16mb", "--maxmemory-policy", "allkeys-lru"}})
	ctx := context.Background()
	testcluster.Eventually(t, "the start flags in the cluster's settings", func() error {
		for _, n := range c.Nodes {
			if got := n.Client().ConfigGet(ctx, "maxmemory-policy").Val()["maxmemory-policy"]; got != "allkeys-lru" {
				return fmt.Errorf("%s: policy %q", n.ID, got)
			}
		}
		return nil
	})
	w := startWriters(c, 20, 1000)
	var peakUsed, peakRSS int64
	for w.written.Load() < 10*limit {
		for _, n := range c.Nodes {
			cl := n.Client()
			peakUsed = max(peakUsed, infoField(t, cl, "memory", "used_memory"))
			peakRSS = max(peakRSS, infoField(t, cl, "memory", "used_memory_rss"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.stop()
	var evicted int64
	for _, n := range c.Nodes {
		cl := n.Client()
		peakUsed = max(peakUsed, infoField(t, cl, "memory", "used_memory_peak"))
		peakRSS = max(peakRSS, infoField(t, cl, "memory", "used_memory_rss"))
		evicted = infoField(t, cl, "stats", "evicted_keys")
	}
	t.Logf("wrote %d MB into maxmemory 16 MB on 3 nodes: %d refused, %d evicted, used_memory peak %d (%.2f of the limit), RSS peak %d MB",
		w.written.Load()>>20, w.refused.Load(), evicted, peakUsed, float64(peakUsed)/limit, peakRSS>>20)
	if slack := max(limit/16, 256<<10); peakUsed > limit+int64(slack) {
		t.Errorf("used_memory peaked at %d, over %d + %d", peakUsed, limit, slack)
	}
	if w.refused.Load() > 0 {
		t.Errorf("%d writes refused under allkeys-lru", w.refused.Load())
	}
	if peakRSS > 2*limit+128<<20 {
		t.Errorf("RSS peaked at %d MB", peakRSS>>20)
	}
	sameKeysEverywhere(t, c)
}

// writers are two clients on every node of a cluster that SET fresh keys
// in pipelines of batch, values of size bytes, until stop.
type writers struct {
	written, refused atomic.Int64 // bytes written; writes refused
	done             chan struct{}
	wg               sync.WaitGroup
}

func startWriters(c *testcluster.Cluster, batch, size int) *writers {
	ctx := context.Background()
	val := strings.Repeat("v", size)
	w := &writers{done: make(chan struct{})}
	for wn, n := range c.Nodes {
		for j := range 2 {
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				cl := n.NewClient()
				defer cl.Close()
				for i := 0; ; i++ {
					select {
					case <-w.done:
						return
					default:
					}
					p := cl.Pipeline()
					for k := range batch {
						p.Set(ctx, fmt.Sprintf("w%d.%d:%d:%d", wn, j, i, k), val, 0)
					}
					cmds, _ := p.Exec(ctx)
					for _, cmd := range cmds {
						if cmd.Err() != nil {
							w.refused.Add(1)
						} else {
							w.written.Add(int64(len(val)))
						}
					}
				}
			}()
		}
	}
	return w
}

func (w *writers) stop() {
	close(w.done)
	w.wg.Wait()
}
