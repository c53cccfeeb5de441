package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOutTarget(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cfg := func(leader string, voters []string, nonvoters ...string) RaftConfig {
		c := RaftConfig{Leader: leader}
		for _, v := range voters {
			c.Servers = append(c.Servers, RaftServer{ID: v, Voter: true})
		}
		for _, v := range nonvoters {
			c.Servers = append(c.Servers, RaftServer{ID: v})
		}
		return c
	}
	three := cfg("n1", []string{"n1", "n2", "n3"})
	for _, leader := range []bool{false, true} {
		if x := outTarget(three, []string{"n1", "n2", "n3"}, leader, rng); x != "" {
			t.Errorf("3 voters: chose %s, which would leave 2", x)
		}
	}
	four := cfg("n2", []string{"n1", "n2", "n3", "n4"})
	all := []string{"n1", "n2", "n3", "n4"}
	if x := outTarget(four, all, true, rng); x != "n2" {
		t.Errorf("4 voters, the leader wanted: chose %s", x)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[outTarget(four, all, false, rng)] = true
	}
	if !reflect.DeepEqual(seen, map[string]bool{"n1": true, "n3": true, "n4": true}) {
		t.Errorf("4 voters, a follower wanted: chose %v", seen)
	}
	// A non-voter goes first: taking it out costs no vote, even at 3 voters.
	if x := outTarget(cfg("n1", []string{"n1", "n2", "n3"}, "n4"), all, true, rng); x != "n4" {
		t.Errorf("with a non-voter: chose %s", x)
	}
	// Only running members are chosen; the leader if it is the only one.
	if x := outTarget(four, []string{"n2", "n3"}, false, rng); x != "n3" {
		t.Errorf("only n2 (leader) and n3 run: chose %s", x)
	}
	if x := outTarget(four, []string{"n2"}, false, rng); x != "n2" {
		t.Errorf("only the leader runs: chose %s", x)
	}
	if x := outTarget(cfg("", []string{"n1", "n2", "n3", "n4"}), nil, true, rng); x != "" {
		t.Errorf("nothing runs: chose %s", x)
	}
}

// fakeCluster is a backend with membership and the Raft configuration
// its nodes would agree on: new nodes are listed as non-voters when they
// start and promoted at the next look; a node stopped with SIGTERM takes
// itself out (--leave-on-terminate); the leader is the first running
// voter. It records the fewest voters the configuration ever had.
type fakeCluster struct {
	Backend // the methods it does not fake panic (nil interface)

	mu       sync.Mutex
	members  []string
	all      []string
	running  map[string]bool
	wiped    map[string]bool // started empty since its data was deleted
	config   map[string]bool // id -> voter
	promote  map[string]bool // non-voters promoted at the next look
	leader   string
	commit   uint64
	fewest   int
	started  []string
	replaced []string
}

func newFakeCluster(n int) *fakeCluster {
	f := &fakeCluster{running: map[string]bool{}, wiped: map[string]bool{}, config: map[string]bool{},
		promote: map[string]bool{}, fewest: n}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("n%d", i)
		f.members, f.all = append(f.members, id), append(f.all, id)
		f.running[id], f.config[id] = true, true
	}
	f.elect()
	return f
}

// elect keeps a running voter leading; callers hold mu.
func (f *fakeCluster) elect() {
	voters := 0
	for _, v := range f.config {
		if v {
			voters++
		}
	}
	f.fewest = min(f.fewest, voters)
	if f.config[f.leader] && f.running[f.leader] {
		return
	}
	f.leader = ""
	ids := make([]string, 0, len(f.config))
	for id := range f.config {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return nodeIndex(ids[i]) < nodeIndex(ids[j]) })
	for _, id := range ids {
		if f.config[id] && f.running[id] {
			f.leader = id
			return
		}
	}
}

func (f *fakeCluster) Name() string { return "fake" }
func (f *fakeCluster) Nodes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.members...)
}
func (f *fakeCluster) AllNodes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.all...)
}
func (f *fakeCluster) ClientAddr(string) string { return "127.0.0.1:1" } // refused: no leader answers RESP
func (f *fakeCluster) Running(n string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[n]
}
func (f *fakeCluster) Kill(n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[n] = false
	f.elect()
	return nil
}
func (f *fakeCluster) Start(n string, _ []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.members, n) {
		return fmt.Errorf("start %s: not a member", n)
	}
	if f.running[n] {
		return fmt.Errorf("start %s: already running", n)
	}
	f.running[n] = true
	f.started = append(f.started, n)
	f.elect()
	return nil
}
func (f *fakeCluster) Resume(string) error   { return nil }
func (f *fakeCluster) HealNetwork() error    { return nil }
func (f *fakeCluster) FreeDisk(string) error { return nil }

