package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// Membership, with gossip on (gossip.go):
//
//   - Forming: a node with no Raft state started with --bootstrap-expect N
//     waits until gossip shows N nodes, none of them in a cluster yet and
//     all expecting N, then bootstraps with exactly those N as voters.
//     Every one of them sees the same N and writes the same configuration,
//     so the start order does not matter (Consul's and Nomad's way).
//   - Growing: the leader adds a node gossip shows alive and not yet in
//     Raft as a non-voter; autopilot promotes it to voter once it has
//     caught up and stayed healthy for ServerStabilization. A node with
//     Raft state that is not in this configuration is added again if its
//     cluster id is this cluster's (a former member), and never if not:
//     its log would be overwritten.
//   - Moving: a member restarted under a new address is re-added there.
//   - Shrinking: autopilot removes servers gossip has seen failed or left
//     for DeadServerGrace, never below MinQuorum voters nor a majority at
//     once. Leave (SIGTERM) hands leadership on first and, with remove,
//     takes the node out of Raft itself.
type membership struct {
	n        *Node
	g        *gossip
	ap       *autopilot.Autopilot
	state    atomic.Pointer[autopilot.State]
	forming  atomic.Bool // this node was one of --bootstrap-expect's, before any had Raft state
	decided  atomic.Bool // forming is settled
	warned   sync.Map    // warnings already given, by node and message
	removing sync.Map    // servers being removed, so autopilot's next round does not ask again
	removed  sync.Map    // servers removed on request (a leave, an operator), by id: removal

	mu     sync.Mutex
	missed map[raft.ServerID]time.Time // servers gossip never heard of, since when
}

// autopilotMaxTrailingLogs: a server this many entries behind the leader
// is not healthy (entries are batches of writes).
const autopilotMaxTrailingLogs = 1024

// runMembership keeps gossip and Raft in step until the node stops:
// bootstraps when the expected nodes are there, and while leading adds
// new nodes and runs autopilot.
func (n *Node) runMembership() {
	defer n.wg.Done()
	m := n.memb
	tick := time.NewTicker(membershipTick)
	defer tick.Stop()
	rejoin := time.NewTicker(gossipRejoinInterval)
	defer rejoin.Stop()
	var stopAutopilot context.CancelFunc
	defer func() {
		if stopAutopilot != nil {
			stopAutopilot()
			<-m.ap.Stop()
		}
	}()
	for {
		m.noteForming()
		n.votes.observe()
		if n.hasRaftState() {
			if m.forming.Load() {
				n.votes.fresh.Store(false)
			}
			m.learnClusterID()
			m.g.setMember(n.ClusterID())
		} else if n.cfg.BootstrapExpect > 0 {
			m.bootstrapIfExpected()
		}
		leading := n.raft.State() == raft.Leader
		switch {
		case leading && stopAutopilot == nil:
			ctx, cancel := context.WithCancel(context.Background())
			m.ap.Start(ctx)
			stopAutopilot = cancel // called when leadership ends, or at stop
		case !leading && stopAutopilot != nil:
			stopAutopilot()
			<-m.ap.Stop()
			stopAutopilot = nil
		}
		if leading {
			m.addNewMembers()
		}
		select {
		case <-tick.C:
		case <-m.g.changed:
		case <-rejoin.C:
			go m.g.rejoinFailed() // a join waits on the network: not on this loop
		case <-n.stop:
			return
		}
	}
}

func (n *Node) hasRaftState() bool {
	fut := n.raft.GetConfiguration()
	return fut.Error() == nil && len(fut.Configuration().Servers) > 0
}

