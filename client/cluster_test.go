package client_test

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

func TestMain(m *testing.M) { testcluster.Main(m) }

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster of real processes")
	}
}

func addrs(c *testcluster.Cluster) []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// newClient connects to the cluster through one node only: the others
// are learned from it.
func newClient(t *testing.T, seeds []string, opts ...client.Option) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	opts = append([]client.Option{client.WithRetryTimeout(testcluster.LeaderTimeout)}, opts...)
	cl, err := client.New(ctx, seeds, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// The client finds the leader and every node from any one node.
func TestTopologyFromAnyNode(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	for _, seed := range c.Followers(leader) {
		cl := newClient(t, []string{seed.Addr()})
		got, nodes := cl.Topology()
		if got != leader.Addr() || len(nodes) != 3 {
			t.Errorf("through %s: leader %q, nodes %v; want leader %s and 3 nodes", seed.ID, got, nodes, leader.Addr())
		}
		if cl.Leader().Options().Addr != leader.Addr() {
			t.Errorf("Leader() is %s", cl.Leader().Options().Addr)
		}
	}
}

// commandsProcessed is INFO stats' total_commands_processed of a node.
func commandsProcessed(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	info, err := n.Client().Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
			k, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("%s: no total_commands_processed in INFO stats", n.ID)
	return 0
}

// Reads are spread over the followers, and each reads the write just
// acknowledged: linearizable on every node by default.
func TestReadsSpreadAndSeeTheLastWrite(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, addrs(c))
	ctx := context.Background()
	before := map[*testcluster.Node]int{}
	for _, n := range c.Nodes {
		before[n] = commandsProcessed(t, n)
	}
	const rounds = 100
	readers := map[string]int{}
	for i := range rounds {
		v := strconv.Itoa(i)
		if err := cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
			return rdb.Set(ctx, "session:1", v, 0).Err()
		}); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		var got string
		if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
			readers[rdb.Options().Addr]++
			var err error
			got, err = rdb.Get(ctx, "session:1").Result()
			return err
		}); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got != v {
			t.Fatalf("read after write %d on %v got %q", i, readers, got)
		}
	}
	if readers[leader.Addr()] != 0 || len(readers) != 2 {
		t.Errorf("reads went to %v; want the two followers only (leader %s)", readers, leader.Addr())
	}
	// The nodes agree: each follower served its half of the reads (and
	// the leader took the writes and the client's topology reads).
	for _, f := range c.Followers(leader) {
		if got := commandsProcessed(t, f) - before[f]; got < rounds/2 {
			t.Errorf("%s processed %d commands; want at least %d reads", f.ID, got, rounds/2)
		}
	}
	if got := commandsProcessed(t, leader) - before[leader]; got < rounds {
		t.Errorf("leader %s processed %d commands; want at least the %d writes", leader.ID, got, rounds)
	}
}

// Kill -9 the leader while writers INCR their counters through the
// client: writes go on through the new leader; the only errors that reach
// a writer are uncertain ones (everything that certainly did not apply
// was retried); and no uncertain INCR was sent again, which each counter
// shows: acknowledged <= value <= acknowledged + uncertain.
func TestWritesGoOnWhenTheLeaderIsKilled(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, addrs(c))
	ctx := context.Background()

	const writers = 6
	type tally struct {
		acked, uncertain atomic.Int64
		mu               sync.Mutex
		others           []error
	}
	tallies := make([]*tally, writers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		tl := &tally{}
		tallies[w] = tl
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("counter:%d", w)
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
					return rdb.Incr(ctx, key).Err()
				})
				switch {
				case err == nil:
					tl.acked.Add(1)
				case errors.Is(err, client.ErrUncertain):
					tl.uncertain.Add(1)
				default:
					tl.mu.Lock()
					tl.others = append(tl.others, err)
					tl.mu.Unlock()
				}
			}
		}()
	}
	waitAcked := func(what string, n int64) {
		t.Helper()
		from := make([]int64, writers)
		for w, tl := range tallies {
			from[w] = tl.acked.Load()
		}
		testcluster.Eventually(t, what, func() error {
			for w, tl := range tallies {
				if got := tl.acked.Load() - from[w]; got < n {
					return fmt.Errorf("writer %d: %d of %d writes acknowledged", w, got, n)
				}
			}
			return nil
		})
	}
	waitAcked("writes before the kill", 20)
	leader.Kill()
	next := c.WaitForNewLeader(leader)
	waitAcked("writes after the kill", 20)
	close(stop)
	wg.Wait()

	testcluster.Eventually(t, "the client follows the new leader", func() error {
		if got, _ := cl.Topology(); got != next.Addr() {
			return fmt.Errorf("client's leader is %q, want %s", got, next.Addr())
		}
		return nil
	})
	var uncertain int64
	for w, tl := range tallies {
		for _, err := range tl.others {
			t.Errorf("writer %d: %v (outcome %v): only uncertain errors should reach a writer", w, err, client.Classify(err))
		}
		var v int64
		if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
			var err error
			v, err = rdb.Get(ctx, fmt.Sprintf("counter:%d", w)).Int64()
			return err
		}); err != nil {
			t.Fatal(err)
		}
		acked, unc := tl.acked.Load(), tl.uncertain.Load()
		uncertain += unc
		if v < acked || v > acked+unc {
			t.Errorf("writer %d: counter %d, acknowledged %d, uncertain %d: want acknowledged <= counter <= acknowledged + uncertain", w, v, acked, unc)
		}
	}
	t.Logf("uncertain writes: %d; client stats: %+v", uncertain, cl.Stats())
}