func (f *fakeCluster) AddNode() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("n%d", len(f.all)+1)
	f.members, f.all = append(f.members, id), append(f.all, id)
	f.running[id], f.config[id], f.promote[id] = true, false, true
	return id, nil
}
func (f *fakeCluster) Wipe(n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[n] {
		return fmt.Errorf("wipe %s: running", n)
	}
	f.wiped[n] = true
	f.replaced = append(f.replaced, n)
	return nil
}
func (f *fakeCluster) Stop(n string, _ time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[n] = false
	delete(f.config, n) // --leave-on-terminate
	f.elect()
	return "exited 0", nil
}
func (f *fakeCluster) Retire(n string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[n] {
		return fmt.Errorf("retire %s: running", n)
	}
	i := slices.Index(f.members, n)
	if i < 0 {
		return fmt.Errorf("retire %s: not a member", n)
	}
	f.members = slices.Delete(f.members, i, i+1)
	return nil
}
func (f *fakeCluster) Operator(_ context.Context, via, cmd string, args ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cmd != "remove" || len(args) != 1 {
		return "", fmt.Errorf("unexpected operator command %s %v", cmd, args)
	}
	if !f.running[via] {
		return "", fmt.Errorf("%s is not running", via)
	}
	if f.leader == "" {
		return "", errors.New("no leader")
	}
	delete(f.config, args[0])
	f.elect()
	return "removed " + args[0], nil
}

// RaftView.
func (f *fakeCluster) Config(context.Context) (RaftConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leader == "" {
		return RaftConfig{}, errors.New("no leader")
	}
	f.commit++
	c := RaftConfig{Leader: f.leader, Commit: f.commit}
	for id, voter := range f.config {
		c.Servers = append(c.Servers, RaftServer{ID: id, Voter: voter})
	}
	sort.Slice(c.Servers, func(i, j int) bool { return nodeIndex(c.Servers[i].ID) < nodeIndex(c.Servers[j].ID) })
	for id := range f.promote {
		if _, in := f.config[id]; in {
			f.config[id] = true // listed once as a non-voter, promoted at the next look
		}
		delete(f.promote, id)
	}
	return c, nil
}
func (f *fakeCluster) Applied(_ context.Context, n string) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.running[n] {
		return 0, fmt.Errorf("%s is not running", n)
	}
	if f.wiped[n] {
		delete(f.wiped, n) // empty at the first look, caught up at the next
		return 0, nil
	}
	return f.commit, nil
}
func (f *fakeCluster) Save(context.Context, string) error { return nil }

// check: the members are exactly the configuration, all voters and all
// running; the topology knows the members and nothing else.
func (f *fakeCluster) check(t *testing.T, ne *NemEnv, after string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var inConfig []string
	for id, voter := range f.config {
		if !voter {
			t.Errorf("after %s: %s is still a non-voter", after, id)
		}
		inConfig = append(inConfig, id)
	}
	members := append([]string(nil), f.members...)
	sort.Strings(inConfig)
	sort.Strings(members)
	if !reflect.DeepEqual(inConfig, members) {
		t.Errorf("after %s: configuration %v, members %v", after, inConfig, members)
	}
	for _, m := range members {
		if !f.running[m] {
			t.Errorf("after %s: member %s is not running", after, m)
		}
	}
	if len(members) > ne.MaxNodes {
		t.Errorf("after %s: %d members, more than %d", after, len(members), ne.MaxNodes)
	}
	topo := ne.Topo.Nodes()
	sort.Strings(topo)
	if !reflect.DeepEqual(topo, members) {
		t.Errorf("after %s: the clients' topology %v, members %v", after, topo, members)
	}
}