// noteForming settles, the first time gossip shows this node another,
// whether it is forming a new cluster (--bootstrap-expect, and no node it
// sees belongs to a cluster) or coming to one that exists. A founding node
// that first sees the others after they bootstrapped cannot be told from
// one back with an empty data dir: it loses its vote until it has caught
// up, seconds in a new cluster.
func (m *membership) noteForming() {
	if m.decided.Load() || m.n.cfg.BootstrapExpect == 0 || m.n.votes == nil || !m.n.votes.fresh.Load() {
		return
	}
	members := m.g.Members()
	if len(members) < 2 {
		return
	}
	forming := true
	for _, gm := range members {
		if gm.Meta.Member {
			forming = false
		}
	}
	m.forming.Store(forming)
	m.decided.Store(true)
}

// bootstrapIfExpected bootstraps once gossip shows BootstrapExpect nodes
// with no Raft state that all expect as many.
func (m *membership) bootstrapIfExpected() {
	expect := m.n.cfg.BootstrapExpect
	var voters []raft.Server
	for _, gm := range m.g.Members() {
		if gm.Status != autopilot.NodeAlive {
			continue
		}
		if gm.Meta.Member {
			return // a cluster exists: its leader adds this node
		}
		if gm.Meta.Expect != expect {
			m.warnOnce(gm.ID, "a node expects another cluster size: not bootstrapping with it",
				"node", gm.ID, "its_bootstrap_expect", gm.Meta.Expect, "bootstrap_expect", expect)
			continue
		}
		voters = append(voters, raft.Server{ID: raft.ServerID(gm.ID), Address: raft.ServerAddress(gm.Meta.Peer)})
	}
	if len(voters) < expect {
		return
	}
	// One of the expected nodes forming the cluster, not a node coming
	// back empty to a cluster that exists: its vote is whole once it has
	// the first configuration, from its own bootstrap or a peer's.
	if len(voters) > expect {
		// More nodes than expected started at once: each would pick a
		// different set. Wait for a human rather than risk two clusters.
		m.warnOnce("", "more nodes than --bootstrap-expect see each other with no cluster yet; not bootstrapping",
			"seen", len(voters), "bootstrap_expect", expect)
		return
	}
	m.forming.Store(true)
	m.decided.Store(true)
	if err := m.n.raft.BootstrapCluster(raft.Configuration{Servers: voters}).Error(); err != nil {
		if !errors.Is(err, raft.ErrCantBootstrap) {
			m.n.log.Warn("bootstrap failed", "err", err)
		}
		return
	}
	m.n.setClusterID(bootstrapID(voters))
	ids := make([]string, len(voters))
	for i, v := range voters {
		ids[i] = string(v.ID)
	}
	m.n.log.Info("bootstrapped a new cluster from gossip", "members", ids)
}

// addNewMembers, on the leader, adds nodes gossip shows alive and Raft
// does not have, and moves members gossip shows at a new address.
func (m *membership) addNewMembers() {
	fut := m.n.raft.GetConfiguration()
	if fut.Error() != nil {
		return
	}
	servers := map[raft.ServerID]raft.Server{}
	for _, s := range fut.Configuration().Servers {
		servers[s.ID] = s
	}
	for _, gm := range m.g.Members() {
		id := raft.ServerID(gm.ID)
		if gm.Status != autopilot.NodeAlive || gm.ID == m.n.cfg.NodeID {
			continue
		}
		s, known := servers[id]
		addr := raft.ServerAddress(gm.Meta.Peer)
		if r, ok := m.removed.Load(gm.ID); ok && !known && r.(removal).holds(gm) {
			// Removed in this life of the node: a leaving node is still
			// in gossip a moment after its removal, and adding it back
			// would undo the leave. Started again, it is added back.
			continue
		}
		switch {
		case !known && gm.Meta.Member && (gm.Meta.Cluster == "" || gm.Meta.Cluster != m.n.ClusterID()):
			m.warnOnce(gm.ID, "a node of another cluster is in gossip: not adding it",
				"node", gm.ID, "peer", gm.Meta.Peer, "its_cluster", gm.Meta.Cluster, "cluster", m.n.ClusterID())
		case !known && gm.Meta.Member:
			m.n.log.Info("a former member is back with its data: adding it again as a non-voter", "node", gm.ID, "peer", addr)
			if err := m.n.raft.AddNonvoter(id, addr, 0, membershipChangeTimeout).Error(); err != nil {
				m.n.log.Warn("adding a node failed", "node", gm.ID, "err", err)
			}
		case !known:
			m.n.log.Info("adding a new node as a non-voter", "node", gm.ID, "peer", addr)
			if err := m.n.raft.AddNonvoter(id, addr, 0, membershipChangeTimeout).Error(); err != nil {
				m.n.log.Warn("adding a node failed", "node", gm.ID, "err", err)
			}
		case s.Address != addr:
			m.n.log.Info("a member is at a new address", "node", gm.ID, "from", s.Address, "to", addr)
			var f raft.IndexFuture
			if s.Suffrage == raft.Voter {
				f = m.n.raft.AddVoter(id, addr, 0, membershipChangeTimeout)
			} else {
				f = m.n.raft.AddNonvoter(id, addr, 0, membershipChangeTimeout)
			}
			if err := f.Error(); err != nil {
				m.n.log.Warn("moving a member failed", "node", gm.ID, "err", err)
			}
		}
	}
}

