package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Membership faults. Raft changes its membership with configuration
// entries; the changes are where Jepsen found lost updates in Redis-Raft.
// These nemeses change the cluster's membership the way an operator does:
//
//	add-node      a brand-new node (n4, n5, ...) starts with --join; the
//	              leader adds it as a non-voter and autopilot promotes it
//	remove-node   `statehouse remove ID` against a node, while the removed
//	              node keeps running (its clients still talk to it); the
//	              heal stops it for good
//	replace-node  kill -9 a node, delete its data dir, start it again with
//	              the same id: it must catch up from the leader
//	leave         SIGTERM a node started with --leave-on-terminate: it
//	              takes itself out
//
// The cluster never has fewer than minVoters voters: remove-node and leave
// add a node first when there are only that many, and add-node removes one
// first once there are maxNodes members. New node ids are never reused: a
// removed node does not come back.

const (
	minVoters = 3
	// memberWait bounds waiting for the configuration to change (a node
	// added, promoted, removed) and for a replaced node to catch up.
	memberWait = 60 * time.Second
	// stopWait: how long a SIGTERM'd node may take to leave and exit (its
	// own bound on leaving is 15 s) before it is killed.
	stopWait = 20 * time.Second
)

var membershipNemeses = []string{"add-node", "remove-node", "replace-node", "leave"}

func isMembershipNemesis(name string) bool { return slices.Contains(membershipNemeses, name) }

// RaftServer is one server of the Raft configuration.
type RaftServer struct {
	ID    string
	Voter bool
}

// RaftConfig is the Raft configuration as the leader has it, and its
// commit index.
type RaftConfig struct {
	Leader  string
	Commit  uint64
	Servers []RaftServer
}

