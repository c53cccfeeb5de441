package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"
)

// A nemesis injects one kind of fault and heals it. The scheduler runs one
// fault at a time: quiet for an interval, a fault for an interval, healed,
// and so on, so every fault is healed before the next begins.
type Nemesis interface {
	Name() string
	// Start injects the fault and says what it did ("kill n2").
	Start(ctx context.Context, ne *NemEnv) (string, error)
	// Heal undoes what Start did.
	Heal(ctx context.Context, ne *NemEnv) error
}

// NemEnv is what nemeses act on.
type NemEnv struct {
	B       Backend
	Topo    *Topology
	Rng     *rand.Rand
	Latency time.Duration
	Loss    float64
	Skew    time.Duration // largest clock offset the clock nemesis uses
	// LateBy bounds how late partition-leader-late's leader hears its peers;
	// Interval is the length of a fault.
	LateBy   time.Duration
	Interval time.Duration
	Logf     func(format string, a ...any)
	// Raft reads the configuration; MaxNodes bounds how many members
	// add-node grows the cluster to (membership.go).
	Raft     RaftView
	MaxNodes int

	mu        sync.Mutex
	skewBound time.Duration // largest offset any node actually ran with
}

func (ne *NemEnv) noteSkew(d time.Duration) {
	ne.mu.Lock()
	defer ne.mu.Unlock()
	ne.skewBound = max(ne.skewBound, d.Abs())
}

// SkewBound is the largest clock offset any node ran with.
func (ne *NemEnv) SkewBound() time.Duration {
	ne.mu.Lock()
	defer ne.mu.Unlock()
	return ne.skewBound
}

var nemesisNames = []string{"none", "kill", "kill-leader", "pause", "pause-leader", "partition", "partition-leader",
	"partition-ring", "partition-oneway", "partition-leader-late", "latency", "loss", "clock", "clock-jump", "restart-all", "disk-full",
	"add-node", "remove-node", "replace-node", "leave"}

func newNemesis(name string) (Nemesis, error) {
	switch name {
	case "kill":
		return &killNem{}, nil
	case "kill-leader":
		return &killNem{leader: true}, nil
	case "pause":
		return &pauseNem{}, nil
	case "pause-leader":
		return &pauseNem{leader: true}, nil
	case "partition", "partition-leader", "partition-ring", "partition-oneway":
		return &partitionNem{mode: name}, nil
	case "partition-leader-late":
		return &lateLeaderNem{}, nil
	case "latency":
		return &shapeNem{name: name}, nil
	case "loss":
		return &shapeNem{name: name}, nil
	case "clock":
		return &clockNem{}, nil
	case "clock-jump":
		return &clockNem{jump: true}, nil
	case "restart-all":
		return &restartAllNem{}, nil
	case "disk-full":
		return &diskFullNem{}, nil
	case "add-node":
		return &addNodeNem{}, nil
	case "remove-node":
		return &removeNodeNem{}, nil
	case "leave":
		return &removeNodeNem{leave: true}, nil
	case "replace-node":
		return &replaceNodeNem{}, nil
	}
	return nil, fmt.Errorf("unknown nemesis %q (%s)", name, strings.Join(nemesisNames, ", "))
}

// pick chooses a node: the leader when leader is set and one is known,
// otherwise a random running node (from the sorted list, so the seed
// decides).
func (ne *NemEnv) pick(ctx context.Context, leader bool) string {
	if leader {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		l := ne.Topo.FindLeader(c)
		cancel()
		if l != "" {
			return l
		}
		ne.Logf("no leader answers; picking a random node")
	}
	var running []string
	for _, n := range ne.B.Nodes() {
		if ne.B.Running(n) {
			running = append(running, n)
		}
	}
	sort.Strings(running)
	if len(running) == 0 {
		return ""
	}
	return running[ne.Rng.IntN(len(running))]
}

// ---- kill, kill-leader ----------------------------------------------------

type killNem struct {
	leader bool
	node   string
}

func (n *killNem) Name() string { return ternary(n.leader, "kill-leader", "kill") }

func (n *killNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node = ne.pick(ctx, n.leader)
	if n.node == "" {
		return "", errors.New("no running node")
	}
	return "kill -9 " + n.node, ne.B.Kill(n.node)
}

func (n *killNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.node == "" || ne.B.Running(n.node) {
		return nil
	}
	return ne.B.Start(n.node, nil)
}

// ---- pause ----------------------------------------------------------------

type pauseNem struct {
	leader bool
	node   string
}

func (n *pauseNem) Name() string { return ternary(n.leader, "pause-leader", "pause") }

