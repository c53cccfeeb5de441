package systest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// Redis Cluster's face of the 3-node group: cluster-aware clients, used
// as their users use them, against statehouse processes.

// nodeID is the Redis Cluster node id of a statehouse node: the SHA-1 of
// its node id.
func nodeID(n *testcluster.Node) string {
	sum := sha1.Sum([]byte(n.ID))
	return hex.EncodeToString(sum[:])
}

// clusterClient is a go-redis ClusterClient seeded with one node's
// address (it finds the others in CLUSTER SLOTS), with the test timeouts
// and opts applied. go-redis reloads the slot map every minute by
// default; statehouse elects a new leader within seconds, so the map is
// reloaded every second, as the README advises.
func clusterClient(t *testing.T, seed *testcluster.Node, opts func(*redis.ClusterOptions)) *redis.ClusterClient {
	o := &redis.ClusterOptions{
		Addrs:                      []string{seed.Addr()},
		DialTimeout:                testcluster.DialTimeout,
		ReadTimeout:                testcluster.RequestTimeout,
		WriteTimeout:               testcluster.RequestTimeout,
		ClusterStateReloadInterval: time.Second,
	}
	if opts != nil {
		opts(o)
	}
	c := redis.NewClusterClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// commandsProcessed is a node's INFO total_commands_processed.
func commandsProcessed(t *testing.T, n *testcluster.Node) int {
	t.Helper()
	info, err := n.Client().Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatalf("INFO stats on %s: %v", n.ID, err)
	}
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			k, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO stats on %s: %q", n.ID, l)
			}
			return k
		}
	}
	t.Fatalf("INFO stats on %s has no total_commands_processed", n.ID)
	return 0
}

// Every node shows the same shard: the leader masters slots 0-16383, the
// followers are its replicas, each named by the SHA-1 of its node id;
// redis-cli --cluster check finds every slot covered.
// After the leader is killed, the survivors name the new one, and the
// dead node as a failed replica.
func TestClusterFaceOfThreeNodes(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	leader := c.Leader()

	// checkSlots: every node in nodes answers CLUSTER SLOTS with master
	// leader and the others of nodes as replicas.
	checkSlots := func(leader *testcluster.Node, nodes []*testcluster.Node) error {
		for _, n := range nodes {
			slots, err := n.Client().ClusterSlots(ctx).Result()
			if err != nil {
				return fmt.Errorf("CLUSTER SLOTS on %s: %w", n.ID, err)
			}
			if len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) != len(nodes) {
				return fmt.Errorf("CLUSTER SLOTS on %s: %+v", n.ID, slots)
			}
			if m := slots[0].Nodes[0]; m.Addr != leader.Addr() || m.ID != nodeID(leader) {
				return fmt.Errorf("CLUSTER SLOTS on %s names master %+v, want %s %s", n.ID, m, leader.Addr(), nodeID(leader))
			}
			want := map[string]string{}
			for _, o := range nodes {
				if o != leader {
					want[o.Addr()] = nodeID(o)
				}
			}
			for _, r := range slots[0].Nodes[1:] {
				if want[r.Addr] != r.ID {
					return fmt.Errorf("CLUSTER SLOTS on %s: replica %+v is not one of %v", n.ID, r, want)
				}
			}
		}
		return nil
	}
	testcluster.Eventually(t, "every node's CLUSTER SLOTS names the leader and its two replicas", func() error {
		return checkSlots(leader, c.Nodes)
	})
	for _, n := range c.Nodes {
		if id, err := n.Client().Do(ctx, "CLUSTER", "MYID").Text(); err != nil || id != nodeID(n) {
			t.Fatalf("CLUSTER MYID on %s = %q, %v; want %s", n.ID, id, err, nodeID(n))
		}
		info, err := n.Client().ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok\r\n") || !strings.Contains(info, "cluster_known_nodes:3\r\n") {
			t.Fatalf("CLUSTER INFO on %s: %q, %v", n.ID, info, err)
		}
		shards, err := n.Client().ClusterShards(ctx).Result()
		if err != nil || len(shards) != 1 || len(shards[0].Nodes) != 3 || shards[0].Nodes[0].ID != nodeID(leader) ||
			shards[0].Nodes[0].Role != "master" || shards[0].Nodes[1].Role != "replica" {
			t.Fatalf("CLUSTER SHARDS on %s: %+v, %v", n.ID, shards, err)
		}
	}

	// redis-cli's own cluster checker, asked on a follower, agrees.
	if _, err := exec.LookPath("redis-cli"); err == nil {
		f := c.Followers(leader)[0]
		r := testcluster.RunRedisCLI(t, f.Addr(), "", "--cluster", "check", f.Addr())
		for _, want := range []string{"M: " + nodeID(leader) + " " + leader.Addr(), "2 additional replica(s)",
			"[OK] All nodes agree about slots configuration.", "[OK] All 16384 slots covered."} {
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, want) {
				t.Fatalf("redis-cli --cluster check: exit %d, no %q in:\n%s%s", r.ExitCode, want, r.Stdout, r.Stderr)
			}
		}
	}

	leader.Kill()
	next := c.WaitForNewLeader(leader)
	survivors := c.Followers(leader)
	testcluster.Eventually(t, "the survivors' CLUSTER SLOTS name the new leader and leave the dead node out", func() error {
		return checkSlots(next, survivors)
	})
	for _, n := range survivors {
		nodes, err := n.Client().ClusterNodes(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER NODES on %s: %v", n.ID, err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(nodes, "\n"), "\n") {
			f := strings.Fields(line)
			if len(f) < 8 {
				t.Fatalf("CLUSTER NODES on %s: line %q", n.ID, line)
			}
			switch f[0] {
			case nodeID(next):
				if !strings.Contains(f[2], "master") || f[3] != "-" || len(f) != 9 || f[8] != "0-16383" {
					t.Errorf("CLUSTER NODES on %s: the leader's line %q", n.ID, line)
				}
			case nodeID(leader):
				if f[2] != "slave,fail" || f[3] != nodeID(next) || f[7] != "disconnected" {
					t.Errorf("CLUSTER NODES on %s: the dead node's line %q", n.ID, line)
				}
			}
		}
	}
}

