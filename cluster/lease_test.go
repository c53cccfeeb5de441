package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestLeaseNeedsAQuorumOfFreshAcceptancesInItsTerm(t *testing.T) {
	voters := []raft.ServerID{"n1", "n2", "n3", "n4", "n5"}
	t0 := time.Now()
	length := 900 * time.Millisecond
	var l lease
	if l.heldAt(t0, 1, "n1", voters, length) {
		t.Fatal("held with no acceptance")
	}
	l.ack("n2", 1, t0)
	if l.heldAt(t0, 1, "n1", voters, length) {
		t.Fatal("held with 2 of 5")
	}
	l.ack("n3", 1, t0.Add(100*time.Millisecond))
	if !l.heldAt(t0.Add(200*time.Millisecond), 1, "n1", voters, length) {
		t.Fatal("not held with 3 of 5, all fresh")
	}
	// The oldest acceptance of the quorum bounds the lease.
	if l.heldAt(t0.Add(length), 1, "n1", voters, length) {
		t.Fatal("held past the oldest acceptance's expiry")
	}
	// A newer acceptance renews; an older one arriving late does not undo it.
	l.ack("n2", 1, t0.Add(500*time.Millisecond))
	l.ack("n2", 1, t0)
	if !l.heldAt(t0.Add(length), 1, "n1", voters, length) {
		t.Fatal("not renewed by n2's newer acceptance")
	}
	// Acceptances of another term count for nothing.
	if l.heldAt(t0.Add(length), 2, "n1", voters, length) {
		t.Fatal("held in a term with no acceptance")
	}
	l.ack("n4", 2, t0.Add(600*time.Millisecond))
	if l.heldAt(t0.Add(length), 2, "n1", voters, length) || l.heldAt(t0.Add(length), 1, "n1", voters, length) {
		t.Fatal("term 1's acceptances still count once term 2 began")
	}
	l.ack("n3", 1, t0.Add(700*time.Millisecond)) // a late answer from the old term
	l.ack("n5", 2, t0.Add(600*time.Millisecond))
	if !l.heldAt(t0.Add(length), 2, "n1", voters, length) {
		t.Fatal("not held in term 2 with 3 of 5")
	}
	// Given up, it stays given up for that term.
	l.revoke(2)
	if l.heldAt(t0.Add(length), 2, "n1", voters, length) {
		t.Fatal("held after it was given up")
	}
	// Non-voters are not in voters: a leader that is no voter itself
	// (being removed) needs a quorum of the others.
	var m lease
	m.ack("n2", 1, t0)
	if m.heldAt(t0, 1, "n1", []raft.ServerID{"n2", "n3", "n4"}, length) {
		t.Fatal("held with 1 of 3 voters")
	}
	if !(&lease{}).heldAt(t0, 1, "n1", []raft.ServerID{"n1"}, length) {
		t.Fatal("a single voter does not hold its own lease")
	}
}

// With LeaseReads, the leader and the followers read without heartbeat
// rounds while the followers answer; once they stop answering, the lease
// lapses within its length and reads wait for a leader again instead of
// being served from the old one.
func TestLeaseReadsServeWhileAQuorumAnswersAndLapse(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.LeaseReads = true })
	leader := tc.leader()
	set(t, leader, "k", "v")
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	for range 50 {
		for _, n := range tc.nodes {
			if err := n.ReadBarrier(ctx); err != nil {
				t.Fatalf("%s: %v", n.cfg.NodeID, err)
			}
			if got := get(n, "k"); got != "$1\r\nv\r\n" {
				t.Fatalf("%s: k = %q", n.cfg.NodeID, got)
			}
		}
	}
	if got := leader.Status().LeaseReads; got < 100 {
		t.Fatalf("the leader answered %d of 150 read indexes from its lease", got)
	}

	term := leader.raft.CurrentTerm()
	for i, n := range tc.nodes {
		if n != leader {
			n.Shutdown()
			tc.nodes[i] = nil
		}
	}
	stopped := time.Now()
	testcluster.EventuallyWithin(t, testcluster.LeaderTimeout, "the lease lapses", func() error {
		if leader.leaseHeld(term) {
			return errLeaseHeld
		}
		return nil
	})
	if lapsed := time.Since(stopped); lapsed > leader.leaseLength()+time.Second {
		t.Fatalf("the lease lapsed %v after the followers stopped (length %v)", lapsed, leader.leaseLength())
	}
	rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
	defer rcancel()
	if err := leader.ReadBarrier(rctx); err == nil {
		t.Fatal("a leader cut off from its followers served a linearizable read after its lease lapsed")
	}
}

// A leader handing leadership on gives its lease up first: the new leader
// is elected with votes its voters would otherwise refuse.
func TestHandOffGivesTheLeaseUp(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.LeaseReads = true })
	leader := tc.leader()
	set(t, leader, "k", "v")
	term := leader.raft.CurrentTerm()
	testcluster.EventuallyWithin(t, testcluster.LeaderTimeout, "the leader holds its lease", func() error {
		if !leader.leaseHeld(term) {
			return errLeaseNotHeld
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.LeaderTimeout)
	defer cancel()
	if err := leader.TransferLeadership(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if leader.leaseHeld(term) {
		t.Fatal("the old leader still holds its lease for the term it handed on")
	}
}

// A node grants no vote in its first HeartbeatTimeout: it may have
// accepted, before a restart, a leader whose lease counts on it.
func TestNoVoteInTheFirstHeartbeatTimeout(t *testing.T) {
	tc := newTestCluster(t, 3, func(c *Config) { c.LeaseReads = true })
	f := tc.followers()[0]
	if got := time.Duration(f.votes.quiet.Load()); got != f.raftHeartbeatTimeout() {
		t.Fatalf("with LeaseReads a node holds its vote %v after it starts, want its HeartbeatTimeout", got)
	}
	f.votes.quiet.Store(int64(time.Hour))
	if f.votes.mayVote() {
		t.Fatal("a node votes within its first HeartbeatTimeout")
	}
	f.votes.quiet.Store(0)
	if !f.votes.mayVote() {
		t.Fatal("a voter past its first HeartbeatTimeout does not vote")
	}
}

type leaseErr string

func (e leaseErr) Error() string { return string(e) }

const (
	errLeaseHeld    = leaseErr("the lease is still held")
	errLeaseNotHeld = leaseErr("the lease is not held")
)