func (n *pauseNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node = ne.pick(ctx, n.leader)
	if n.node == "" {
		return "", errors.New("no running node")
	}
	return "SIGSTOP " + n.node, ne.B.Pause(n.node)
}

func (n *pauseNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.node == "" {
		return nil
	}
	return ne.B.Resume(n.node)
}

// ---- partitions -------------------------------------------------------------

type partitionNem struct{ mode string }

func (n *partitionNem) Name() string { return n.mode }

func (n *partitionNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	nodes := append([]string(nil), ne.B.Nodes()...)
	sort.Strings(nodes)
	var drops map[string][]string
	var desc string
	switch n.mode {
	case "partition":
		ne.Rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		a, b := nodes[:len(nodes)/2], nodes[len(nodes)/2:]
		drops, desc = cut(a, b), fmt.Sprintf("%v | %v", a, b)
	case "partition-leader":
		l := ne.pick(ctx, true)
		var rest []string
		for _, x := range nodes {
			if x != l {
				rest = append(rest, x)
			}
		}
		drops, desc = cut([]string{l}, rest), fmt.Sprintf("leader [%s] | %v", l, rest)
	case "partition-ring":
		ne.Rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		drops, desc = ring(nodes)
	case "partition-oneway":
		x := nodes[ne.Rng.IntN(len(nodes))]
		drops = map[string][]string{}
		if ne.Rng.IntN(2) == 0 {
			for _, y := range nodes {
				if y != x {
					drops[x] = append(drops[x], y)
				}
			}
			desc = fmt.Sprintf("%s hears nobody (it still sends)", x)
		} else {
			for _, y := range nodes {
				if y != x {
					drops[y] = []string{x}
				}
			}
			desc = fmt.Sprintf("nobody hears %s (it still receives)", x)
		}
	}
	return desc, ne.B.Partition(drops)
}

func (n *partitionNem) Heal(ctx context.Context, ne *NemEnv) error { return ne.B.HealNetwork() }

// lateLeaderNem makes the leader hear its peers late, then cuts it off
// while what it has yet to hear still trickles in: the leader's Raft keeps
// counting acknowledgements that arrive after the cut (its own step-down
// comes that much later), while the followers stopped hearing it at the
// cut and elect a new leader on their clocks. The leader's lease must
// count from when an acknowledged AppendEntries was sent, not from when
// the acknowledgement arrived.
type lateLeaderNem struct{}

func (n *lateLeaderNem) Name() string { return "partition-leader-late" }

func (n *lateLeaderNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	l := ne.pick(ctx, true)
	if l == "" {
		return "", errors.New("no running node")
	}
	// Half to all of LateBy: later than that, the leader's Raft steps
	// down before the cut (it counts a quorum's answers within
	// LeaderLeaseTimeout, and one heartbeat is in flight at a time).
	late := ne.LateBy/2 + time.Duration(ne.Rng.Int64N(int64(ne.LateBy)/2+1))
	mech, err := ne.B.DelayInbound(l, late)
	if err != nil {
		return "", err
	}
	// Long enough for the leader to settle into hearing everything late.
	t := time.NewTimer(ne.Interval / 2)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	var rest []string
	for _, x := range ne.B.Nodes() {
		if x != l {
			rest = append(rest, x)
		}
	}
	sort.Strings(rest)
	desc := fmt.Sprintf("leader [%s] hears its peers %v late (%s), then | %v", l, late.Round(time.Millisecond), mech, rest)
	return desc, ne.B.Partition(cut([]string{l}, rest))
}

func (n *lateLeaderNem) Heal(ctx context.Context, ne *NemEnv) error { return ne.B.HealNetwork() }

// cut drops all traffic between groups a and b, both ways.
func cut(a, b []string) map[string][]string {
	d := map[string][]string{}
	for _, x := range a {
		for _, y := range b {
			d[x] = append(d[x], y)
			d[y] = append(d[y], x)
		}
	}
	return d
}

// ring arranges the nodes in a ring where each sees its nearest
// neighbours: every node is in a majority, and no two nodes see the same
// majority (Jepsen's majorities-ring). With fewer than five nodes no such
// ring exists; it cuts one link instead, so one node bridges two that
// cannot talk.
func ring(nodes []string) (map[string][]string, string) {
	n := len(nodes)
	d := map[string][]string{}
	if n < 5 {
		a, b := nodes[0], nodes[1]
		d[a], d[b] = []string{b}, []string{a}
		return d, fmt.Sprintf("bridge: %s and %s cannot talk, the others hear both", a, b)
	}
	reach := (n/2 + 1) / 2 // neighbours on each side: self + 2*reach is a majority
	var views []string
	for i, x := range nodes {
		var sees []string
		for j, y := range nodes {
			dist := (j - i + n) % n
			dist = min(dist, n-dist)
			if dist > reach {
				d[x] = append(d[x], y)
			} else if dist > 0 {
				sees = append(sees, y)
			}
		}
		views = append(views, fmt.Sprintf("%s sees %v", x, sees))
	}
	return d, "ring: " + strings.Join(views, "; ")
}

