package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// ServerHealth is one server of the Raft configuration as the leader's
// autopilot last judged it (RAFT STATUS, INFO, metrics).
type ServerHealth struct {
	ID          string
	PeerAddr    string
	Voter       bool
	Leader      bool
	Gossip      string // alive, failed, left; unknown with gossip off
	Healthy     bool
	StableSince time.Time
	LastContact time.Duration // since it last heard from the leader
	LastIndex   uint64
	LastTerm    uint64
}

// Health is the cluster's health as the leader's autopilot sees it: the
// servers and how many voters may fail with a quorum left. ok is false on
// a follower, or with gossip off, where no autopilot runs.
func (n *Node) Health() (servers []ServerHealth, failureTolerance int, ok bool) {
	if n.memb == nil || n.raft.State() != raft.Leader {
		return nil, 0, false
	}
	st := n.memb.state.Load()
	if st == nil {
		return nil, 0, false
	}
	for _, s := range st.Servers {
		servers = append(servers, ServerHealth{
			ID: string(s.Server.ID), PeerAddr: string(s.Server.Address),
			Voter: s.HasVotingRights(), Leader: s.State == autopilot.RaftLeader,
			Gossip: string(s.Server.NodeStatus), Healthy: s.Health.Healthy, StableSince: s.Health.StableSince,
			LastContact: s.Stats.LastContact, LastIndex: s.Stats.LastIndex, LastTerm: s.Stats.LastTerm,
		})
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	return servers, st.FailureTolerance, true
}

// TransferLeadership hands leadership to the server id, or to the most
// up-to-date voter when id is empty; a follower asks the leader. It
// returns once the transfer is done or failed.
func (n *Node) TransferLeadership(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return n.askLeader(ctx, msgTransfer, id)
	}
	if id == "" {
		return n.handOff("", "")
	}
	s, ok := n.configServer(id)
	switch {
	case !ok:
		return fmt.Errorf("%w: no server %s in the cluster", ErrRefused, id)
	case s.Suffrage != raft.Voter:
		return fmt.Errorf("%w: %s is not a voter", ErrRefused, id)
	case id == n.cfg.NodeID:
		return nil // already leads
	}
	return n.handOff(s.ID, s.Address)
}