func (m *membership) warnOnce(key, msg string, args ...any) {
	if _, seen := m.warned.LoadOrStore(key+"\x00"+msg, true); !seen {
		m.n.log.Warn(msg, args...)
	}
}

// autopilot.ApplicationIntegration

func (m *membership) AutopilotConfig() *autopilot.Config {
	return &autopilot.Config{
		CleanupDeadServers:      true,
		LastContactThreshold:    autopilotLastContact,
		MaxTrailingLogs:         autopilotMaxTrailingLogs,
		MinQuorum:               uint(m.minQuorum()),
		ServerStabilizationTime: m.n.cfg.ServerStabilization,
	}
}

// minQuorum is the fewest voters autopilot leaves: the size the cluster
// was formed with.
func (m *membership) minQuorum() int {
	return max(m.n.cfg.BootstrapExpect, len(m.n.cfg.InitialCluster), 1)
}

func (m *membership) NotifyState(s *autopilot.State) { m.state.Store(s) }

// KnownServers is every server of the Raft configuration with what
// gossip says of it. One gossip has not heard of counts as failed, so it
// is removed only after the grace period, like any other.
func (m *membership) KnownServers() map[raft.ServerID]*autopilot.Server {
	fut := m.n.raft.GetConfiguration()
	if fut.Error() != nil {
		return nil
	}
	seen := map[string]gossipMember{}
	for _, gm := range m.g.Members() {
		seen[gm.ID] = gm
	}
	leader := m.n.raft.State() == raft.Leader
	out := map[raft.ServerID]*autopilot.Server{}
	for _, s := range fut.Configuration().Servers {
		status := autopilot.NodeFailed
		if gm, ok := seen[string(s.ID)]; ok {
			status = gm.Status
		}
		self := string(s.ID) == m.n.cfg.NodeID
		if self {
			status = autopilot.NodeAlive
		}
		out[s.ID] = &autopilot.Server{ID: s.ID, Name: string(s.ID), Address: s.Address, NodeStatus: status,
			IsLeader: self && leader, NodeType: autopilot.NodeVoter}
	}
	return out
}