// go-redis's ClusterClient, as it is configured for Redis Cluster, writes
// and reads many keys through statehouse; with ReadOnly its reads go to
// the followers (INFO's total_commands_processed counts them), without it
// to the leader.
func TestClusterClients(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	leader := c.Leader()
	followers := c.Followers(leader)

	for _, tc := range []struct {
		name string
		opts func(*redis.ClusterOptions)
	}{
		{"plain", nil},
		{"ReadOnly", func(o *redis.ClusterOptions) { o.ReadOnly = true }},
		{"RouteByLatency", func(o *redis.ClusterOptions) { o.RouteByLatency = true }},
		{"RouteRandomly", func(o *redis.ClusterOptions) { o.RouteRandomly = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clusterClient(t, followers[0], tc.opts)
			for i := range 200 {
				k, v := fmt.Sprintf("%s:{user%d}:session", tc.name, i), fmt.Sprintf("v%d", i)
				if err := cc.Set(ctx, k, v, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
				// READONLY reads are local, possibly stale: a replica
				// that has not applied the write yet answers nil.
				testcluster.Eventually(t, "GET "+k+" through the ClusterClient", func() error {
					got, err := cc.Get(ctx, k).Result()
					if err != nil || got != v {
						return fmt.Errorf("GET %s = %q, %v", k, got, err)
					}
					return nil
				})
			}
			for _, n := range c.Nodes {
				if got, err := n.Client().Get(ctx, fmt.Sprintf("%s:{user%d}:session", tc.name, 199)).Result(); err != nil || got != "v199" {
					t.Fatalf("GET on %s of the ClusterClient's last write: %q, %v", n.ID, got, err)
				}
			}
		})
	}

	// Where the reads go: each of reads GETs is counted where it runs.
	spread := func(readOnly bool) map[*testcluster.Node]int {
		cc := clusterClient(t, leader, func(o *redis.ClusterOptions) { o.ReadOnly = readOnly })
		if err := cc.Set(ctx, "spread", "x", 0).Err(); err != nil { // loads the slot map
			t.Fatal(err)
		}
		before := map[*testcluster.Node]int{}
		for _, n := range c.Nodes {
			before[n] = commandsProcessed(t, n)
		}
		for range reads {
			if err := cc.Get(ctx, "spread").Err(); err != nil && !errors.Is(err, redis.Nil) {
				t.Fatal(err)
			}
		}
		delta := map[*testcluster.Node]int{}
		for _, n := range c.Nodes {
			delta[n] = commandsProcessed(t, n) - before[n]
		}
		return delta
	}
	d := spread(true)
	t.Logf("ReadOnly: %d GETs ran: leader %d, followers %d and %d commands", reads, d[leader], d[followers[0]], d[followers[1]])
	if d[leader] >= reads/4 || d[followers[0]] < reads/10 || d[followers[1]] < reads/10 || d[followers[0]]+d[followers[1]] < reads {
		t.Errorf("ReadOnly ClusterClient: commands per node for %d GETs: leader %d, followers %d and %d; want the GETs on the followers",
			reads, d[leader], d[followers[0]], d[followers[1]])
	}
	d = spread(false)
	t.Logf("without ReadOnly: %d GETs ran: leader %d, followers %d and %d commands", reads, d[leader], d[followers[0]], d[followers[1]])
	if d[leader] < reads || d[followers[0]] >= reads/4 || d[followers[1]] >= reads/4 {
		t.Errorf("ClusterClient without ReadOnly: commands per node for %d GETs: leader %d, followers %d and %d; want the GETs on the leader",
			reads, d[leader], d[followers[0]], d[followers[1]])
	}
}

// reads is how many GETs TestClusterClients counts.
const reads = 300

// A ReadOnly ClusterClient goes on through a leader kill: its writes fail
// for a while (go-redis retries MOVED and CLUSTERDOWN itself), then reach
// the new leader; every write it acknowledged is on every node after.
func TestClusterClientThroughLeaderKill(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	leader := c.Leader()
	cc := clusterClient(t, c.Followers(leader)[0], func(o *redis.ClusterOptions) { o.ReadOnly = true })

	var (
		mu    sync.Mutex
		acked []string
		errs  = map[string]int{}
	)
	ackedCount := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d:%d", w, i)
				err := cc.Set(ctx, k, "x", 0).Err()
				mu.Lock()
				if err == nil {
					acked = append(acked, k)
				} else {
					msg, _, _ := strings.Cut(err.Error(), " ")
					errs[msg]++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(10 * time.Millisecond) // pacing: back off after an error
				}
			}
		}()
	}
	waitAcked := func(what string, n int) {
		t.Helper()
		from := ackedCount()
		testcluster.EventuallyWithin(t, testcluster.LeaderTimeout+testcluster.ConditionTimeout, what, func() error {
			if got := ackedCount() - from; got < n {
				return fmt.Errorf("%d of %d writes acknowledged", got, n)
			}
			return nil
		})
	}
	waitAcked("writes through the ClusterClient before the kill", 100)
	killed := time.Now()
	leader.Kill()
	next := c.WaitForNewLeader(leader)
	waitAcked("writes through the ClusterClient after the kill", 100)
	t.Logf("killed leader %s; the ClusterClient wrote to %s again within %v", leader.ID, next.ID, time.Since(killed))
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged; errors the client saw, by first word: %v", len(acked), errs)

	for _, n := range c.Followers(leader) {
		got, err := mget(ctx, n.Client(), acked)
		if err != nil {
			t.Fatalf("MGET on %s: %v", n.ID, err)
		}
		var missing []string
		for i, v := range got {
			if v != "x" {
				missing = append(missing, acked[i])
			}
		}
		if len(missing) > 0 {
			t.Fatalf("%d acknowledged writes missing on %s: %v", len(missing), n.ID, missing[:min(len(missing), 10)])
		}
	}
}

