package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// skipUnlessCluster skips tests that need real processes in network
// namespaces: under -short, and where the local backend cannot run.
func skipUnlessCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster in network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (ip)")
	}
}

var testBinDir string

func testBinary(t *testing.T) string {
	t.Helper()
	if testBinDir == "" {
		d, err := os.MkdirTemp("", "jepsen-lite-bin")
		if err != nil {
			t.Fatal(err)
		}
		testBinDir = d
	}
	p, err := buildBinary(testBinDir)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBinDir != "" {
		os.RemoveAll(testBinDir)
	}
	os.Exit(code)
}

// The local backend forms a cluster the harness reaches through the
// bridge, partitions are real, and teardown leaves nothing behind.
func TestLocalBackend(t *testing.T) {
	skipUnlessCluster(t)
	b := newLocal(BackendConfig{Nodes: 3, Binary: testBinary(t), RaftTimeout: 300 * time.Millisecond, Dir: t.TempDir(), Logf: t.Logf})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := b.Setup(ctx)
	defer func() {
		if err := b.Teardown(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		if strings.Contains(string(out), strings.TrimSuffix(b.nodes[0].ns, "n1")) {
			t.Errorf("namespaces left: %s", out)
		}
		links, _ := exec.Command("ip", "-o", "link", "show").Output()
		if strings.Contains(string(links), b.tag) {
			t.Errorf("links left: %s", links)
		}
		rules, _ := exec.Command("iptables", "-S", "FORWARD").Output()
		if strings.Contains(string(rules), b.tag) {
			t.Errorf("host rule left: %s", rules)
		}
	}()
	if IsUnsupported(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	topo := newTopology(b)
	defer topo.Close()
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	leader := topo.FindLeader(ctx)
	t.Logf("leader %s", leader)

	// Isolate the leader: the others elect a new one.
	drops := map[string][]string{}
	for _, n := range b.Nodes() {
		if n != leader {
			drops[leader] = append(drops[leader], n)
			drops[n] = []string{leader}
		}
	}
	if err := b.Partition(drops); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var other string
		for _, n := range b.Nodes() {
			if m, _, err := topo.role(ctx, n); err == nil && m && n != leader {
				other = n
			}
		}
		if other != "" {
			t.Logf("after isolating %s, %s leads", leader, other)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader on the majority side")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := b.HealNetwork(); err != nil {
		t.Fatal(err)
	}
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	// Latency between nodes slows writes (each waits for a replica).
	timeWrites := func() time.Duration {
		l := topo.FindLeader(ctx)
		start := time.Now()
		for i := 0; i < 10; i++ {
			if err := topo.probe(l).Set(ctx, "lat", i, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start) / 10
	}
	base := timeWrites()
	mech, err := b.Shape(Shape{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	slow := timeWrites()
	t.Logf("write latency %v, with 50ms delay (%s) %v", base, mech, slow)
	if slow < base+40*time.Millisecond {
		t.Errorf("latency nemesis had no effect: %v -> %v", base, slow)
	}
	if err := b.HealNetwork(); err != nil {
		t.Fatal(err)
	}

	// kill -9 and restart.
	if err := b.Kill("n1"); err != nil {
		t.Fatal(err)
	}
	if b.Running("n1") {
		t.Fatal("n1 still running")
	}
	if err := b.Start("n1", nil); err != nil {
		t.Fatal(err)
	}
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}

// Membership on the local backend: a node added with --join serves
// linearizable reads, comes back empty after its data is wiped and
// catches up, and once removed, stopped and retired it is no member;
// teardown removes what it had too.
func TestLocalMembership(t *testing.T) {
	skipUnlessCluster(t)
	bin := testBinary(t)
	if !supportsFlag(bin, "gossip-port") {
		t.Skip("this statehouse has no --gossip-port")
	}
	b := newLocal(BackendConfig{Nodes: 3, Binary: bin, RaftTimeout: 300 * time.Millisecond, Dir: t.TempDir(), Gossip: true,
		Logf: t.Logf, OnCrash: func(node, status string) { t.Errorf("%s exited on its own: %s", node, status) }})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := b.Setup(ctx)
	defer func() {
		if err := b.Teardown(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		out, _ := exec.Command("ip", "netns", "list").Output()
		links, _ := exec.Command("ip", "-o", "link", "show").Output()
		for _, n := range b.all {
			if strings.Contains(string(out), n.ns) || strings.Contains(string(links), n.veth+"@") {
				t.Errorf("%s's namespace or link left behind", n.id)
			}
		}
	}()
	if IsUnsupported(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	topo := newTopology(b)
	defer topo.Close()
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	id, err := b.AddNode()
	if err != nil || id != "n4" {
		t.Fatalf("AddNode: %q, %v", id, err)
	}
	topo.Add(id, b.ClientAddr(id))
	if err := topo.WaitHealthy(ctx); err != nil { // n4 answers a linearizable read: it is in the cluster
		t.Fatal(err)
	}
	if err := topo.probe(topo.FindLeader(ctx)).Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	if err := b.Kill(id); err != nil {
		t.Fatal(err)
	}
	if err := b.Wipe(id); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(b.byID[id].dataDir); len(left) > 0 {
		t.Fatalf("wiped, yet %d entries left", len(left))
	}
	if err := b.Start(id, nil); err != nil {
		t.Fatal(err)
	}
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if v, err := topo.probe(id).Get(ctx, "k").Result(); v != "v" {
		t.Fatalf("GET k on %s started empty: %q, %v", id, v, err)
	}

	if out, err := b.Operator(ctx, "n1", "remove", id); err != nil {
		t.Fatal(err)
	} else {
		t.Log(out)
	}
	topo.Remove(id)
	how, err := b.Stop(id, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped %s: %s", id, how)
	if err := b.Retire(id); err != nil {
		t.Fatal(err)
	}
	if got := b.Nodes(); fmt.Sprint(got) != "[n1 n2 n3]" {
		t.Errorf("members after retiring %s: %v", id, got)
	}
	if got := b.AllNodes(); fmt.Sprint(got) != "[n1 n2 n3 n4]" {
		t.Errorf("all nodes: %v", got)
	}
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
}
