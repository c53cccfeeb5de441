package cluster

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// A node grants votes only while its log holds what it held when it last
// voted. A voter started on an empty data dir (its disk replaced, or the
// recovery for a damaged log) has lost that: hashicorp/raft would grant a
// candidate with a log missing committed entries its vote (an empty log
// is behind every other), and that candidate, elected with it, would throw
// the entries away. So, with gossip, a node that starts empty without
// bootstrapping grants no vote until the cluster has taken it back as a
// non-voter (the leader demotes a voter that comes back empty, see
// membership.go) and promoted it once caught up; and no node ever grants a
// vote while its own configuration lists it as a non-voter or not at all.
//
// voteGate is the Raft transport with that rule applied to the requests it
// hands to Raft.
//
// And with LeaseReads a node grants no vote in its first
// HeartbeatTimeout: before it stopped it may have accepted a leader whose
// lease (lease.go) counts on it to refuse votes that long after; started
// again, it has forgotten. (Without LeaseReads nothing counts on that, and
// the hold-off would only slow a cluster's first election.)
//
// On the way out, it notes each AppendEntries a voter accepted, which is
// what the leader's lease is made of.
type voteGate struct {
	*raft.NetworkTransport
	n        *Node
	consumer chan raft.RPC
	fresh    atomic.Bool  // started empty, not yet seen as a non-voter
	said     atomic.Int64 // unix s of the last refusal logged
	started  time.Time
	quiet    atomic.Int64 // no vote until this long after started (the first HeartbeatTimeout)
}

func newVoteGate(t *raft.NetworkTransport, n *Node) *voteGate {
	g := &voteGate{NetworkTransport: t, n: n, consumer: make(chan raft.RPC), started: time.Now()}
	if n.cfg.LeaseReads {
		g.quiet.Store(int64(n.raftHeartbeatTimeout()))
	}
	go g.run(t.Consumer())
	return g
}

func (g *voteGate) Consumer() <-chan raft.RPC { return g.consumer }

func (g *voteGate) run(in <-chan raft.RPC) {
	for rpc := range in {
		switch req := rpc.Command.(type) {
		case *raft.RequestVoteRequest:
			if !g.mayVote() {
				g.sayRefused(string(req.ID))
				rpc.Respond(&raft.RequestVoteResponse{RPCHeader: g.header(), Term: req.Term, Granted: false}, nil)
				continue
			}
		case *raft.RequestPreVoteRequest:
			if !g.mayVote() {
				rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: g.header(), Term: req.Term, Granted: false}, nil)
				continue
			}
		}
		select {
		case g.consumer <- rpc:
		case <-g.n.stop:
			return
		}
	}
}

// sayRefused logs, at most every half minute, why a fresh node withholds
// its vote: if no leader can be elected without it, the cluster waits for
// the members that hold its data rather than lose acknowledged writes.
func (g *voteGate) sayRefused(candidate string) {
	if !g.fresh.Load() {
		return // a non-voter: nothing to say
	}
	now := time.Now().Unix()
	if last := g.said.Load(); now-last < 30 || !g.said.CompareAndSwap(last, now) {
		return
	}
	g.n.log.Warn("withholding this node's vote: it came back with an empty data dir and the leader has not yet "+
		"taken it back as a non-voter; if no leader can be elected without it, bring back the members that hold "+
		"the data (electing one without them would lose acknowledged writes)", "candidate", candidate)
}

func (g *voteGate) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(g.n.cfg.NodeID), Addr: []byte(g.n.self())}
}

// mayVote reports whether this node's vote can be trusted to protect what
// the cluster committed.
func (g *voteGate) mayVote() bool {
	return g.observe() == raft.Voter && !g.fresh.Load() && time.Since(g.started) > time.Duration(g.quiet.Load())
}

// AppendEntries sends one AppendEntries (a heartbeat, or entries when
// replication is not pipelined) and notes an acceptance for the lease.
func (g *voteGate) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	sent := time.Now()
	err := g.NetworkTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success && resp.Term == args.Term {
		g.n.lease.ack(id, args.Term, sent)
	}
	return err
}

// observe returns this node's suffrage in its own configuration (Nonvoter
// when it is not in one), and ends freshness once it is a non-voter: a
// promotion from there, once caught up, makes its vote whole. The
// membership loop calls it every tick, so a quick demotion and promotion
// between two vote requests is not missed.
func (g *voteGate) observe() raft.ServerSuffrage {
	if g.n.raft == nil {
		return raft.Nonvoter
	}
	s, ok := g.n.configServer(g.n.cfg.NodeID)
	if !ok {
		return raft.Nonvoter // not in its own configuration, or no configuration at all
	}
	if s.Suffrage != raft.Voter {
		g.fresh.Store(false)
	}
	return s.Suffrage
}