// Voters counts the voters.
func (c RaftConfig) Voters() int {
	n := 0
	for _, s := range c.Servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// Server finds id in the configuration.
func (c RaftConfig) Server(id string) (RaftServer, bool) {
	for _, s := range c.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return RaftServer{}, false
}

func (c RaftConfig) String() string {
	var parts []string
	for _, s := range c.Servers {
		role := ternary(s.Voter, "voter", "non-voter")
		if s.ID == c.Leader {
			role = "leader"
		}
		parts = append(parts, s.ID+" "+role)
	}
	return strings.Join(parts, ", ")
}

// RaftView is how the membership nemeses read the cluster's
// configuration: over RESP (RAFT STATUS), as `statehouse members` does.
type RaftView interface {
	// Config is the leader's configuration.
	Config(ctx context.Context) (RaftConfig, error)
	// Applied is the index node has applied, by its own account.
	Applied(ctx context.Context, node string) (uint64, error)
	// Save has node snapshot and compact its log (SAVE).
	Save(ctx context.Context, node string) error
}

// respRaft reads RAFT STATUS through the topology's probe clients.
type respRaft struct{ topo *Topology }

// raftStatus is RAFT STATUS's reply: its fields and its servers.
func raftStatus(ctx context.Context, rc *redis.Client) (map[string]string, []map[string]string, error) {
	v, err := rc.Do(ctx, "RAFT", "STATUS").Slice()
	if err != nil {
		return nil, nil, err
	}
	fields := map[string]string{}
	var servers []map[string]string
	for i := 0; i+1 < len(v); i += 2 {
		k := fmt.Sprint(v[i])
		if k != "servers" {
			fields[k] = fmt.Sprint(v[i+1])
			continue
		}
		list, _ := v[i+1].([]any)
		for _, s := range list {
			kv, _ := s.([]any)
			m := map[string]string{}
			for j := 0; j+1 < len(kv); j += 2 {
				m[fmt.Sprint(kv[j])] = fmt.Sprint(kv[j+1])
			}
			servers = append(servers, m)
		}
	}
	return fields, servers, nil
}

func (r respRaft) Config(ctx context.Context) (RaftConfig, error) {
	leader := r.topo.FindLeader(ctx)
	if leader == "" {
		return RaftConfig{}, errors.New("no leader")
	}
	p := r.topo.probe(leader)
	if p == nil {
		return RaftConfig{}, errNotMember(leader)
	}
	fields, servers, err := raftStatus(ctx, p)
	if err != nil {
		return RaftConfig{}, fmt.Errorf("RAFT STATUS on %s: %w", leader, err)
	}
	if fields["state"] != "Leader" {
		return RaftConfig{}, fmt.Errorf("%s no longer leads", leader)
	}
	c := RaftConfig{Leader: leader}
	c.Commit, _ = strconv.ParseUint(fields["commit_index"], 10, 64)
	for _, s := range servers {
		c.Servers = append(c.Servers, RaftServer{ID: s["id"], Voter: s["voter"] == "1"})
	}
	sort.Slice(c.Servers, func(i, j int) bool { return nodeIndex(c.Servers[i].ID) < nodeIndex(c.Servers[j].ID) })
	return c, nil
}

func (r respRaft) Applied(ctx context.Context, node string) (uint64, error) {
	p := r.topo.probe(node)
	if p == nil {
		return 0, errNotMember(node)
	}
	fields, _, err := raftStatus(ctx, p)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(fields["applied_index"], 10, 64)
}

func (r respRaft) Save(ctx context.Context, node string) error {
	p := r.topo.probe(node)
	if p == nil {
		return errNotMember(node)
	}
	return p.Do(ctx, "SAVE").Err()
}

// ---- helpers the membership nemeses share ----------------------------------

func (ne *NemEnv) membership() (Membership, error) {
	m, ok := ne.B.(Membership)
	if !ok {
		return nil, fmt.Errorf("backend %s cannot change membership", ne.B.Name())
	}
	return m, nil
}

// pollEvery is how often the membership nemeses look at the cluster
// while they wait (tests make it shorter).
var pollEvery = 200 * time.Millisecond

// waitFor polls cond until it holds or ctx ends and says how long it took.
func waitFor(ctx context.Context, cond func(ctx context.Context) bool) (time.Duration, error) {
	start := time.Now()
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := cond(c)
		cancel()
		if ok {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// config reads the configuration, retrying for a while (an election may
// be under way).
func (ne *NemEnv) config(ctx context.Context) (RaftConfig, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var cfg RaftConfig
	var last error
	_, err := waitFor(ctx, func(c context.Context) bool {
		cfg, last = ne.Raft.Config(c)
		return last == nil
	})
	if err != nil {
		return cfg, fmt.Errorf("reading the configuration: %v", last)
	}
	return cfg, nil
}

// addNode starts a new node and waits until it is a voter.
func (ne *NemEnv) addNode(ctx context.Context) (id, how string, err error) {
	m, err := ne.membership()
	if err != nil {
		return "", "", err
	}
	start := time.Now()
	id, err = m.AddNode()
	if id != "" {
		ne.Topo.Add(id, ne.B.ClientAddr(id))
	}
	if err != nil {
		return id, "", fmt.Errorf("starting %s: %w", id, err)
	}
	how, err = ne.waitVoter(ctx, id, start)
	return id, how, err
}

// waitVoter waits until id is in the configuration as a voter and says
// how long after start it was first listed and promoted.
func (ne *NemEnv) waitVoter(ctx context.Context, id string, start time.Time) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, memberWait)
	defer cancel()
	var listed time.Duration
	took, err := waitFor(ctx, func(c context.Context) bool {
		cfg, err := ne.Raft.Config(c)
		if err != nil {
			return false
		}
		s, ok := cfg.Server(id)
		if ok && listed == 0 {
			listed = time.Since(start)
		}
		return ok && s.Voter
	})
	took = time.Since(start)
	seen := "never listed"
	if listed > 0 {
		seen = fmt.Sprintf("a non-voter after %.1fs", listed.Seconds())
	}
	if err != nil {
		return "", fmt.Errorf("%s not a voter %.0fs after it started (%s)", id, took.Seconds(), seen)
	}
	return fmt.Sprintf("%s, a voter after %.1fs", seen, took.Seconds()), nil
}

// result is what a watch found.
type result struct {
	how string
	err error
}

// watch runs f in the background from now, so that how long a node took
// to join or catch up is measured from when it started, while the fault
// interval runs; the heal collects it.
func watch(f func(ctx context.Context) (string, error)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), memberWait+10*time.Second)
		defer cancel()
		how, err := f(ctx)
		ch <- result{how, err}
	}()
	return ch
}

