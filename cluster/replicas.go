package cluster

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server of the group as another node sees it.
type Member struct {
	ID         string
	PeerAddr   string
	ClientAddr string // "" if it did not answer
	Applied    uint64
	Reachable  bool
	Self       bool
	Voter      bool
}

// Members asks every server in the Raft configuration how far it has
// applied, in parallel, within ctx. This node answers for itself.
func (n *Node) Members(ctx context.Context) []Member {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return nil
	}
	servers := fut.Configuration().Servers
	out := make([]Member, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		out[i] = Member{ID: string(s.ID), PeerAddr: string(s.Address), Voter: s.Suffrage == raft.Voter}
		if string(s.ID) == n.cfg.NodeID {
			out[i].Self, out[i].Reachable = true, true
			out[i].ClientAddr, out[i].Applied = n.cfg.ClientAddr, n.applied.index()
			continue
		}
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			r, err := n.peer(m.PeerAddr).call(ctx, msgNodeInfo, nil)
			if err != nil {
				return
			}
			m.Reachable = true
			m.Applied = r.index
			m.ClientAddr = string(r.body)
		}(&out[i])
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// WaitApplied returns how many other members have applied index, waiting
// until at least want of them have or ctx ends (WAIT numreplicas timeout).
// Each member is polled on its own, so one that hangs delays no answer.
func (n *Node) WaitApplied(ctx context.Context, index uint64, want int) int {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return 0
	}
	var others []string
	for _, s := range fut.Configuration().Servers {
		if string(s.ID) != n.cfg.NodeID {
			others = append(others, string(s.Address))
		}
	}
	if want <= 0 {
		// Nothing to wait for: count who has it now.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, countAppliedTimeout)
		defer cancel()
		want = len(others) + 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan bool, len(others))
	for _, addr := range others {
		go func() {
			for {
				cctx, ccancel := context.WithTimeout(ctx, nodeInfoCallTimeout)
				r, err := n.peer(addr).call(cctx, msgNodeInfo, nil)
				ccancel()
				if err == nil && r.index >= index {
					results <- true
					return
				}
				select {
				case <-ctx.Done():
					results <- false
					return
				case <-time.After(nodeInfoPollInterval):
				}
			}
		}()
	}
	got := 0
	for range others {
		if <-results {
			got++
			if got >= want {
				return got
			}
		}
	}
	return got
}

// IsLeader reports whether this node leads the group now. It asks no
// peer: the server checks it before each write a cluster-mode client
// sends, to answer MOVED on a follower.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Staleness is how long this node has gone without hearing from a leader:
// zero on the leader, the time since the last contact on a follower.
func (n *Node) Staleness() time.Duration {
	if n.raft.State() == raft.Leader {
		return 0
	}
	last := n.raft.LastContact()
	if last.IsZero() {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(last)
}

// LeaderClientAddr is the RESP address of the current leader, asked of the
// leader itself ("" if there is none or it does not answer).
func (n *Node) LeaderClientAddr(ctx context.Context) string {
	addr, id := n.raft.LeaderWithID()
	if addr == "" {
		return ""
	}
	if string(id) == n.cfg.NodeID {
		return n.cfg.ClientAddr
	}
	r, err := n.peer(string(addr)).call(ctx, msgNodeInfo, nil)
	if err != nil {
		return ""
	}
	return string(r.body)
}