// A write sent to a leader that stops answering (paused) times out: its
// outcome is unknown, so it is reported as uncertain after one attempt,
// never sent again, and the counter can only be 0 or 1 once the old
// leader runs again.
func TestUncertainWriteIsNotRetried(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, []string{leader.Addr()}, client.WithReadFrom(client.ReadLeader),
		client.WithRedisOptions(func(o *redis.Options) { o.ReadTimeout = 500 * time.Millisecond }))
	ctx := context.Background()
	// A connection to the leader is open before it pauses.
	if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error { return rdb.Ping(ctx).Err() }); err != nil {
		t.Fatal(err)
	}
	leader.Pause()
	err := cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Incr(ctx, "counter").Err()
	})
	var ce *client.Error
	if !errors.Is(err, client.ErrUncertain) || !errors.As(err, &ce) || ce.Attempts != 1 {
		t.Fatalf("INCR on a paused leader: %v; want an uncertain error after 1 attempt", err)
	}
	t.Logf("INCR on the paused leader: %v", err)
	next := c.WaitForNewLeader(leader)
	leader.Resume()
	leader.WaitWritable()
	// Reads on the paused node are retried elsewhere meanwhile; once it
	// is back every node agrees on one value.
	var v int64
	if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		var err error
		v, err = rdb.Get(ctx, "counter").Int64()
		if errors.Is(err, redis.Nil) {
			v, err = 0, nil
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if v > 1 {
		t.Fatalf("counter is %d after one uncertain INCR: it was sent again", v)
	}
	t.Logf("the uncertain INCR applied: %v (new leader %s)", v == 1, next.ID)
}

// Concurrent optimistic transactions through Watch lose no increment.
func TestWatchTransactions(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	cl := newClient(t, addrs(c))
	ctx := context.Background()
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				for {
					err := cl.Watch(ctx, func(tx *redis.Tx) error {
						n, err := tx.Get(ctx, "cas").Int()
						if err != nil && !errors.Is(err, redis.Nil) {
							return err
						}
						_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
							p.Set(ctx, "cas", n+1, 0)
							return nil
						})
						return err
					}, "cas")
					if errors.Is(err, redis.TxFailedErr) {
						continue // another worker's write came first
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := cl.Do(ctx, "GET", "cas").Int()
	if err != nil || got != workers*each {
		t.Fatalf("GET cas = %d, %v; want %d", got, err, workers*each)
	}
}

// With its followers paused the leader loses its quorum and answers
// CLUSTERDOWN: certainly not applied, so a write is sent again until the
// followers are back, and then applies once.
func TestWriteRetriedWhileNoLeader(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, addrs(c))
	ctx := context.Background()
	followers := c.Followers(leader)
	for _, f := range followers {
		f.Pause()
	}
	testcluster.Eventually(t, "the leader without its quorum answers CLUSTERDOWN", func() error {
		err := leader.Client().Set(ctx, "probe", "x", 0).Err()
		if err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
			return fmt.Errorf("SET on the old leader: %v", err)
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		done <- cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
			return rdb.Incr(ctx, "counter").Err()
		})
	}()
	testcluster.Eventually(t, "the client retries the refused write", func() error {
		if s := cl.Stats(); s.Retries < 2 {
			return fmt.Errorf("stats %+v", s)
		}
		return nil
	})
	for _, f := range followers {
		f.Resume()
	}
	if err := <-done; err != nil {
		t.Fatalf("INCR while the cluster had no leader: %v", err)
	}
	got, err := cl.Do(ctx, "GET", "counter").Int()
	if err != nil || got != 1 {
		t.Fatalf("counter = %d, %v after one INCR; want 1", got, err)
	}
	t.Logf("client stats: %+v", cl.Stats())
}