// removeNode takes id out of the configuration with `statehouse remove`
// sent to via, retrying while there is no leader, and waits until the
// configuration no longer lists it.
func (ne *NemEnv) removeNode(ctx context.Context, id, via string) error {
	m, err := ne.membership()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, memberWait)
	defer cancel()
	var last error
	if _, err := waitFor(ctx, func(c context.Context) bool {
		// The operator's own timeout (10 s), not the poll's: a removal
		// waits for its entry to commit.
		oc, cancel := context.WithTimeout(ctx, 12*time.Second)
		_, last = m.Operator(oc, via, "remove", id)
		cancel()
		if last == nil {
			return true
		}
		// An attempt cut short may have removed it all the same.
		cfg, err := ne.Raft.Config(c)
		_, in := cfg.Server(id)
		return err == nil && !in
	}); err != nil {
		return last
	}
	if _, err := waitFor(ctx, func(c context.Context) bool {
		cfg, err := ne.Raft.Config(c)
		_, in := cfg.Server(id)
		return err == nil && !in
	}); err != nil {
		return fmt.Errorf("%s still in the configuration after statehouse remove", id)
	}
	return nil
}

// retire stops a node that left the cluster for good (SIGTERM) and forgets it.
func (ne *NemEnv) retire(id string) (string, error) {
	m, err := ne.membership()
	if err != nil {
		return "", err
	}
	ne.Topo.Remove(id)
	how, err := m.Stop(id, stopWait)
	if err != nil {
		return how, err
	}
	return how, m.Retire(id)
}

// runningMembers are the members whose process runs, sorted by id.
func (ne *NemEnv) runningMembers() []string {
	var out []string
	for _, n := range ne.B.Nodes() {
		if ne.B.Running(n) {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return nodeIndex(out[i]) < nodeIndex(out[j]) })
	return out
}

// outTarget chooses the node to take out of cfg: the leader when
// leader is set, else a random other voter, or a non-voter if there is
// one (removing it never costs a vote). It returns "" when taking any
// voter out would leave fewer than minVoters.
func outTarget(cfg RaftConfig, members []string, leader bool, rng interface{ IntN(int) int }) string {
	var voters, others []string
	for _, s := range cfg.Servers {
		if !slices.Contains(members, s.ID) {
			continue
		}
		switch {
		case !s.Voter:
			others = append(others, s.ID)
		case s.ID != cfg.Leader:
			voters = append(voters, s.ID)
		}
	}
	if len(others) > 0 {
		return others[rng.IntN(len(others))]
	}
	if cfg.Voters()-1 < minVoters {
		return ""
	}
	leaderOK := cfg.Leader != "" && slices.Contains(members, cfg.Leader)
	switch {
	case leaderOK && (leader || len(voters) == 0):
		return cfg.Leader
	case len(voters) > 0:
		return voters[rng.IntN(len(voters))]
	}
	return ""
}

// makeRoomToRemove adds a node when taking one out would leave fewer than
// minVoters, and returns the configuration to choose from and what it did.
func (ne *NemEnv) makeRoomToRemove(ctx context.Context) (RaftConfig, string, error) {
	cfg, err := ne.config(ctx)
	if err != nil {
		return cfg, "", err
	}
	if cfg.Voters() > minVoters {
		return cfg, "", nil
	}
	id, how, err := ne.addNode(ctx)
	did := fmt.Sprintf("%d voters, so first added %s (%s); then ", cfg.Voters(), id, how)
	if err != nil {
		return cfg, did, fmt.Errorf("adding %s first: %w", id, err)
	}
	cfg, err = ne.config(ctx)
	return cfg, did, err
}