// ---- latency, loss ----------------------------------------------------------

type shapeNem struct{ name string }

func (n *shapeNem) Name() string { return n.name }

func (n *shapeNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	s := Shape{Loss: ne.Loss}
	if n.name == "latency" {
		s = Shape{Delay: ne.Latency, Jitter: ne.Latency / 2}
	}
	mech, err := ne.B.Shape(s)
	if n.name == "latency" {
		return fmt.Sprintf("delay %v ±%v via %s", s.Delay, s.Jitter, mech), err
	}
	return fmt.Sprintf("loss %.0f%% via %s", s.Loss*100, mech), err
}

func (n *shapeNem) Heal(ctx context.Context, ne *NemEnv) error { return ne.B.HealNetwork() }

// ---- clock --------------------------------------------------------------------

// clockNem restarts a node with its clock offset (--debug-clock-offset)
// and, to heal, restarts it with the true clock. clock skews it by up to
// --clock-skew; clock-jump moves the leader's clock a year ahead or back,
// which statehouse must not follow: a node further than --max-clock-skew
// from its members uses their time, so the checkers allow that much skew.
type clockNem struct {
	jump bool
	node string
}

// statehouseMaxClockSkew is statehouse's --max-clock-skew default: how far
// from the members' time a node's time may be.
const statehouseMaxClockSkew = 5 * time.Second

func (n *clockNem) Name() string {
	if n.jump {
		return "clock-jump"
	}
	return "clock"
}

func (n *clockNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	n.node = ne.pick(ctx, n.jump || ne.Rng.IntN(2) == 0) // the leader's clock stamps deadlines: often pick it
	if n.node == "" {
		return "", errors.New("no running node")
	}
	var off time.Duration
	if n.jump {
		off = 365 * 24 * time.Hour
		ne.noteSkew(statehouseMaxClockSkew)
	} else {
		off = ne.Skew/2 + time.Duration(ne.Rng.Int64N(int64(ne.Skew/2)+1))
		off = off.Truncate(time.Millisecond)
		ne.noteSkew(off)
	}
	if ne.Rng.IntN(2) == 0 {
		off = -off
	}
	if err := ne.B.Kill(n.node); err != nil {
		return "", err
	}
	return fmt.Sprintf("restart %s with clock offset %v", n.node, off), ne.B.Start(n.node, []string{"--debug-clock-offset", off.String()})
}

func (n *clockNem) Heal(ctx context.Context, ne *NemEnv) error {
	if n.node == "" {
		return nil
	}
	if err := ne.B.Kill(n.node); err != nil {
		return err
	}
	return ne.B.Start(n.node, nil)
}

// ---- restart-all ----------------------------------------------------------------

type restartAllNem struct{}

func (n *restartAllNem) Name() string { return "restart-all" }

func (n *restartAllNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	var errs []error
	for _, x := range ne.B.Nodes() {
		errs = append(errs, ne.B.Kill(x))
	}
	return "kill -9 every node", errors.Join(errs...)
}

func (n *restartAllNem) Heal(ctx context.Context, ne *NemEnv) error {
	var errs []error
	for _, x := range ne.B.Nodes() {
		if !ne.B.Running(x) {
			errs = append(errs, ne.B.Start(x, nil))
		}
	}
	return errors.Join(errs...)
}

// ---- disk-full ------------------------------------------------------------------

// diskFullNem fills the data dir's filesystem of the leader, of a random
// follower or of every node, and deletes the filler to heal. The run gives
// every node a small filesystem of its own when disk-full is among the
// nemeses (diskSize).
type diskFullNem struct{ nodes []string }

func (n *diskFullNem) Name() string { return "disk-full" }

// Which nodes a disk-full fault fills.
const (
	diskLeader = iota
	diskFollower
	diskAll
	diskModes
)