// A follower answers a keyed write on a READONLY connection with MOVED to
// the leader, as a Redis Cluster replica does, and forwards it on a plain
// connection. A write without a key, and reads, are not redirected.
func TestMovedOnReadonlyConnections(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	leader := c.Leader()
	f := c.Followers(leader)[0]

	ro := f.NewClient()
	defer ro.Close()
	conn := ro.Conn()
	defer conn.Close()
	if err := conn.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	moved := fmt.Sprintf("MOVED 12182 %s", leader.Addr()) // foo's slot
	if err := conn.Set(ctx, "foo", "1", 0).Err(); err == nil || err.Error() != moved {
		t.Fatalf("SET on a READONLY connection to a follower: %v, want %s", err, moved)
	}
	if err := f.Client().Set(ctx, "foo", "2", 0).Err(); err != nil {
		t.Fatalf("SET on a plain connection to a follower (forwarded): %v", err)
	}
	if got, err := conn.Get(ctx, "foo").Result(); err != nil || got != "2" {
		t.Fatalf("GET on the READONLY connection: %q, %v", got, err)
	}
	// MOVED while queuing aborts the transaction, as in Redis.
	_, err := conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "foo", "3", 0)
		return nil
	})
	if err == nil || !strings.HasPrefix(err.Error(), "EXECABORT") {
		t.Fatalf("MULTI SET EXEC on the READONLY connection: %v, want EXECABORT", err)
	}
	if err := conn.Do(ctx, "FLUSHDB").Err(); err != nil {
		t.Fatalf("FLUSHDB (no key) on the READONLY connection: %v", err)
	}
	if err := conn.ReadWrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := conn.Set(ctx, "foo", "4", 0).Err(); err != nil {
		t.Fatalf("SET after READWRITE (forwarded): %v", err)
	}

	// MOVED names the current leader.
	leader.Kill()
	next := c.WaitForNewLeader(leader)
	for _, n := range c.Followers(leader) {
		if n == next {
			continue
		}
		cl := n.NewClient()
		defer cl.Close()
		if err := cl.ReadOnly(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		testcluster.Eventually(t, "MOVED names the new leader", func() error {
			err := cl.Set(ctx, "{foo}", "5", 0).Err()
			if err == nil || err.Error() != "MOVED 12182 "+next.Addr() {
				return fmt.Errorf("SET on %s after READONLY: %v", n.ID, err)
			}
			return nil
		})
	}
}