// FetchServerStats asks each server for its last log index and term and
// how long since it heard from the leader.
func (m *membership) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	out := map[raft.ServerID]*autopilot.ServerStats{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, s := range servers {
		if s.NodeStatus != autopilot.NodeAlive {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st *autopilot.ServerStats
			if string(id) == m.n.cfg.NodeID {
				st = m.n.serverStats()
			} else {
				r, err := m.n.peer(string(s.Address)).call(ctx, msgStats, nil)
				if err != nil || len(r.body) < 16 {
					return
				}
				st = &autopilot.ServerStats{LastIndex: r.index, LastTerm: binary.BigEndian.Uint64(r.body),
					LastContact: time.Duration(binary.BigEndian.Uint64(r.body[8:])) * time.Millisecond}
				if len(r.body) > 16 && r.body[16] == 1 && m.isVoter(id) {
					m.demoteFresh(id)
				}
			}
			mu.Lock()
			out[id] = st
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (m *membership) isVoter(id raft.ServerID) bool {
	s, ok := m.n.configServer(string(id))
	return ok && s.Suffrage == raft.Voter
}

// serverStats is this node's answer to msgStats.
func (n *Node) serverStats() *autopilot.ServerStats {
	stats := n.raft.Stats()
	term, _ := strconv.ParseUint(stats["last_log_term"], 10, 64)
	contact := time.Duration(0)
	if n.raft.State() != raft.Leader {
		contact = time.Since(n.raft.LastContact())
	}
	return &autopilot.ServerStats{LastIndex: n.raft.LastIndex(), LastTerm: term, LastContact: contact}
}

// encodeStats is msgStats' reply: last term, ms since the leader was
// heard, and whether this node started empty and has not been taken back
// as a non-voter since (votegate.go).
func encodeStats(st *autopilot.ServerStats, fresh bool) peerReply {
	body := make([]byte, 17)
	binary.BigEndian.PutUint64(body, st.LastTerm)
	binary.BigEndian.PutUint64(body[8:], uint64(max(st.LastContact.Milliseconds(), 0)))
	if fresh {
		body[16] = 1
	}
	return peerReply{status: stOK, index: st.LastIndex, body: body}
}

// demoteFresh, on the leader, takes the vote from a voter that came back
// with an empty data dir: autopilot gives it back once it has caught up.
func (m *membership) demoteFresh(id raft.ServerID) {
	if _, busy := m.removing.LoadOrStore(id, true); busy {
		return
	}
	m.n.log.Warn("a voter came back without its data: it votes again once caught up", "node", id)
	go func() {
		defer m.removing.Delete(id)
		if err := m.n.raft.DemoteVoter(id, 0, membershipChangeTimeout).Error(); err != nil {
			m.n.log.Warn("taking the vote from a member that lost its data failed", "node", id, "err", err)
		}
	}()
}

// RemoveFailedServer removes a server gossip has seen failed or gone for
// DeadServerGrace; autopilot has checked the quorum.
func (m *membership) RemoveFailedServer(s *autopilot.Server) {
	since := time.Time{}
	for _, gm := range m.g.Members() {
		if gm.ID == string(s.ID) {
			since = gm.Since
		}
	}
	if since.IsZero() {
		since = m.firstMissed(s.ID)
	}
	if time.Since(since) < m.n.cfg.DeadServerGrace {
		return
	}
	if _, busy := m.removing.LoadOrStore(s.ID, true); busy {
		return
	}
	m.n.log.Warn("removing a dead server", "node", s.ID, "status", s.NodeStatus, "since", since.Format(time.RFC3339),
		"dead_server_grace", m.n.cfg.DeadServerGrace)
	go func() {
		defer m.removing.Delete(s.ID)
		if err := m.n.raft.RemoveServer(s.ID, 0, membershipChangeTimeout).Error(); err != nil {
			m.n.log.Warn("removing a dead server failed", "node", s.ID, "err", err)
		}
	}()
}

func (m *membership) firstMissed(id raft.ServerID) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.missed == nil {
		m.missed = map[raft.ServerID]time.Time{}
	}
	if _, ok := m.missed[id]; !ok {
		m.missed[id] = time.Now()
	}
	return m.missed[id]
}

// Leave is a graceful stop: a leader hands leadership to another voter
// first (writes pause for an election, none fails); with remove, the node
// then asks the leader to take it out of Raft; last it leaves gossip.
func (n *Node) Leave(ctx context.Context, remove bool) error {
	if n.raft.State() == raft.Leader && n.otherVoters() > 0 {
		n.log.Info("handing leadership on before stopping")
		if err := n.handOff("", ""); err != nil {
			n.log.Warn("handing leadership on failed", "err", err)
		}
	}
	var err error
	if remove {
		err = n.removeSelf(ctx)
	}
	if n.memb != nil {
		n.memb.g.leave()
	}
	return err
}

func (n *Node) otherVoters() int {
	others := 0
	for _, s := range n.configServers() {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			others++
		}
	}
	return others
}

// askLeader sends a membership call naming a server to the leader.
func (n *Node) askLeader(ctx context.Context, typ byte, id string) error {
	leader, err := n.waitLeader(ctx)
	if err != nil {
		return err
	}
	if leader == n.self() {
		return ErrNotApplied // leadership is moving here: try again
	}
	_, err = n.peer(leader).call(ctx, typ, []byte(id))
	return err
}

// removeSelf asks the leader to remove this node from Raft.
func (n *Node) removeSelf(ctx context.Context) error {
	for {
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return err
		}
		if leader == n.self() {
			return n.raft.RemoveServer(raft.ServerID(n.cfg.NodeID), 0, membershipChangeTimeout).Error()
		}
		_, err = n.peer(leader).call(ctx, msgRemove, []byte(n.cfg.NodeID))
		if err == nil {
			n.log.Info("removed from the cluster")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("leaving the cluster: %w", err)
		}
		time.Sleep(retryInterval)
	}
}

