package systest

import (
	"context"
	"fmt"
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
	const maxStaleness = 5 * time.Second
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--max-staleness", maxStaleness.String()}})
	ctx := context.Background()
	leader := c.Leader()
	f := c.Followers(leader)[0]
	stale := f.NewClient()
	defer stale.Close()
	if err := stale.Do(ctx, "READONLY").Err(); err != nil {
		t.Fatal(err)
	}
	// A write through the follower returns only once the follower applied
	// it, which reached it from the leader after contact: the follower's
	// last contact with a leader is no earlier than contact.
	contact := time.Now()
	if err := f.Client().Set(ctx, "cart", "3 items", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if n != f {
			n.Pause()
			defer n.Resume()
		}
	}
	// The staleness bound starts at the follower's last contact: no
	// earlier than contact, no later than (about) now.
	bound := contact.Add(maxStaleness)

	// READONLY, right after the cut: a stale read within the bound.
	v, err := stale.Get(ctx, "cart").Result()
	if end := time.Now(); err != nil || v != "3 items" {
		if !end.Before(bound) {
			t.Fatalf("READONLY read right after the cut ended %v after the last write, past max-staleness %v: "+
				"the machine is too slow for this check (%q, %v)", end.Sub(contact), maxStaleness, v, err)
		}
		t.Fatalf("READONLY read within max-staleness: %q, %v", v, err)
	}

	// READONLY past the bound: refused with CLUSTERDOWN, and never before.
	var early, refused time.Duration
	testcluster.EventuallyWithin(t, time.Until(bound)+testcluster.ConditionTimeout, "READONLY read refused past max-staleness", func() error {
		v, err := stale.Get(ctx, "cart").Result()
		end := time.Now()
		switch {
		case err != nil && strings.HasPrefix(err.Error(), "CLUSTERDOWN"):
			// The refusal was decided before the read ended.
			refused = end.Sub(contact)
			if end.Before(bound) {
				early = bound.Sub(end)
			}
			return nil
		case err != nil:
			return testcluster.Stop(err)
		case v != "3 items":
			return testcluster.Stop(fmt.Errorf("READONLY read %q, want the stale %q", v, "3 items"))
		}
		return fmt.Errorf("still served %v after the last write", end.Sub(contact))
	})
	if early > 0 {
		t.Fatalf("READONLY read refused %v before max-staleness %v ran out", early, maxStaleness)
	}
	t.Logf("READONLY read refused %v after the last write (max-staleness %v)", refused, maxStaleness)

	// Linearizable: must not answer with data.
	lin := f.NewClient()
	defer lin.Close()
	v, err = lin.Get(ctx, "cart").Result()
	if err == nil {
		t.Fatalf("isolated follower served a linearizable read: %q", v)
	}
	t.Logf("linearizable read on the isolated follower: %v", err)

	// READWRITE switches back to linearizable reads.
	if err := stale.Do(ctx, "READWRITE").Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		n.Resume()
	}
	c.Leader()
	f.WaitWritable()
	if v, err := stale.Get(ctx, "cart").Result(); err != nil || v != "3 items" {
		t.Fatalf("read after healing: %q, %v", v, err)
	}
}

// ROLE, INFO replication and WAIT answer as Redis's replication does.
func TestReplicationFaceWithRedisCLI(t *testing.T) {
	skipShort(t)
	testcluster.NeedTool(t, "redis-cli")
	c := testcluster.Start(t, 3, testcluster.Options{})
	leader := c.Leader()
	f := c.Followers(leader)[0]

	role := leader.RedisCLI(t, "ROLE")
	if !strings.HasPrefix(role, "master\n") || strings.Count(role, "127.0.0.1") != 2 {
		t.Fatalf("ROLE on the leader:\n%s", role)
	}
	role = f.RedisCLI(t, "ROLE")
	lines := strings.Split(strings.TrimSpace(role), "\n")
	if len(lines) != 5 || lines[0] != "slave" || lines[1] != "127.0.0.1" || lines[2] != itoa(leader.Port) || lines[3] != "connected" {
		t.Fatalf("ROLE on a follower:\n%s", role)
	}
	info := leader.RedisCLI(t, "INFO", "replication")
	for _, want := range []string{"role:master", "connected_slaves:2", "slave0:ip=127.0.0.1", "slave1:ip=127.0.0.1", "master_repl_offset:"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO replication on the leader lacks %q:\n%s", want, info)
		}
	}
	info = f.RedisCLI(t, "INFO", "replication")
	for _, want := range []string{"role:slave", "master_host:127.0.0.1", "master_port:" + itoa(leader.Port), "master_link_status:up"} {
		if !strings.Contains(info, want) {
			t.Fatalf("INFO replication on a follower lacks %q:\n%s", want, info)
		}
	}
	// WAIT after a write in the same redis-cli session: both followers
	// (WAIT returns as soon as they acknowledge; the timeout is a bound).
	if out := f.RedisCLI(t, "SET", "k", "v"); strings.TrimSpace(out) != "OK" {
		t.Fatalf("SET: %s", out)
	}
	wait := "WAIT 2 " + itoa(int(testcluster.ConditionTimeout.Milliseconds()))
	if got := leader.RedisCLIStdin(t, "SET k2 v2\n"+wait+"\n"); strings.TrimSpace(got) != "OK\n2" {
		t.Fatalf("SET then %s: %q", wait, got)
	}
	// One follower paused: WAIT 2 times out with 1. The other follower
	// acknowledged the SET before it committed, so 1 is certain.
	c.Followers(leader)[1].Pause()
	defer c.Followers(leader)[1].Resume()
	if got := leader.RedisCLIStdin(t, "SET k3 v3\nWAIT 2 500\n"); strings.TrimSpace(got) != "OK\n1" {
		t.Fatalf("SET then WAIT 2 500 with a follower paused: %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
