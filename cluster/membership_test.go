package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// gossipConfig is a node with gossip on loopback that joins the nodes at
// join.
func gossipConfig(t testing.TB, id, secret string, expect int, join []string, logs io.Writer) Config {
	if logs == nil {
		logs = io.Discard
	}
	return Config{
		NodeID:              id,
		DataDir:             t.TempDir(),
		PeerAddr:            freeAddr(t),
		GossipAddr:          freeAddr(t),
		Join:                join,
		BootstrapExpect:     expect,
		Secret:              secret,
		Logger:              slog.New(slog.NewTextHandler(logs, nil)),
		HeartbeatTimeout:    400 * time.Millisecond,
		ElectionTimeout:     400 * time.Millisecond,
		GossipFast:          true,
		ServerStabilization: time.Second,
		DeadServerGrace:     2 * time.Second,
	}
}

func openGossip(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := Open(cfg, fsm.New())
	if err != nil {
		t.Fatalf("open %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}

// voters is a node's Raft configuration: ids of voters and of non-voters.
func voters(n *Node) (vs, nonvoters []string) {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return nil, nil
	}
	for _, s := range fut.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			vs = append(vs, string(s.ID))
		} else {
			nonvoters = append(nonvoters, string(s.ID))
		}
	}
	slices.Sort(vs)
	slices.Sort(nonvoters)
	return vs, nonvoters
}

// oneCluster waits until every node sees the same leader, one of them,
// and a configuration of want voters.
func oneCluster(t testing.TB, nodes []*Node, want []string) *Node {
	t.Helper()
	var leader *Node
	testcluster.Eventually(t, fmt.Sprint("one cluster of ", want), func() error {
		leader = nil
		for _, n := range nodes {
			if n.raft.State() == raft.Leader && n.ready.Load() {
				if leader != nil {
					return errors.New("two leaders")
				}
				leader = n
			}
		}
		if leader == nil {
			return errors.New("no ready leader")
		}
		for _, n := range nodes {
			if _, id := n.raft.LeaderWithID(); string(id) != leader.cfg.NodeID {
				return fmt.Errorf("%s follows %q, not %s", n.cfg.NodeID, id, leader.cfg.NodeID)
			}
			if vs, _ := voters(n); !slices.Equal(vs, want) {
				return fmt.Errorf("%s: voters %v", n.cfg.NodeID, vs)
			}
		}
		return nil
	})
	return leader
}

// Nodes started with --bootstrap-expect 3, in any order and joining any
// one of them, form exactly one cluster of the three, every time.
func TestBootstrapExpectFormsOneCluster(t *testing.T) {
	rng := rand.New(rand.NewSource(int64(testcluster.Seed(t))))
	for run := range 4 {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			var cfgs []Config
			var gossipAddrs []string
			for i := range 3 {
				cfgs = append(cfgs, gossipConfig(t, fmt.Sprint("n", i+1), "s3cret", 3, nil, nil))
				gossipAddrs = append(gossipAddrs, cfgs[i].GossipAddr)
			}
			for i := range cfgs { // each joins one other, chosen at random
				cfgs[i].Join = []string{gossipAddrs[(i+1+rng.Intn(2))%3]}
			}
			order := rng.Perm(3)
			nodes := make([]*Node, 3)
			var wg sync.WaitGroup
			for _, i := range order {
				wg.Add(1)
				delay := time.Duration(rng.Intn(300)) * time.Millisecond // drawn here: rng is not safe across goroutines
				go func() {
					defer wg.Done()
					time.Sleep(delay)
					nodes[i] = openGossip(t, cfgs[i])
				}()
				time.Sleep(time.Duration(rng.Intn(200)) * time.Millisecond)
			}
			wg.Wait()
			for i, n := range nodes {
				if n == nil {
					t.Fatalf("n%d did not open", i+1) // openGossip said why
				}
			}
			leader := oneCluster(t, nodes, []string{"n1", "n2", "n3"})
			for _, n := range nodes {
				// A new cluster may still move its leadership (a founding node
				// demoted and promoted again): a forwarded SET caught in that
				// is written again, as a client would.
				testcluster.Eventually(t, n.cfg.NodeID+" takes a write", func() error {
					return trySet(n, "k", n.cfg.NodeID)
				})
			}
			if got := readOwn(t, leader, "k"); !strings.Contains(got, "n") {
				t.Fatalf("k = %q", got)
			}
			// A founding node that got its configuration from a peer before
			// it saw every other looks like a node back empty, and may lose
			// its vote until it has caught up: the cluster ends whole.
			testcluster.Eventually(t, "three voters, each voting", func() error {
				for _, n := range nodes {
					if vs, _ := voters(n); len(vs) != 3 || !n.votes.mayVote() {
						return fmt.Errorf("%s: voters %v, may vote %v", n.cfg.NodeID, vs, n.votes.mayVote())
					}
				}
				return nil
			})
		})
	}
}