// diskTargets chooses the nodes to fill for mode among nodes (sorted),
// given the leader ("" when none answered): a leader mode without a
// leader, or a follower mode without a follower, fills a random node.
func diskTargets(mode int, nodes []string, leader string, rng *rand.Rand) ([]string, string) {
	switch mode {
	case diskAll:
		return nodes, "every node"
	case diskLeader:
		if leader != "" {
			return []string{leader}, "the leader " + leader
		}
	case diskFollower:
		var followers []string
		for _, x := range nodes {
			if x != leader {
				followers = append(followers, x)
			}
		}
		if leader != "" && len(followers) > 0 {
			x := followers[rng.IntN(len(followers))]
			return []string{x}, "follower " + x
		}
	}
	x := nodes[rng.IntN(len(nodes))]
	return []string{x}, x + ternary(leader == "", " (no leader answered)", " (no follower)")
}

func (n *diskFullNem) Start(ctx context.Context, ne *NemEnv) (string, error) {
	nodes := append([]string(nil), ne.B.Nodes()...)
	sort.Strings(nodes)
	mode := ne.Rng.IntN(diskModes)
	leader := ""
	if mode != diskAll {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		leader = ne.Topo.FindLeader(c)
		cancel()
	}
	var who string
	n.nodes, who = diskTargets(mode, nodes, leader, ne.Rng)
	var done []string
	var errs []error
	for _, x := range n.nodes {
		d, err := ne.B.FillDisk(x)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, d)
	}
	return fmt.Sprintf("fill the disk of %s (%s)", who, strings.Join(done, "; ")), errors.Join(errs...)
}

// Heal deletes the fillers and starts a target that died under its full
// disk (the crash is in the history already), so the run goes on with
// every node.
func (n *diskFullNem) Heal(ctx context.Context, ne *NemEnv) error {
	var errs []error
	for _, x := range n.nodes {
		errs = append(errs, ne.B.FreeDisk(x))
	}
	for _, x := range n.nodes {
		if !ne.B.Running(x) {
			errs = append(errs, ne.B.Start(x, nil))
		}
	}
	n.nodes = nil
	return errors.Join(errs...)
}

// ---- the scheduler ------------------------------------------------------------------

// runNemeses alternates quiet and fault intervals until ctx ends, picking
// the fault with the seeded random source, and heals whatever is in
// effect when it returns.
func runNemeses(ctx context.Context, ne *NemEnv, h *History, nems []Nemesis, interval time.Duration) {
	if len(nems) == 0 {
		return
	}
	sleep := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	// The schedule has its own random stream: which faults come in which
	// order depends on the seed alone, whatever the targets consumed.
	schedule := rand.New(rand.NewPCG(ne.Rng.Uint64(), 0x7363686564))
	deadline, _ := ctx.Deadline()
	for sleep(interval) {
		if !deadline.IsZero() && time.Until(deadline) < interval {
			return // no room for a whole fault: end quiet
		}
		nem := nems[schedule.IntN(len(nems))]
		ev := NemesisEvent{Kind: nem.Name(), Start: h.Now()}
		detail, err := nem.Start(ctx, ne)
		ev.Detail = detail
		if err != nil {
			ev.Error = err.Error()
		}
		ne.Logf("nemesis %-16s %s%s", nem.Name(), detail, ternary(err != nil, " (error: "+ev.Error+")", ""))
		sleep(interval)
		// Heal even when the run is over: never leave a fault behind.
		herr := nem.Heal(context.Background(), ne)
		healed := ""
		if h, ok := nem.(interface{ Healed() string }); ok && h.Healed() != "" {
			healed = h.Healed() // what the heal found: how long a node took to join or catch up
			ev.Detail += "; healed: " + healed
		}
		if herr != nil {
			ev.Error = strings.TrimPrefix(ev.Error+"; heal: "+herr.Error(), "; ")
			ne.Logf("nemesis %-16s heal failed: %v", nem.Name(), herr)
		} else {
			ne.Logf("nemesis %-16s healed%s", nem.Name(), ternary(healed != "", ": "+healed, ""))
		}
		ev.End = h.Now()
		h.AddNemesis(ev)
	}
}

// healAll is the belt and braces at the end of a run: the network whole,
// every disk emptied of fillers, every process resumed and running with
// its true clock.
func healAll(ne *NemEnv) error {
	var errs []error
	errs = append(errs, ne.B.HealNetwork())
	for _, x := range ne.B.Nodes() {
		errs = append(errs, ne.B.FreeDisk(x)) // before starting a node that died on a full disk
	}
	for _, x := range ne.B.Nodes() {
		if ne.B.Running(x) {
			ne.B.Resume(x)
		} else {
			errs = append(errs, ne.B.Start(x, nil))
		}
	}
	return errors.Join(errs...)
}
