package systest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// A follower cut off from the majority (here: the other two nodes paused)
// serves no linearizable read. A READONLY connection gets its stale reads
// until --max-staleness runs out, then an error.
func TestIsolatedFollowerReads(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--max-staleness", "2s"}})
	ctx := context.Background()
	leader := c.Leader()
	if err := leader.Client().Set(ctx, "cart", "3 items", 0).Err(); err != nil {
		t.Fatal(err)
	}
	f := c.Followers(leader)[0]
	if v, err := f.Client().Get(ctx, "cart").Result(); err != nil || v != "3 items" {
		t.Fatalf("follower read before the cut: %q, %v", v, err)
	}
	stale := f.NewClient()
	defer stale.Close()
	if err := stale.Do(ctx, "READONLY").Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if n != f {
			n.Pause()
			defer n.Resume()
		}
	}
	cut := time.Now()

	// Linearizable: must not answer with data.
	lin := f.NewClient()
	defer lin.Close()
	lctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	v, err := lin.Get(lctx, "cart").Result()
	cancel()
	if err == nil {
		t.Fatalf("isolated follower served a linearizable read: %q", v)
	}
	t.Logf("linearizable read on the isolated follower: %v", err)

	// READONLY: stale reads within the bound, then refused.
	deadline := cut.Add(2 * time.Second)
	if time.Now().Before(deadline.Add(-500 * time.Millisecond)) {
		if v, err := stale.Get(ctx, "cart").Result(); err != nil || v != "3 items" {
			t.Fatalf("READONLY read within max-staleness: %q, %v", v, err)
		}
	}
	time.Sleep(time.Until(deadline) + 700*time.Millisecond)
	if v, err := stale.Get(ctx, "cart").Result(); err == nil || !strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("READONLY read past max-staleness: %q, %v; want CLUSTERDOWN", v, err)
	}
	// READWRITE switches back to linearizable reads.
	if err := stale.Do(ctx, "READWRITE").Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		n.Resume()
	}
	c.Leader()
	if v, err := stale.Get(ctx, "cart").Result(); err != nil || v != "3 items" {
		t.Fatalf("read after healing: %q, %v", v, err)
	}
}

func redisCLI(t *testing.T, addr string, args ...string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-cli", append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// ROLE, INFO replication and WAIT answer as Redis's replication does.
func TestReplicationFaceWithRedisCLI(t *testing.T) {
	skipShort(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed (apt-get install redis-tools)")
	}
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	f := c.Followers(leader)[0]

	role := redisCLI(t, leader.Addr(), "ROLE")
	if !strings.HasPrefix(role, "master\n") || strings.Count(role, "127.0.0.1") != 2 {
		t.Fatalf("ROLE on the leader:\n%s", role)
	}
	role = redisCLI(t, f.Addr(), "ROLE")
	lines := strings.Split(strings.TrimSpace(role), "\n")
	if len(lines) != 5 || lines[0] != "slave" || lines[1] != "127.0.0.1" || lines[2] != itoa(leader.Port) || lines[3] != "connected" {
		t.Fatalf("ROLE on a follower:\n%s", role)
	}
	info := redisCLI(t, leader.Addr(), "INFO", "replication")
	for _, want := range []string{"role:master", "connected_slaves:2", "slave0:ip=127.0.0.1", "slave1:ip=127.0.0.1", "master_repl_offset:"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO replication on the leader lacks %q:\n%s", want, info)
		}
	}
	info = redisCLI(t, f.Addr(), "INFO", "replication")
	for _, want := range []string{"role:slave", "master_host:127.0.0.1", "master_port:" + itoa(leader.Port), "master_link_status:up"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO replication on a follower lacks %q:\n%s", want, info)
		}
	}
	// WAIT after a write in the same redis-cli session: both followers.
	out := redisCLI(t, f.Addr(), "SET", "k", "v")
	if strings.TrimSpace(out) != "OK" {
		t.Fatalf("SET: %s", out)
	}
	host, port, _ := strings.Cut(leader.Addr(), ":")
	cmd := exec.Command("redis-cli", "-h", host, "-p", port)
	cmd.Stdin = strings.NewReader("SET k2 v2\nWAIT 2 5000\n")
	got, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "OK\n2" {
		t.Fatalf("SET then WAIT 2 5000: %q, %v", got, err)
	}
	// One follower paused: WAIT 2 times out with 1.
	c.Followers(leader)[1].Pause()
	defer c.Followers(leader)[1].Resume()
	cmd = exec.Command("redis-cli", "-h", host, "-p", port)
	cmd.Stdin = strings.NewReader("SET k3 v3\nWAIT 2 500\n")
	got, err = cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "OK\n1" {
		t.Fatalf("SET then WAIT 2 500 with a follower paused: %q, %v", got, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