// RemoveServer takes a member out of Raft (the operator's remove); a
// follower asks the leader.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return n.askLeader(ctx, msgRemove, id)
	}
	if id == n.cfg.NodeID && n.otherVoters() == 0 {
		return fmt.Errorf("%w: %s is the only voter", ErrRefused, id)
	}
	if n.memb != nil {
		r := removal{at: time.Now()}
		for _, gm := range n.memb.g.Members() {
			if gm.ID == id {
				r.life = gm.Meta.Life
			}
		}
		n.memb.removed.Store(id, r)
	}
	return n.raft.RemoveServer(raft.ServerID(id), 0, membershipChangeTimeout).Error()
}

// removal is a server removed on request, and the life of the node gossip
// showed then.
type removal struct {
	at   time.Time
	life string
}

// holds reports whether the removal still keeps gm out: while gm is the
// life that was removed (or, for a node that says no life, for
// removedHoldoff).
func (r removal) holds(gm gossipMember) bool {
	if r.life != "" || gm.Meta.Life != "" {
		return r.life == gm.Meta.Life
	}
	return time.Since(r.at) < removedHoldoff
}

// autopilotRaft is the Raft autopilot drives. Autopilot decides to promote
// a server on a view of the configuration some time old; a server removed
// in the meantime (a node leaving, its removal asked a moment before)
// would come back as a voter that no longer runs. So a promotion applies
// only to a server still in the configuration, and only to that
// configuration (prevIndex): it fails if the configuration changed since.
type autopilotRaft struct{ *raft.Raft }

func (r autopilotRaft) AddVoter(id raft.ServerID, addr raft.ServerAddress, _ uint64, timeout time.Duration) raft.IndexFuture {
	fut := r.Raft.GetConfiguration()
	if err := fut.Error(); err != nil {
		return failedFuture{err}
	}
	for _, s := range fut.Configuration().Servers {
		if s.ID == id {
			return r.Raft.AddVoter(id, addr, fut.Index(), timeout)
		}
	}
	return failedFuture{fmt.Errorf("not promoting %s: it is no longer in the configuration", id)}
}

// failedFuture is a raft.IndexFuture that failed before it started.
type failedFuture struct{ err error }

func (f failedFuture) Error() error  { return f.err }
func (f failedFuture) Index() uint64 { return 0 }