// threeByGossip forms a three-node cluster by gossip.
func threeByGossip(t testing.TB, logs io.Writer, mut ...func(*Config)) ([]*Node, *Node) {
	first := gossipConfig(t, "n1", "s3cret", 3, nil, logs)
	cfgs := []Config{first,
		gossipConfig(t, "n2", "s3cret", 3, []string{first.GossipAddr}, logs),
		gossipConfig(t, "n3", "s3cret", 3, []string{first.GossipAddr}, logs)}
	var nodes []*Node
	for _, c := range cfgs {
		for _, m := range mut {
			m(&c)
		}
		nodes = append(nodes, openGossip(t, c))
	}
	return nodes, oneCluster(t, nodes, []string{"n1", "n2", "n3"})
}

// A fourth node started with --join only is added by the leader as a
// non-voter, promoted to voter once it has caught up and stayed healthy,
// and serves what was written before it came.
func TestNewNodeJoinsAsNonVoterThenVotes(t *testing.T) {
	nodes, leader := threeByGossip(t, nil)
	set(t, leader, "before", "1")
	n4 := openGossip(t, gossipConfig(t, "n4", "s3cret", 0, []string{nodes[1].cfg.GossipAddr}, nil))
	testcluster.Eventually(t, "n4 in the configuration", func() error {
		vs, nv := voters(leader)
		if !slices.Contains(vs, "n4") && !slices.Contains(nv, "n4") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		return nil
	})
	testcluster.Eventually(t, "n4 promoted to voter", func() error {
		if vs, nv := voters(leader); !slices.Contains(vs, "n4") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		return nil
	})
	if got := readOwn(t, n4, "before"); got != "$1\r\n1\r\n" {
		t.Fatalf("n4 reads before = %q", got)
	}
	set(t, n4, "after", "4")
}