// ---- add-node ---------------------------------------------------------------

type addNodeNem struct {
	node   string
	voter  <-chan result
	healed string
}

func (n *addNodeNem) Name() string   { return "add-node" }
func (n *addNodeNem) Healed() string { return n.healed }

func (n *addNodeNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node, n.healed = "", ""
	m, err := ne.membership()
	if err != nil {
		return "", err
	}
	did := ""
	if len(ne.B.Nodes()) >= ne.MaxNodes {
		// Full: one goes first, so a long run keeps adding nodes without
		// crowding the machine.
		cfg, err := ne.config(ctx)
		if err != nil {
			return "", err
		}
		x := outTarget(cfg, ne.runningMembers(), false, ne.Rng)
		if x == "" {
			return "", fmt.Errorf("%d members but none can go (%s)", len(ne.B.Nodes()), cfg)
		}
		if err := ne.removeNode(ctx, x, x); err != nil {
			return "", fmt.Errorf("making room: %w", err)
		}
		how, err := ne.retire(x)
		if err != nil {
			return "", fmt.Errorf("making room: stopping %s: %w", x, err)
		}
		did = fmt.Sprintf("%d members, so first removed %s (stopped: %s); then ", ne.MaxNodes, x, how)
	}
	start := time.Now()
	id, err := m.AddNode()
	if id != "" {
		n.node = id
		ne.Topo.Add(id, ne.B.ClientAddr(id))
	}
	if err == nil {
		n.voter = watch(func(ctx context.Context) (string, error) { return ne.waitVoter(ctx, id, start) })
	}
	return did + fmt.Sprintf("start %s (%s) empty with --join", id, ne.B.ClientAddr(id)), err
}

// Heal waits for the new node to be promoted: the fault lasts while it
// is a non-voter catching up, and through its promotion.
func (n *addNodeNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.voter == nil {
		return nil
	}
	r := <-n.voter
	n.voter, n.healed = nil, r.how
	return r.err
}

// ---- remove-node, leave -------------------------------------------------------

// removeNodeNem takes a node out with `statehouse remove` (leave: the
// node takes itself out on SIGTERM) and, to heal, stops it for good.
type removeNodeNem struct {
	leave  bool
	node   string // taken out; still running until the heal (remove-node)
	healed string
}

func (n *removeNodeNem) Name() string   { return ternary(n.leave, "leave", "remove-node") }
func (n *removeNodeNem) Healed() string { return n.healed }

func (n *removeNodeNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node, n.healed = "", ""
	leader := ne.Rng.IntN(2) == 0 // a leader taking itself out is the hard case: often pick it
	cfg, did, err := ne.makeRoomToRemove(ctx)
	if err != nil {
		return did, err
	}
	running := ne.runningMembers()
	x := outTarget(cfg, running, leader, ne.Rng)
	if x == "" {
		return did, fmt.Errorf("no node can go without leaving fewer than %d voters (%s)", minVoters, cfg)
	}
	role := ""
	if x == cfg.Leader {
		role = " (the leader)"
	}
	n.node = x
	if n.leave {
		m, err := ne.membership()
		if err != nil {
			return did, err
		}
		how, err := m.Stop(x, stopWait)
		desc := did + fmt.Sprintf("SIGTERM %s%s with --leave-on-terminate: %s", x, role, how)
		if err != nil {
			return desc, err
		}
		// It is gone: whether it took itself out is checked in Heal.
		ne.Topo.Remove(x)
		return desc, m.Retire(x)
	}
	via := running[ne.Rng.IntN(len(running))]
	desc := did + fmt.Sprintf("statehouse remove %s%s --addr %s; it runs on until the heal", x, role, via)
	return desc, ne.removeNode(ctx, x, via)
}

