package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// connected reports which pairs can talk (both directions) under drops.
func connected(nodes []string, drops map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			if !contains(drops[a], b) && !contains(drops[b], a) {
				out[a] = append(out[a], b)
			}
		}
	}
	return out
}

func contains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func TestRingPartition(t *testing.T) {
	nodes := []string{"n1", "n2", "n3", "n4", "n5"}
	drops, _ := ring(nodes)
	conn := connected(nodes, drops)
	views := map[string]bool{}
	for _, n := range nodes {
		view := append([]string{n}, conn[n]...)
		sort.Strings(view)
		if len(view) != 3 {
			t.Errorf("%s sees %v: not a bare majority", n, view)
		}
		views[fmt.Sprint(view)] = true
	}
	if len(views) != 5 {
		t.Errorf("majorities not all different: %v", views)
	}
	// Three nodes: one cut link, one bridge.
	drops, desc := ring([]string{"a", "b", "c"})
	conn = connected([]string{"a", "b", "c"}, drops)
	if len(conn["c"]) != 2 || len(conn["a"]) != 1 || len(conn["b"]) != 1 {
		t.Errorf("%s: %v", desc, conn)
	}
}

func TestCut(t *testing.T) {
	got := cut([]string{"n1"}, []string{"n2", "n3"})
	want := map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1"}, "n3": {"n1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cut = %v, want %v", got, want)
	}
}

// srvErr is an error reply from the server, as go-redis returns it.
type srvErr string

func (e srvErr) Error() string { return string(e) }
func (srvErr) RedisError()     {}

var _ redis.Error = srvErr("")

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, OK},
		{srvErr("CLUSTERDOWN The cluster is down: no leader"), Fail},
		{srvErr("TRYAGAIN The write was not applied, retry it"), Fail},
		{srvErr("LOADING statehouse is loading the dataset in memory"), Fail},
		{srvErr("MISCONF Disk is full: writes are refused until space is freed"), Fail},
		{srvErr("UNCERTAIN The write may or may not have been applied"), Info},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, Fail},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}, Fail},
		{&net.OpError{Op: "read", Net: "tcp", Err: errors.New("i/o timeout")}, Info},
		{errors.New("EOF"), Info},
	} {
		if _, isServer := tc.err.(srvErr); isServer != serverError(tc.err) && tc.err != nil {
			t.Errorf("serverError(%v) = %v", tc.err, !isServer)
		}
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestSplitRuleAndSeedLine(t *testing.T) {
	got := splitRule(`-D FORWARD -i jl1-0b -o jl1-0b -m comment --comment "jepsen-lite jl1-0" -j ACCEPT`)
	want := []string{"-D", "FORWARD", "-i", "jl1-0b", "-o", "jl1-0b", "-m", "comment", "--comment", "jepsen-lite jl1-0", "-j", "ACCEPT"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule = %q", got)
	}
	line := withSeed([]string{"--workload", "register", "--seed", "5", "--node-args", "--a --b"}, 9)
	if fmt.Sprint(line) != `[--workload register --node-args "--a --b" --seed 9]` {
		t.Errorf("withSeed = %v", line)
	}
}

func TestDiskTargets(t *testing.T) {
	nodes := []string{"n1", "n2", "n3"}
	rng := rand.New(rand.NewPCG(1, 2))
	if got, _ := diskTargets(diskAll, nodes, "n2", rng); !reflect.DeepEqual(got, nodes) {
		t.Errorf("all: %v", got)
	}
	if got, desc := diskTargets(diskLeader, nodes, "n2", rng); !reflect.DeepEqual(got, []string{"n2"}) {
		t.Errorf("leader: %v (%s)", got, desc)
	}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		got, desc := diskTargets(diskFollower, nodes, "n2", rng)
		if len(got) != 1 || got[0] == "n2" {
			t.Fatalf("follower: %v (%s)", got, desc)
		}
		seen[got[0]] = true
	}
	if !seen["n1"] || !seen["n3"] {
		t.Errorf("followers chosen: %v, want n1 and n3", seen)
	}
	// No leader, or no follower: one node all the same.
	for _, mode := range []int{diskLeader, diskFollower} {
		if got, desc := diskTargets(mode, nodes, "", rng); len(got) != 1 || !strings.Contains(desc, "no leader") {
			t.Errorf("mode %d without a leader: %v (%s)", mode, got, desc)
		}
	}
	if got, desc := diskTargets(diskFollower, []string{"n1"}, "n1", rng); !reflect.DeepEqual(got, []string{"n1"}) {
		t.Errorf("a single node has no follower: %v (%s)", got, desc)
	}
}

// fakeDisks is a backend for the disk-full nemesis alone; the methods it
// does not use panic (nil embedded interface).
type fakeDisks struct {
	Backend
	full    map[string]bool
	dead    map[string]bool
	started []string
}

func newFakeDisks() *fakeDisks { return &fakeDisks{full: map[string]bool{}, dead: map[string]bool{}} }

func (f *fakeDisks) Nodes() []string { return []string{"n3", "n1", "n2"} } // unsorted on purpose
func (f *fakeDisks) ClientAddr(string) string {
	return "127.0.0.1:1" // refused at once: no leader answers
}
func (f *fakeDisks) FillDisk(n string) (string, error) { f.full[n] = true; return n + ": full", nil }
func (f *fakeDisks) FreeDisk(n string) error           { delete(f.full, n); return nil }
func (f *fakeDisks) Running(n string) bool             { return !f.dead[n] }
func (f *fakeDisks) Start(n string, _ []string) error {
	delete(f.dead, n)
	f.started = append(f.started, n)
	return nil
}
func (f *fakeDisks) Resume(string) error { return nil }
func (f *fakeDisks) HealNetwork() error  { return nil }

// The disk-full nemesis fills what it says, heals exactly that (starting a
// target that died), chooses by the seed alone, and healAll empties every
// disk.
func TestDiskFullNemesis(t *testing.T) {
	faults := func(seed uint64) []string {
		b := newFakeDisks()
		topo := newTopology(b)
		defer topo.Close()
		ne := &NemEnv{B: b, Topo: topo, Rng: rand.New(rand.NewPCG(seed, 0x6e656d)), Logf: t.Logf}
		nem, err := newNemesis("disk-full")
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for i := 0; i < 12; i++ {
			detail, err := nem.Start(context.Background(), ne)
			if err != nil {
				t.Fatal(err)
			}
			details = append(details, detail)
			targets := nem.(*diskFullNem).nodes
			if len(b.full) == 0 || len(b.full) != len(targets) {
				t.Fatalf("%s: full %v, targets %v", detail, b.full, targets)
			}
			b.dead[targets[0]] = true
			if err := nem.Heal(context.Background(), ne); err != nil {
				t.Fatal(err)
			}
			if len(b.full) > 0 || len(b.dead) > 0 {
				t.Fatalf("after heal of %q: full %v, dead %v", detail, b.full, b.dead)
			}
		}
		for _, n := range b.Nodes() {
			b.FillDisk(n)
		}
		if err := healAll(ne); err != nil {
			t.Fatal(err)
		}
		if len(b.full) > 0 {
			t.Errorf("healAll left full disks: %v", b.full)
		}
		return details
	}
	a, b := faults(5), faults(5)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed chose differently:\n%q\n%q", a, b)
	}
	all := strings.Join(a, "\n")
	if !strings.Contains(all, "every node") || !strings.Contains(all, "no leader answered") {
		t.Errorf("12 faults never filled every node, or never one node:\n%s", all)
	}
}