// A server dead for longer than the grace period is removed, and the
// cluster keeps its quorum; autopilot never removes below the size it was
// formed with.
func TestDeadServerRemovedAfterGrace(t *testing.T) {
	nodes, leader := threeByGossip(t, nil)
	n4 := openGossip(t, gossipConfig(t, "n4", "s3cret", 0, []string{nodes[0].cfg.GossipAddr}, nil))
	oneCluster(t, append(slices.Clone(nodes), n4), []string{"n1", "n2", "n3", "n4"})
	n4.Shutdown() // as a crash: no word to the others
	// Gossip must first declare it dead (seconds, more under the race
	// detector), then the grace runs, then an autopilot round removes it.
	testcluster.EventuallyWithin(t, time.Minute, "n4 removed", func() error {
		if vs, nv := voters(leader); slices.Contains(vs, "n4") || slices.Contains(nv, "n4") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		return nil
	})
	set(t, leader, "after", "1")

	var dead *Node
	for _, n := range nodes {
		if n != leader {
			dead = n
			break
		}
	}
	dead.Shutdown()
	deadline := time.Now().Add(3 * (2 * time.Second)) // well past the grace
	for time.Now().Before(deadline) {
		if vs, _ := voters(leader); len(vs) != 3 {
			t.Fatalf("voters %v: removed below the size the cluster formed with", vs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	set(t, leader, "still", "1")
}

// A leader that leaves (SIGTERM, --leave-on-terminate) hands leadership on
// first: writes through the other nodes go on without a failure, and it
// is out of the configuration afterwards.
func TestLeaderLeavesWithoutFailingWrites(t *testing.T) {
	// A write waits up to two election timeouts for a leader; the race
	// detector on a busy two-core machine has taken over 2 s to elect the
	// new one, so this test gives elections 2 s.
	nodes, leader := threeByGossip(t, nil, func(c *Config) { c.HeartbeatTimeout, c.ElectionTimeout = time.Second, 2*time.Second })
	var others []*Node
	for _, n := range nodes {
		if n != leader {
			others = append(others, n)
		}
	}
	// Several writers per node keep entries in flight at the leader when
	// it hands off: none of them may come back uncertain.
	stop := startWriters(others, 4*len(others))
	time.Sleep(300 * time.Millisecond) // writes under way
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.Leave(ctx, true); err != nil {
		t.Fatalf("leave: %v", err)
	}
	leader.Shutdown()
	time.Sleep(500 * time.Millisecond) // writes go on under the new leader
	for _, err := range stop() {
		t.Errorf("a write failed while the leader left: %v", err)
	}
	var want []string
	for _, n := range others {
		want = append(want, n.cfg.NodeID)
	}
	oneCluster(t, others, want)
}

// Nodes with different cluster secrets cannot read each other's gossip
// and never merge; a node of another cluster is never added.
func TestOtherClustersNeverMerge(t *testing.T) {
	var logs syncLog
	a := openGossip(t, gossipConfig(t, "a1", "secret-a", 1, nil, &logs))
	oneCluster(t, []*Node{a}, []string{"a1"})
	b := openGossip(t, gossipConfig(t, "b1", "secret-b", 1, []string{a.cfg.GossipAddr}, nil))
	oneCluster(t, []*Node{b}, []string{"b1"})
	// Same secret, another cluster: gossip meets, Raft does not.
	c := openGossip(t, gossipConfig(t, "c1", "secret-a", 1, nil, nil))
	oneCluster(t, []*Node{c}, []string{"c1"})
	if _, err := c.memb.g.ml.Join([]string{a.cfg.GossipAddr}); err != nil {
		t.Fatalf("gossip join with the same secret: %v", err)
	}
	testcluster.Eventually(t, "a's leader notices c1 belongs to another cluster", func() error {
		if !strings.Contains(logs.String(), "a node of another cluster is in gossip") {
			return errors.New("no log line")
		}
		return nil
	})
	for _, n := range []*Node{a, b, c} {
		if vs, nv := voters(n); len(vs) != 1 || len(nv) != 0 {
			t.Errorf("%s: voters %v, non-voters %v", n.cfg.NodeID, vs, nv)
		}
	}
	for _, m := range a.memb.g.Members() {
		if m.ID == "b1" {
			t.Error("a node with another secret is in a's gossip")
		}
	}
}

// A member stopped (SIGTERM) and restarted on its data dir at a new
// address (another peer and gossip port, as a container rescheduled with
// another IP) rejoins: the leader moves it to the new address and it
// serves again.
func TestMemberRejoinsAtANewAddress(t *testing.T) {
	nodes, leader := threeByGossip(t, nil)
	var moved *Node
	for _, n := range nodes {
		if n != leader {
			moved = n
			break
		}
	}
	cfg := moved.cfg
	moved.Leave(context.Background(), false) // SIGTERM: leaves gossip, stays in Raft
	moved.Shutdown()
	set(t, leader, "while-away", "1")
	cfg.PeerAddr, cfg.Advertise, cfg.GossipAddr = freeAddr(t), "", freeAddr(t)
	cfg.Join = []string{leader.cfg.GossipAddr}
	back := openGossip(t, cfg)
	testcluster.Eventually(t, "the leader has the member at its new address", func() error {
		fut := leader.raft.GetConfiguration()
		if err := fut.Error(); err != nil {
			return err
		}
		for _, s := range fut.Configuration().Servers {
			if string(s.ID) == cfg.NodeID && string(s.Address) != back.self() {
				return fmt.Errorf("%s still at %s", s.ID, s.Address)
			}
		}
		return nil
	})
	testcluster.Eventually(t, "the moved member reads what was written while it was away", func() error {
		if err := back.ReadBarrier(context.Background()); err != nil {
			return err
		}
		if got := get(back, "while-away"); got != "$1\r\n1\r\n" {
			return fmt.Errorf("while-away = %q", got)
		}
		return nil
	})
	set(t, back, "from-new-address", "1")
}

// Gossip keys rotate: nodes that send with different keys but hold each
// other's merge; a node with none of them never does.
func TestGossipKeyRotation(t *testing.T) {
	k1, k2, k3 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	ac := gossipConfig(t, "a1", "s", 1, nil, nil)
	ac.GossipKeys = [][]byte{k1, k2}
	a := openGossip(t, ac)
	oneCluster(t, []*Node{a}, []string{"a1"})
	bc := gossipConfig(t, "a2", "s", 0, []string{ac.GossipAddr}, nil)
	bc.GossipKeys = [][]byte{k2, k1}
	b := openGossip(t, bc)
	cc := gossipConfig(t, "a3", "s", 0, []string{ac.GossipAddr}, nil)
	cc.GossipKeys = [][]byte{k3}
	openGossip(t, cc)
	testcluster.Eventually(t, "a2, sending with the second key, is added", func() error {
		if vs, nv := voters(a); !slices.Contains(append(vs, nv...), "a2") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		return nil
	})
	set(t, b, "k", "v")
	for _, m := range a.memb.g.Members() {
		if m.ID == "a3" {
			t.Error("a node with none of the keys is in gossip")
		}
	}
}

// A member that left (--leave-on-terminate) and comes back with its data
// dir is added again: its cluster id says it is a former member, not a
// node of another cluster.
func TestFormerMemberIsAddedAgain(t *testing.T) {
	nodes, leader := threeByGossip(t, nil)
	// A founding node that got its configuration from a peer learns the
	// id from the leader's gossip, a membership round later.
	testcluster.Eventually(t, "one cluster id on every node", func() error {
		if leader.ClusterID() == "" || leader.ClusterID() != nodes[0].ClusterID() || nodes[1].ClusterID() != nodes[2].ClusterID() ||
			nodes[0].ClusterID() != nodes[1].ClusterID() {
			return fmt.Errorf("cluster ids: %q %q %q", nodes[0].ClusterID(), nodes[1].ClusterID(), nodes[2].ClusterID())
		}
		return nil
	})
	cfg := gossipConfig(t, "n4", "s3cret", 0, []string{leader.cfg.GossipAddr}, nil)
	n4 := openGossip(t, cfg)
	testcluster.Eventually(t, "n4 added and told the cluster id", func() error {
		if n4.ClusterID() != leader.ClusterID() {
			return fmt.Errorf("n4's cluster id %q, the leader's %q", n4.ClusterID(), leader.ClusterID())
		}
		return nil
	})
	set(t, n4, "by-n4", "1")
	if err := n4.Leave(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	n4.Shutdown()
	testcluster.Eventually(t, "n4 out of the configuration", func() error {
		if vs, nv := voters(leader); slices.Contains(append(vs, nv...), "n4") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		return nil
	})
	set(t, leader, "while-n4-away", "1")
	back := openGossip(t, cfg)
	testcluster.Eventually(t, "n4 added again and caught up", func() error {
		if vs, nv := voters(leader); !slices.Contains(append(vs, nv...), "n4") {
			return fmt.Errorf("voters %v, non-voters %v", vs, nv)
		}
		if err := back.ReadBarrier(context.Background()); err != nil {
			return err
		}
		if got := get(back, "while-n4-away"); got != "$1\r\n1\r\n" {
			return fmt.Errorf("while-n4-away = %q", got)
		}
		return nil
	})
}

// A voter that comes back with an empty data dir (a replaced disk, the
// recovery for a damaged log) grants no vote until it is whole again: the
// leader takes its vote, it catches up as a non-voter, and autopilot gives
// the vote back. Until then a candidate whose log lacks committed entries
// cannot win with its vote.
func TestVoterBackEmptyVotesOnlyOnceCaughtUp(t *testing.T) {
	var logs syncLog
	nodes, leader := threeByGossip(t, &logs)
	for i := range 50 {
		set(t, leader, fmt.Sprint("k", i), "v")
	}
	var wiped *Node
	for _, n := range nodes {
		if n != leader {
			wiped = n
			break
		}
	}
	cfg := wiped.cfg
	wiped.Shutdown()
	cfg.DataDir = t.TempDir() // the disk is gone
	back := openGossip(t, cfg)
	if !back.votes.fresh.Load() || back.votes.mayVote() {
		t.Fatal("a voter back with an empty data dir may vote")
	}
	testcluster.Eventually(t, "the leader takes its vote", func() error {
		if !strings.Contains(logs.String(), "a voter came back without its data") {
			return errors.New("no log line")
		}
		return nil
	})
	testcluster.Eventually(t, "caught up and a voter again", func() error {
		if vs, _ := voters(leader); !slices.Contains(vs, cfg.NodeID) {
			return fmt.Errorf("voters %v", vs)
		}
		if !back.votes.mayVote() {
			return errors.New("a voter again, but it may not vote")
		}
		return nil
	})
	if got := readOwn(t, back, "k49"); got != "$1\r\nv\r\n" {
		t.Fatalf("k49 on the node back = %q", got)
	}
}

// Leadership handed on by the operator (RAFT TRANSFER-LEADER), by a full
// disk or by a leaving leader fails no write and leaves none uncertain:
// the entries in flight when Raft's leader steps down would come back
// ErrLeadershipLost though the new leader commits them. Writers on every
// node, the leader included, keep entries in flight through ten transfers.
func TestLeadershipTransferLeavesNoWriteUncertain(t *testing.T) {
	tc := newTestCluster(t, 3)
	stop := startWriters(tc.nodes, 12)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for range 10 {
		time.Sleep(100 * time.Millisecond) // writes under way
		if err := tc.leader().TransferLeadership(ctx, ""); err != nil {
			t.Fatalf("transfer: %v", err)
		}
	}
	for _, err := range stop() {
		t.Errorf("a write failed while leadership moved: %v", err)
	}
}

// startWriters runs n writers spread over nodes, each setting keys of its
// own one after another until a write fails or stop is called; stop
// returns the failures.
func startWriters(nodes []*Node, n int) (stop func() []error) {
	done := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		node := nodes[i%len(nodes)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-done:
					return
				default:
				}
				if err := trySet(node, fmt.Sprintf("w%d-%d", i, j), "v"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	return func() []error {
		close(done)
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			out = append(out, err)
		}
		return out
	}
}

// A node removed from Raft on request while it is still in gossip (a
// follower leaving: it asks for its removal, then leaves gossip; or an
// operator's remove) is not added back at once as "a former member".
func TestRemovedMemberIsNotAddedBackAtOnce(t *testing.T) {
	nodes, leader := threeByGossip(t, nil)
	var f *Node
	for _, n := range nodes {
		if n != leader {
			f = n
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.RemoveServer(ctx, f.cfg.NodeID); err != nil {
		t.Fatalf("remove: %v", err)
	}
	// It stays in gossip (it has not left it) for several membership rounds.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		vs, nvs := voters(leader)
		for _, id := range append(vs, nvs...) {
			if id == f.cfg.NodeID {
				t.Fatalf("%s was added back while leaving: voters %v, non-voters %v", id, vs, nvs)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Autopilot's promotions apply only to a server still in the
// configuration: a server removed after autopilot looked (a node that
// left) does not come back as a voter.
func TestAutopilotDoesNotPromoteARemovedServer(t *testing.T) {
	tc := newTestCluster(t, 1)
	n := tc.leader()
	r := autopilotRaft{n.raft}
	if err := r.AddVoter("ghost", "127.0.0.1:1", 0, time.Second).Error(); err == nil {
		t.Fatal("a server in no configuration was promoted")
	}
	vs, nvs := voters(n)
	if slices.Contains(append(vs, nvs...), "ghost") {
		t.Fatalf("the configuration gained it: %v %v", vs, nvs)
	}
}