// WithStaleReads reads on READONLY connections of the followers (a write
// there is redirected to the leader), and reads what was written once the
// follower has applied it.
func TestStaleReads(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, addrs(c), client.WithStaleReads(5*time.Second))
	ctx := context.Background()
	if err := cl.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, "both followers serve stale reads of the write", func() error {
		seen := map[string]bool{}
		for range 4 {
			var rdb *redis.Client
			var got string
			err := cl.Read(ctx, func(ctx context.Context, r *redis.Client) error {
				rdb = r
				var err error
				got, err = r.Get(ctx, "k").Result()
				return err
			})
			if err != nil || got != "v" {
				return fmt.Errorf("GET k on %s: %q, %v", rdb.Options().Addr, got, err)
			}
			if rdb.Options().Addr == leader.Addr() {
				return testcluster.Stop(fmt.Errorf("a read went to the leader"))
			}
			err = rdb.Set(ctx, "k", "w", 0).Err()
			if err == nil || !strings.HasPrefix(err.Error(), "MOVED ") {
				return testcluster.Stop(fmt.Errorf("SET on the read connection of %s: %v; want MOVED (a READONLY connection)", rdb.Options().Addr, err))
			}
			seen[rdb.Options().Addr] = true
		}
		if len(seen) != 2 {
			return fmt.Errorf("reads went to %v", seen)
		}
		return nil
	})
}

// A read on a follower that stopped answering (paused) is sent to
// another node: a read may always be sent again.
func TestReadRetriedOnAnotherNode(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	cl := newClient(t, addrs(c), client.WithRedisOptions(func(o *redis.Options) { o.ReadTimeout = 500 * time.Millisecond }))
	ctx := context.Background()
	if err := cl.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatal(err)
	}
	paused := c.Followers(leader)[0]
	paused.Pause()
	defer paused.Resume()
	for i := range 4 { // the followers in turn: the paused one comes up
		got, err := cl.Do(ctx, "GET", "k").Text()
		if err != nil || got != "v" {
			t.Fatalf("read %d with %s paused: %q, %v", i, paused.ID, got, err)
		}
	}
	if s := cl.Stats(); s.Retries == 0 {
		t.Errorf("no read was retried (stats %+v): none went to the paused follower?", s)
	}
}

// Against a plain redis-server (not a cluster: CLUSTER SLOTS is refused)
// the client learns the topology from ROLE and sends everything to the
// master, whose replicas could be stale.
func TestPlainRedisServer(t *testing.T) {
	skipShort(t)
	addr := testcluster.StartRedis(t)
	cl := newClient(t, []string{addr})
	if leader, nodes := cl.Topology(); leader != addr || len(nodes) != 1 {
		t.Fatalf("topology of a lone redis-server: %q, %v", leader, nodes)
	}
	ctx := context.Background()
	if err := cl.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatal(err)
	}
	var from string
	if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		from = rdb.Options().Addr
		return rdb.Get(ctx, "k").Err()
	}); err != nil || from != addr {
		t.Fatalf("read on %s: %v", from, err)
	}
}

// Leadership handed to another node: the client's next write goes to the
// old leader, which (refusing follower writes) answers MOVED; the client
// reads the topology again and sends the write to the new leader.
func TestMovedRefreshesTheTopology(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--follower-writes", "refuse"}})
	old := c.Leader()
	// No periodic refresh: only the MOVED can tell the client.
	cl := newClient(t, addrs(c), client.WithRefreshInterval(time.Hour))
	ctx := context.Background()
	if err := old.Client().Do(ctx, "RAFT", "TRANSFER-LEADER").Err(); err != nil {
		t.Fatalf("RAFT TRANSFER-LEADER: %v", err)
	}
	next := c.WaitForNewLeader(old)
	if leader, _ := cl.Topology(); leader != old.Addr() {
		t.Fatalf("the client learned of the new leader before any write: %s", leader)
	}
	if err := cl.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatalf("SET after the leader changed: %v", err)
	}
	if leader, _ := cl.Topology(); leader != next.Addr() {
		t.Errorf("after a MOVED the client's leader is %s, want %s", leader, next.Addr())
	}
	if s := cl.Stats(); s.Retries == 0 {
		t.Errorf("stats %+v: the write was not retried after its MOVED", s)
	}
}

// WithAddrMap: the client dials the nodes at the addresses the map gives
// for those they announce (here "localhost:port" for "127.0.0.1:port").
func TestAddrMap(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	viaName := func(a string) string { return strings.Replace(a, "127.0.0.1:", "localhost:", 1) }
	cl := newClient(t, []string{c.Nodes[0].Addr()}, client.WithAddrMap(viaName))
	got, nodes := cl.Topology()
	if got != viaName(leader.Addr()) || len(nodes) != 3 {
		t.Fatalf("topology %s %v; want the leader as %s", got, nodes, viaName(leader.Addr()))
	}
	ctx := context.Background()
	if err := cl.Do(ctx, "SET", "k", "v").Err(); err != nil {
		t.Fatal(err)
	}
	var from string
	if err := cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
		from = rdb.Options().Addr
		return rdb.Get(ctx, "k").Err()
	}); err != nil || !strings.HasPrefix(from, "localhost:") {
		t.Fatalf("read on %s: %v", from, err)
	}
}
