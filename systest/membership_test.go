package systest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// The cluster an operator forms with gossip: three nodes started with
// --bootstrap-expect 3 and --join form one cluster; a fourth started with
// --join alone is added and serves; the leader stopped with SIGTERM (and
// --leave-on-terminate) hands leadership on while clients write through
// another node, none of whose writes fails, and leaves the cluster.
func TestGossipClusterGrowsAndItsLeaderLeaves(t *testing.T) {
	skipShort(t)
	opts := testcluster.Options{Gossip: true, Args: []string{"--leave-on-terminate"}}
	c := testcluster.Start(t, 3, opts)
	ctx := context.Background()
	leader := c.Leader()
	if err := leader.Client().Set(ctx, "before", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	n4 := c.Join(opts)
	n4.WaitWritable()
	if got, err := n4.Client().Get(ctx, "before").Result(); err != nil || got != "1" {
		t.Fatalf("n4: GET before = %q, %v", got, err)
	}
	testcluster.Eventually(t, "the leader lists n4 among its replicas", func() error {
		role, err := leader.Client().Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if !strings.Contains(fmt.Sprint(role), strconv.Itoa(n4.Port)) {
			return fmt.Errorf("ROLE: %v", role)
		}
		return nil
	})

	var writer *testcluster.Node
	for _, n := range c.Nodes {
		if n != leader {
			writer = n
			break
		}
	}
	stop := make(chan struct{})
	var failed []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	acked := 0
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := writer.NewClient()
			defer cl.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := cl.Set(ctx, fmt.Sprintf("w%d:%d", w, i), "v", 0).Err()
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					acked++
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // writes under way before the stop
	leader.Term()
	newLeader := c.WaitForNewLeader(leader)
	time.Sleep(300 * time.Millisecond) // and after it
	close(stop)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of %d writes failed while the leader stopped, e.g. %v", len(failed), len(failed)+acked, failed[0])
	}
	if !strings.Contains(leader.Log(), "handing leadership on before stopping") ||
		!strings.Contains(leader.Log(), "removed from the cluster") {
		t.Errorf("the stopped leader's log does not show a hand-off and a leave:\n%s", leader.Log())
	}
	testcluster.Eventually(t, "the old leader is out of the new leader's ROLE", func() error {
		role, err := newLeader.Client().Do(ctx, "ROLE").Slice()
		if err != nil {
			return err
		}
		if strings.Contains(fmt.Sprint(role), strconv.Itoa(leader.Port)) {
			return fmt.Errorf("ROLE: %v", role)
		}
		return nil
	})
	t.Logf("%d writes acknowledged through %s while %s stopped", acked, writer.ID, leader.ID)
}

// The operator's commands on the binary: members lists the servers with
// their roles and health, transfer-leader moves leadership where asked,
// remove takes a server out, health's exit status says whether the node
// knows a leader.
func TestOperatorCommands(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{Gossip: true})
	leader := c.Leader()
	bin := testcluster.Binary(t)
	op := func(args ...string) (string, error) {
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	var follower *testcluster.Node
	for _, n := range c.Nodes {
		if n != leader {
			follower = n
		}
	}
	testcluster.Eventually(t, "members lists every server, healthy, through a follower", func() error {
		out, err := op("members", "--addr", follower.Addr())
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		for _, n := range c.Nodes {
			if !strings.Contains(out, n.ID) {
				return fmt.Errorf("no %s in:\n%s", n.ID, out)
			}
		}
		if strings.Count(out, " yes ") < 3 || !strings.Contains(out, "leader") {
			return fmt.Errorf("not all reachable and healthy:\n%s", out)
		}
		return nil
	})
	if out, err := op("health", "--addr", follower.Addr()); err != nil {
		t.Fatalf("health: %v: %s", err, out)
	}
	if out, err := op("transfer-leader", "--addr", leader.Addr(), follower.ID); err != nil ||
		!strings.Contains(out, "leader: "+follower.ID) {
		t.Fatalf("transfer-leader %s: %v: %s", follower.ID, err, out)
	}
	if out, err := op("remove", "--addr", follower.Addr(), leader.ID); err != nil {
		t.Fatalf("remove %s: %v: %s", leader.ID, err, out)
	}
	out, err := op("members", "--addr", follower.Addr())
	if err != nil || strings.Contains(out, leader.ID+" ") {
		t.Fatalf("members after remove: %v:\n%s", err, out)
	}
	leader.Kill()
	for _, n := range c.Nodes {
		if n != leader && n != follower {
			n.Kill()
		}
	}
	testcluster.Eventually(t, "health fails on a node left without a quorum", func() error {
		if out, err := op("health", "--addr", follower.Addr(), "--timeout", "3s"); err == nil {
			return fmt.Errorf("exit 0: %s", out)
		}
		return nil
	})
}
