package server

import (
	"context"
	"strconv"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/internal/resp"
)

// RAFT is statehouse's own command for operators (the statehouse binary's
// members, status, transfer-leader and remove talk through it):
//
//	RAFT STATUS                  this node's view: state, leader, indexes,
//	                             and every server (with health on the leader)
//	RAFT TRANSFER-LEADER [id]    hand leadership on (a follower asks the leader)
//	RAFT REMOVE id               take a server out of Raft (likewise)
//
// Replies are flat field/value arrays, as Redis's CLUSTER SHARDS, so
// redis-cli shows them readably. The last two change the cluster: @admin
// and @dangerous, as CLUSTER FAILOVER and CLUSTER FORGET are.

func raftStatusCmd(p *pipeline, args [][]byte) {
	s := p.s
	st := s.cl.Status()
	health, tolerance, healthy := s.cl.Health()
	byID := map[string]cluster.ServerHealth{}
	for _, h := range health {
		byID[h.ID] = h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	leaderAddr := s.cl.LeaderClientAddr(ctx)
	cancel()
	members := s.members()

	out := resp.AppendArray(nil, 20)
	out = pair(out, "node", st.NodeID)
	out = pair(out, "state", st.State)
	out = pair(out, "leader", st.LeaderID)
	out = pair(out, "leader_addr", leaderAddr)
	out = pair(out, "term", st.Term)
	out = resp.AppendBulkString(out, "commit_index")
	out = resp.AppendInt(out, int64(st.CommitIndex))
	out = resp.AppendBulkString(out, "applied_index")
	out = resp.AppendInt(out, int64(st.Applied))
	out = resp.AppendBulkString(out, "last_index")
	out = resp.AppendInt(out, int64(st.LastIndex))
	out = resp.AppendBulkString(out, "failure_tolerance")
	if healthy {
		out = resp.AppendInt(out, int64(tolerance))
	} else {
		out = resp.AppendInt(out, -1) // unknown off the leader
	}
	out = resp.AppendBulkString(out, "servers")
	out = resp.AppendArray(out, len(members))
	for _, m := range members {
		h, ok := byID[m.ID]
		n := 16
		if ok {
			n += 10
		}
		out = resp.AppendArray(out, n)
		out = pair(out, "id", m.ID)
		out = pair(out, "peer", m.PeerAddr)
		out = pair(out, "client", m.ClientAddr)
		out = pair(out, "voter", boolStr(m.Voter))
		out = pair(out, "leader", boolStr(m.ID == st.LeaderID))
		out = pair(out, "reachable", boolStr(m.Reachable))
		out = pair(out, "applied", strconv.FormatUint(m.Applied, 10))
		out = pair(out, "lag", strconv.FormatInt(int64(st.CommitIndex)-int64(m.Applied), 10))
		if ok {
			out = pair(out, "gossip", h.Gossip)
			out = pair(out, "healthy", boolStr(h.Healthy))
			out = pair(out, "last_contact_ms", strconv.FormatInt(h.LastContact.Milliseconds(), 10))
			out = pair(out, "last_index", strconv.FormatUint(h.LastIndex, 10))
			since := ""
			if !h.StableSince.IsZero() {
				since = h.StableSince.UTC().Format(time.RFC3339)
			}
			out = pair(out, "stable_since", since)
		}
	}
	p.reply(out)
}

func pair(out []byte, k, v string) []byte {
	return resp.AppendBulkString(resp.AppendBulkString(out, k), v)
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func raftTransferLeaderCmd(p *pipeline, args [][]byte) {
	id := ""
	if len(args) > 3 {
		p.reply(resp.AppendError(nil, "ERR syntax error"))
		return
	} else if len(args) == 3 {
		id = string(args[2])
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.Timeout)
	defer cancel()
	if err := p.s.cl.TransferLeadership(ctx, id); err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(resp.AppendOK(nil))
}

func raftRemoveCmd(p *pipeline, args [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.Timeout)
	defer cancel()
	if err := p.s.cl.RemoveServer(ctx, string(args[2])); err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(resp.AppendOK(nil))
}