func (n *removeNodeNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.node == "" {
		return nil
	}
	x := n.node
	n.node = ""
	if n.leave {
		// A node that left must not stay a voter: the others would need
		// it for a quorum. Take it out by hand if it did not go.
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := waitFor(ctx, func(c context.Context) bool {
			cfg, err := ne.Raft.Config(c)
			_, in := cfg.Server(x)
			return err == nil && !in
		})
		cancel()
		if err == nil {
			n.healed = x + " out of the configuration"
			return nil
		}
		running := ne.runningMembers()
		if len(running) == 0 {
			return fmt.Errorf("%s still in the configuration after leaving, and no node runs to remove it", x)
		}
		rerr := ne.removeNode(context.Background(), x, running[0])
		return errors.Join(fmt.Errorf("%s still in the configuration 15s after leaving: removed it with statehouse remove", x), rerr)
	}
	// Stopped only once it is out: a voter stopped for good would count
	// against every quorum after it.
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := waitFor(c, func(c context.Context) bool {
		cfg, err := ne.Raft.Config(c)
		_, in := cfg.Server(x)
		return err == nil && !in
	}); err != nil {
		return fmt.Errorf("%s still in the configuration: left running as a member", x)
	}
	how, err := ne.retire(x)
	n.healed = "stopped " + x + ": " + how
	return err
}

// ---- replace-node -------------------------------------------------------------

// replaceNodeNem kills a node, deletes its data and starts it empty with
// the same id and address, after the other members compacted their logs
// (SAVE): the node must catch up from whichever leads, by snapshot once
// the log is longer than the entries a node keeps after one (10240), and
// nothing acknowledged may be lost.
type replaceNodeNem struct {
	node     string
	caughtUp <-chan result
	healed   string
}

func (n *replaceNodeNem) Name() string   { return "replace-node" }
func (n *replaceNodeNem) Healed() string { return n.healed }

func (n *replaceNodeNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node, n.healed = "", ""
	m, err := ne.membership()
	if err != nil {
		return "", err
	}
	x := ne.pick(ctx, ne.Rng.IntN(2) == 0)
	if x == "" {
		return "", errors.New("no running node")
	}
	n.node = x
	var saved []string
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	for _, y := range ne.runningMembers() {
		if y == x {
			continue
		}
		if err := ne.Raft.Save(c, y); err != nil {
			saved = append(saved, y+": "+err.Error())
		} else {
			saved = append(saved, y)
		}
	}
	cancel()
	cfg, err := ne.config(ctx)
	if err != nil {
		return "", err
	}
	desc := fmt.Sprintf("SAVE on %s; kill -9 %s%s at commit index %d, delete its data, start it empty",
		strings.Join(saved, ", "), x, ternary(x == cfg.Leader, " (the leader)", ""), cfg.Commit)
	if err := ne.B.Kill(x); err != nil {
		return desc, err
	}
	if err := m.Wipe(x); err != nil {
		return desc, err
	}
	start := time.Now()
	if err := ne.B.Start(x, nil); err != nil {
		return desc, err
	}
	n.caughtUp = watch(func(ctx context.Context) (string, error) {
		_, err := waitFor(ctx, func(c context.Context) bool {
			a, err := ne.Raft.Applied(c, x)
			return err == nil && a >= cfg.Commit
		})
		took := time.Since(start).Seconds()
		if err != nil {
			return "", fmt.Errorf("%s had not applied index %d %.0fs after it started empty", x, cfg.Commit, took)
		}
		return fmt.Sprintf("%s applied index %d %.1fs after it started empty", x, cfg.Commit, took), nil
	})
	return desc, nil
}

// Heal waits until the replaced node has applied what the leader had
// committed before it was killed.
func (n *replaceNodeNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.node == "" {
		return nil
	}
	x := n.node
	n.node = ""
	if n.caughtUp == nil {
		if !ne.B.Running(x) {
			return ne.B.Start(x, nil) // killed but not started: start it, empty or not
		}
		return nil
	}
	r := <-n.caughtUp
	n.caughtUp, n.healed = nil, r.how
	return r.err
}