// With --follower-writes refuse a follower answers every keyed write with
// MOVED (and one without a key with READONLY): redis-cli -c follows it to
// the leader; without -c it prints it.
func TestRedisCLIFollowsMovedFromARefusingFollower(t *testing.T) {
	skipShort(t)
	testcluster.NeedTool(t, "redis-cli")
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--follower-writes", "refuse"}})
	leader := c.Leader()
	f := c.Followers(leader)[0]

	if got := f.RedisCLI(t, "-c", "SET", "cart:7", "3 items"); got != "OK\n" {
		t.Fatalf("redis-cli -c SET on a refusing follower: %q", got)
	}
	if got := f.RedisCLI(t, "-c", "GET", "cart:7"); got != "3 items\n" {
		t.Fatalf("redis-cli -c GET on the follower: %q", got)
	}
	want := fmt.Sprintf("MOVED 15495 %s\n\n", leader.Addr()) // the slot of {a}
	if got := f.RedisCLI(t, "SET", "{a}b", "1"); got != want {
		t.Fatalf("redis-cli SET on a refusing follower: %q, want %q", got, want)
	}
	if got := f.RedisCLI(t, "FLUSHALL"); got != "READONLY You can't write against a read only replica.\n\n" {
		t.Fatalf("redis-cli FLUSHALL on a refusing follower: %q", got)
	}
	// A transaction is refused at EXEC, with the MOVED of its first key.
	if got := f.RedisCLIStdin(t, "MULTI\nSET {a}b 2\nEXEC\n"); got != "OK\nQUEUED\n"+want {
		t.Fatalf("redis-cli MULTI on a refusing follower: %q", got)
	}
	// Commands read from stdin: redis-cli -c says where MOVED took it,
	// and stays there.
	redirected := fmt.Sprintf("-> Redirected to slot [15495] located at %s\nOK\n1\n3\n", leader.Addr())
	if got := f.RedisCLIStdin(t, "SET {a}b 3\nINCR {a}c\nGET {a}b\n", "-c"); got != redirected {
		t.Fatalf("redis-cli -c with commands on stdin, on a refusing follower: %q, want %q", got, redirected)
	}
}

// redis-benchmark --cluster reads CLUSTER NODES and stops, as it does
// against a Redis Cluster of one master: it wants two masters or more,
// and statehouse is one shard. Without --cluster it runs to the end
// against a follower, which forwards its writes.
func TestRedisBenchmarkAgainstTheShard(t *testing.T) {
	skipShort(t)
	bin := testcluster.NeedTool(t, "redis-benchmark")
	c := testcluster.Start(t, 3, testcluster.Options{})
	f := c.Followers(c.Leader())[0]
	run := func(addr string, args ...string) (string, error) {
		host, port, _ := strings.Cut(addr, ":")
		ctx, cancel := context.WithTimeout(context.Background(), testcluster.ToolTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
		return string(out), err
	}
	redisOut, redisErr := run(testcluster.StartRedisCluster(t), "--cluster", "-t", "set,get", "-n", "2000", "-q")
	ours, err := run(f.Addr(), "--cluster", "-t", "set,get", "-n", "2000", "-q")
	if err == nil || redisErr == nil || ours != redisOut || !strings.Contains(ours, "Invalid cluster: 1 node(s).") {
		t.Fatalf("redis-benchmark --cluster: statehouse %q (%v), a one-master redis-server cluster %q (%v)", ours, err, redisOut, redisErr)
	}
	out, err := run(f.Addr(), "-t", "set,get", "-n", "2000", "-q")
	if err != nil || !strings.Contains(out, "SET:") || !strings.Contains(out, "GET:") || strings.Contains(out, "ERR") {
		t.Fatalf("redis-benchmark against a follower: %v\n%s", err, out)
	}
}
