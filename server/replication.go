package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/internal/resp"
)

// Redis's replication face over the Raft group: ROLE, INFO replication and
// WAIT speak of the leader as the master and followers as replicas, with
// Raft indexes as replication offsets.

// members asks the group for each member's applied index, briefly.
func (s *Server) members() []cluster.Member {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return s.cl.Members(ctx)
}

func hostPort(addr string) (string, int) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func roleCmd(p *pipeline, args [][]byte) {
	s := p.s
	st := s.cl.Status()
	if st.State == "Leader" {
		var replicas []cluster.Member
		for _, m := range s.members() {
			if !m.Self && m.Reachable {
				replicas = append(replicas, m)
			}
		}
		out := resp.AppendArray(nil, 3)
		out = resp.AppendBulkString(out, "master")
		out = resp.AppendInt(out, int64(st.Applied))
		out = resp.AppendArray(out, len(replicas))
		for _, m := range replicas {
			host, port := hostPort(m.ClientAddr)
			out = resp.AppendArray(out, 3)
			out = resp.AppendBulkString(out, host)
			out = resp.AppendBulkString(out, strconv.Itoa(port))
			out = resp.AppendBulkString(out, strconv.FormatUint(m.Applied, 10))
		}
		p.reply(out)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	host, port := hostPort(s.cl.LeaderClientAddr(ctx))
	state := "connected"
	if st.Leader == "" {
		state = "connect"
	}
	out := resp.AppendArray(nil, 5)
	out = resp.AppendBulkString(out, "slave")
	out = resp.AppendBulkString(out, host)
	out = resp.AppendInt(out, int64(port))
	out = resp.AppendBulkString(out, state)
	out = resp.AppendInt(out, int64(st.Applied))
	p.reply(out)
}

// waitCmd is WAIT numreplicas timeout: how many other members have applied
// this connection's last write, waiting up to timeout ms (0: for ever) for
// numreplicas of them.
func waitCmd(p *pipeline, args [][]byte) {
	want, ok1 := resp.ParseInt(args[1])
	timeout, ok2 := resp.ParseInt(args[2])
	if !ok1 || !ok2 {
		p.reply(resp.AppendError(nil, resp.ErrNotInt))
		return
	}
	if timeout < 0 {
		p.reply(resp.AppendError(nil, "ERR timeout is negative"))
		return
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeout)*time.Millisecond)
		defer cancel()
	}
	got := p.s.cl.WaitApplied(ctx, p.st.lastIndex, int(want))
	p.reply(resp.AppendInt(nil, int64(got)))
}

func readonlyCmd(p *pipeline, args [][]byte) {
	p.st.readonly = true
	p.reply(resp.AppendOK(nil))
}

func readwriteCmd(p *pipeline, args [][]byte) {
	p.st.readonly = false
	p.reply(resp.AppendOK(nil))
}

// staleReadError refuses a READONLY read on a node that has not heard from
// a leader for longer than the staleness bound.
func (s *Server) staleReadError() []byte {
	if age := s.cl.Staleness(); age > s.cfg.MaxStaleness {
		msg := "CLUSTERDOWN this node has not heard from a leader"
		if age < 1000*time.Hour {
			msg += fmt.Sprintf(" for %.1fs", age.Seconds())
		}
		msg += fmt.Sprintf(" (max-staleness %s)", s.cfg.MaxStaleness)
		return resp.AppendError(nil, msg)
	}
	return nil
}

func (s *Server) writeReplicationInfo(b *strings.Builder) {
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	st := s.cl.Status()
	b.WriteString("# Replication\r\n")
	if st.State == "Leader" {
		var replicas []cluster.Member
		for _, m := range s.members() {
			if !m.Self {
				replicas = append(replicas, m)
			}
		}
		line("role", "master")
		connected := 0
		for _, m := range replicas {
			if m.Reachable {
				connected++
			}
		}
		line("connected_slaves", connected)
		i := 0
		for _, m := range replicas {
			if !m.Reachable {
				continue
			}
			host, port := hostPort(m.ClientAddr)
			lag := st.Applied - min(st.Applied, m.Applied)
			fmt.Fprintf(b, "slave%d:ip=%s,port=%d,state=online,offset=%d,lag=%d,node_id=%s\r\n", i, host, port, m.Applied, lag, m.ID)
			i++
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		host, port := hostPort(s.cl.LeaderClientAddr(ctx))
		cancel()
		line("role", "slave")
		line("master_host", host)
		line("master_port", port)
		status := "up"
		if st.Leader == "" {
			status = "down"
		}
		line("master_link_status", status)
		age := s.cl.Staleness()
		if age > 1000*time.Hour {
			line("master_last_io_seconds_ago", -1)
		} else {
			line("master_last_io_seconds_ago", int(age.Seconds()))
		}
		line("master_sync_in_progress", 0)
		line("slave_repl_offset", st.Applied)
		line("slave_read_only", 0) // writes are forwarded to the master
		line("connected_slaves", 0)
	}
	line("master_failover_state", "no-failover")
	line("master_repl_offset", st.Applied)
	line("raft_state", strings.ToLower(st.State))
	line("raft_term", st.Term)
	line("raft_leader_id", st.LeaderID)
	line("raft_commit_index", st.CommitIndex)
	line("raft_last_index", st.LastIndex)
	line("clock_skew_ms", st.ClockSkew.Milliseconds())
	clockOff := 0
	if st.ClockOff {
		clockOff = 1
	}
	line("clock_off", clockOff)
	line("reads_via_leader", st.ReadsViaLeader)
	line("lease_reads", st.LeaseReads)
	// The leader's autopilot view of every server (none on a follower).
	if servers, tolerance, ok := s.cl.Health(); ok {
		line("raft_failure_tolerance", tolerance)
		for i, h := range servers {
			fmt.Fprintf(b, "raft_server%d:id=%s,voter=%d,healthy=%d,gossip=%s,last_contact_ms=%d,last_index=%d\r\n",
				i, h.ID, b2i(h.Voter), b2i(h.Healthy), h.Gossip, h.LastContact.Milliseconds(), h.LastIndex)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
