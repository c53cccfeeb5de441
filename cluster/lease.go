package cluster

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Lease reads (Config.LeaseReads): the leader answers a read index without
// a round of heartbeats while a quorum has recently accepted it as leader,
// as etcd's lease-based read option does. The promise it leans on is
// hashicorp/raft's: a voter that knows a leader refuses every vote (but one
// asked for by that leader's own transfer) until it has heard nothing from
// that leader for a HeartbeatTimeout on its own clock. So once a voter
// accepted an AppendEntries the leader sent at time t, no other leader can
// be elected with that voter's vote before t + HeartbeatTimeout; with a
// quorum of such voters (the leader counting itself), before the quorum's
// oldest such t plus HeartbeatTimeout. The leader serves from its lease
// until a tenth before that (room for clocks running at different rates),
// measured on its monotonic clock.
//
// Three things would break the promise, and each is closed:
//   - A voter that restarts forgets its leader and would vote at once: a
//     node grants no vote during its first HeartbeatTimeout (voteGate).
//   - A leadership transfer makes voters vote despite their leader: the
//     leader gives its lease up for the term before it transfers (handOff).
//   - A voter whose HeartbeatTimeout is shorter than the leader's: every
//     node of a cluster must run with the same Raft timing (the flags'
//     defaults do).
//
// The lease is only a shortcut: when it has lapsed (an idle follower, a
// slow network), the read index falls back to the heartbeat round.
type lease struct {
	mu   sync.Mutex
	term uint64
	acks map[raft.ServerID]time.Time // send time of the newest AppendEntries each voter accepted in term

	revoked atomic.Uint64 // the term in which the leader gave its lease up (it is handing leadership on)
	served  atomic.Uint64 // read indexes answered from the lease
}

// leaseFraction is the part of HeartbeatTimeout a lease lasts.
const leaseFraction = 0.9

// ack records that id accepted, in term, an AppendEntries sent at sent.
func (l *lease) ack(id raft.ServerID, term uint64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if term < l.term {
		return
	}
	if term > l.term || l.acks == nil {
		l.term, l.acks = term, map[raft.ServerID]time.Time{}
	}
	if sent.After(l.acks[id]) {
		l.acks[id] = sent
	}
}

// revoke gives the lease of term up for good.
func (l *lease) revoke(term uint64) { l.revoked.Store(term) }

// heldAt reports whether the leader self, in term, with the given voters
// (itself among them or not: a leader being removed), holds the lease at
// now. now must be read before heldAt is called: a revocation after that
// instant came after it, and so did any transfer it led to.
func (l *lease) heldAt(now time.Time, term uint64, self raft.ServerID, voters []raft.ServerID, length time.Duration) bool {
	if l.revoked.Load() == term || len(voters) == 0 {
		return false
	}
	quorum := len(voters)/2 + 1
	have := 0
	if slices.Contains(voters, self) {
		have++ // a single voter is its own quorum
	}
	if have >= quorum {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term != term {
		return false
	}
	for _, v := range voters {
		if sent, ok := l.acks[v]; ok && v != self && now.Before(sent.Add(length)) {
			have++
		}
	}
	return have >= quorum
}

// leaseLength is how long an accepted AppendEntries keeps the lease.
func (n *Node) leaseLength() time.Duration {
	if n.cfg.DebugLeaseLength > 0 {
		return n.cfg.DebugLeaseLength // a fault: the harness shows what a lease too long breaks
	}
	return time.Duration(leaseFraction * float64(n.raftHeartbeatTimeout()))
}

// raftHeartbeatTimeout is the HeartbeatTimeout Raft runs with.
func (n *Node) raftHeartbeatTimeout() time.Duration {
	if n.cfg.HeartbeatTimeout > 0 {
		return n.cfg.HeartbeatTimeout
	}
	return raft.DefaultConfig().HeartbeatTimeout
}

// leaseHeld reports whether this leader may answer a read index in term
// from its lease.
func (n *Node) leaseHeld(term uint64) bool {
	if !n.cfg.LeaseReads {
		return false
	}
	now := time.Now()
	var voters []raft.ServerID
	for _, s := range n.configServers() {
		if s.Suffrage == raft.Voter {
			voters = append(voters, s.ID)
		}
	}
	return n.lease.heldAt(now, term, raft.ServerID(n.cfg.NodeID), voters, n.leaseLength())
}