// The membership nemeses, chosen by the seed: never fewer than three
// voters, never more than MaxNodes members, every fault healed into a
// configuration of running voters that are exactly the members (the
// topology too), node ids never reused, a replaced node back under its id,
// and the same seed choosing the same way.
func TestMembershipNemeses(t *testing.T) {
	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = time.Millisecond
	run := func(seed uint64) []string {
		f := newFakeCluster(3)
		topo := newTopology(f)
		defer topo.Close()
		ne := &NemEnv{B: f, Topo: topo, Raft: f, MaxNodes: 5, Rng: rand.New(rand.NewPCG(seed, 0x6e656d)),
			Logf: func(string, ...any) {}}
		schedule := rand.New(rand.NewPCG(seed, 1))
		var nems []Nemesis
		for _, name := range membershipNemeses {
			nem, err := newNemesis(name)
			if err != nil {
				t.Fatal(err)
			}
			nems = append(nems, nem)
		}
		var details []string
		kinds := map[string]int{}
		for i := 0; i < 40; i++ {
			nem := nems[schedule.IntN(len(nems))]
			detail, err := nem.Start(context.Background(), ne)
			if err != nil {
				t.Fatalf("%s: %s: %v", nem.Name(), detail, err)
			}
			if err := nem.Heal(context.Background(), ne); err != nil {
				t.Fatalf("%s heal: %s: %v", nem.Name(), detail, err)
			}
			healed := nem.(interface{ Healed() string }).Healed()
			details = append(details, nem.Name()+": "+detail+"; healed: "+healed)
			kinds[nem.Name()]++
			f.check(t, ne, details[len(details)-1])
		}
		if f.fewest < minVoters {
			t.Errorf("the configuration had %d voters at one point:\n%s", f.fewest, strings.Join(details, "\n"))
		}
		all := f.AllNodes()
		for i, id := range all {
			if id != fmt.Sprintf("n%d", i+1) {
				t.Errorf("node ids %v: not n1, n2, ... once each", all)
				break
			}
		}
		if len(f.replaced) == 0 || kinds["replace-node"] != len(f.replaced) {
			t.Errorf("%d replace-node faults, %d nodes wiped", kinds["replace-node"], len(f.replaced))
		}
		for _, x := range f.replaced {
			if !slices.Contains(f.started, x) {
				t.Errorf("%s was wiped but never started again", x)
			}
		}
		joined := strings.Join(details, "\n")
		for _, want := range []string{"first added", "first removed", "(the leader)", "a voter after", "applied index"} {
			if !strings.Contains(joined, want) {
				t.Errorf("40 faults never did %q:\n%s", want, joined)
			}
		}
		// The end of a run: everything healed starts members only.
		f.Kill(f.Nodes()[0])
		if err := healAll(ne); err != nil {
			t.Fatal(err)
		}
		f.check(t, ne, "healAll")
		return details
	}
	a := run(7)
	if b := run(7); !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed chose differently:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if c := run(8); reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 chose the same")
	}
}

// The scheduler runs membership faults like any other: each healed
// before the next, with what the heal found in the fault's detail.
func TestMembershipSchedule(t *testing.T) {
	defer func(d time.Duration) { pollEvery = d }(pollEvery)
	pollEvery = time.Millisecond
	f := newFakeCluster(3)
	topo := newTopology(f)
	defer topo.Close()
	ne := &NemEnv{B: f, Topo: topo, Raft: f, MaxNodes: 5, Rng: rand.New(rand.NewPCG(3, 0x6e656d)), Logf: t.Logf}
	var nems []Nemesis
	for _, name := range []string{"add-node", "remove-node"} {
		nem, _ := newNemesis(name)
		nems = append(nems, nem)
	}
	h := NewHistory()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	runNemeses(ctx, ne, h, nems, 20*time.Millisecond)
	evs := h.Nemesis()
	if len(evs) < 3 {
		t.Fatalf("%d faults in 500ms at 20ms intervals", len(evs))
	}
	for i, e := range evs {
		if e.Error != "" || !strings.Contains(e.Detail, "healed: ") {
			t.Errorf("fault %d: %+v", i, e)
		}
		if i > 0 && e.Start < evs[i-1].End {
			t.Errorf("fault %d began before fault %d was healed", i, i-1)
		}
	}
	f.check(t, ne, "the schedule")
	if f.fewest < minVoters {
		t.Errorf("%d voters at one point", f.fewest)
	}
}

func TestMembershipNeedsThreeNodes(t *testing.T) {
	cfg := defaultConfig()
	cfg.Nodes, cfg.Nemeses = 1, []string{"kill", "remove-node"}
	if err := validate(&cfg); err == nil || !strings.Contains(err.Error(), "--nodes 3") {
		t.Errorf("remove-node on one node: %v", err)
	}
	cfg.Nodes = 3
	if err := validate(&cfg); err != nil {
		t.Errorf("remove-node on three nodes: %v", err)
	}
}
