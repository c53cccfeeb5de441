package cluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// A follower restarted after the log moved on may not be replicated to for
// seconds (hashicorp/raft backs off a peer that was down). Its reads do not
// wait for that: past catchUpWait it reads through the leader, and its
// clients still read what was written, including their own writes.
func TestRestartedFollowerReadsThroughLeader(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	down := 0
	for i, n := range tc.nodes {
		if n != leader {
			down = i
			break
		}
	}
	tc.stop(down)
	// While it is down the leader's replication to it fails again and
	// again, backing off further each time: a few seconds of writes.
	for i := range 200 {
		set(t, tc.leader(), fmt.Sprint("k", i), "v")
	}
	for start := time.Now(); time.Since(start) < 4*time.Second; {
		set(t, tc.leader(), "more", "v") // the workload's length, not a wait on a condition
	}
	tc.restart(down)
	f := tc.nodes[down]
	start := time.Now()
	viaLeader := 0
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), testcluster.RequestTimeout)
		err := f.ReadBarrier(ctx)
		cancel()
		var got string
		switch {
		case errors.Is(err, ErrBehind):
			viaLeader++
			b, err := f.ReadThroughLeader(context.Background(), 0, [][]byte{[]byte("GET"), []byte(fmt.Sprint("k", i))})
			if err != nil {
				t.Fatalf("read through the leader: %v", err)
			}
			got = string(b)
		case err != nil:
			t.Fatalf("read barrier on the restarted follower: %v", err)
		default:
			got = get(f, fmt.Sprint("k", i))
		}
		if got != "$1\r\nv\r\n" {
			t.Fatalf("k%d on the restarted follower: %q", i, got)
		}
	}
	// Its own write, answered while it may still be catching up, is what
	// its next read sees.
	set(t, f, "own", "w")
	if got := readOwn(t, f, "own"); got != "$1\r\nw\r\n" {
		t.Fatalf("the restarted follower's own write reads %q", got)
	}
	t.Logf("%d of 200 reads went through the leader while the follower caught up; %d in all", viaLeader, f.Status().ReadsViaLeader)
	testcluster.Eventually(t, "the follower catches up and serves reads itself", func() error {
		return f.ReadBarrier(context.Background())
	})
	t.Logf("the follower served reads itself %v after it started", time.Since(start))
}
