package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

const year = 365 * 24 * time.Hour

func ttl(n *Node, key string) int64 {
	r := string(n.FSM().Read(0, n.Now(), 0, [][]byte{[]byte("PTTL"), []byte(key)}, nil))
	v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(r, ":"), "\r\n"), 10, 64)
	return v
}

func setEX(t *testing.T, n *Node, key string, ttl time.Duration) {
	t.Helper()
	req := fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(key), []byte("v"), []byte("PX"), []byte(fmt.Sprint(ttl.Milliseconds()))}}}}
	for attempt := 0; ; attempt++ { // SET is idempotent: write again if leadership moves
		_, _, err := n.Propose(context.Background(), req)
		if err == nil {
			return
		}
		if attempt == 20 {
			t.Fatalf("SET %s: %v", key, err)
		}
	}
}

// A leader whose clock jumps a year ahead, or a year back, stamps the time
// a quorum of members agree on: no session expires early, and TTLs keep
// counting down, on every node.
func TestLeaderClockJump(t *testing.T) {
	for _, jump := range []time.Duration{year, -year} {
		t.Run(fmt.Sprint(jump), func(t *testing.T) {
			tc := newTestCluster(t, 3, func(c *Config) {
				if c.NodeID == "n1" {
					c.Clock = func() int64 { return time.Now().Add(jump).UnixMilli() }
				}
			})
			skewed := tc.nodes[0]
			testcluster.Eventually(t, "n1 sees its clock is off", func() error {
				if d := skewed.ClockSkew(); d < jump-time.Minute || d > jump+time.Minute {
					return fmt.Errorf("n1's skew is %v", d)
				}
				return nil
			})
			// Thirty-day sessions, written before and after n1 leads.
			setEX(t, tc.leader(), "before", 30*24*time.Hour)
			if leader := tc.leader(); leader != skewed {
				if err := leader.raft.LeadershipTransferToServer(raft.ServerID("n1"), raft.ServerAddress(skewed.PeerAddr())).Error(); err != nil {
					t.Fatalf("transfer leadership to n1: %v", err)
				}
			}
			testcluster.Eventually(t, "n1 leads", func() error {
				if tc.leader() != skewed {
					return fmt.Errorf("n1 does not lead")
				}
				return nil
			})
			setEX(t, skewed, "after", 30*24*time.Hour)
			setEX(t, skewed, "short", 5*time.Second)
			written := time.Now()
			skewed.reap() // the leader's reaper runs on its own too; once more, at once
			for _, n := range tc.nodes {
				if err := n.ReadBarrier(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, k := range []string{"before", "after"} {
					if left := time.Duration(ttl(n, k)) * time.Millisecond; left < 29*24*time.Hour || left > 30*24*time.Hour {
						t.Errorf("%s: %s has %v left of 30 days", n.cfg.NodeID, k, left)
					}
				}
				if d := time.UnixMilli(n.FSM().Now()).Sub(time.Now()); d > time.Minute || d < -time.Minute {
					t.Errorf("%s: the keyspace's time is %v from the real time", n.cfg.NodeID, d)
				}
			}
			// The short TTL counts down on every node.
			testcluster.SleepPast(written.Add(1500 * time.Millisecond))
			for _, n := range tc.nodes {
				if left := ttl(n, "short"); left <= 0 || left > 3600 {
					t.Errorf("%s: short has %d ms left 1.5 s after a 5 s TTL", n.cfg.NodeID, left)
				}
			}
		})
	}
}

func TestAgreedTime(t *testing.T) {
	const y = int64(year / time.Millisecond)
	for _, c := range []struct {
		times  []int64
		voters int
		want   int64
		ok     bool
	}{
		{[]int64{1000, 1003, 998}, 3, 1000, true},
		{[]int64{1000 + y, 1003, 998}, 3, 1003, true},       // one a year ahead: the other two
		{[]int64{1000 - y, 1003, 998}, 3, 1003, true},       // one a year behind
		{[]int64{1000 - y, 1003}, 3, 0, false},              // two heard, a year apart: who is right?
		{[]int64{1000, 1003}, 3, 1003, true},                // two heard, agreeing: a quorum
		{[]int64{5000}, 1, 5000, true},                      // a lone node
		{[]int64{1000, 1000 + y, 1000 - y}, 3, 0, false},    // no two agree
		{[]int64{1, 2, 3, 4, 5 + y}, 5, 3, true},            // five members, one off
		{[]int64{1, 2, 3 + y, 4 + y, 5 + 2*y}, 5, 0, false}, // five members, no three agree
	} {
		got, ok := agreedTime(append([]int64(nil), c.times...), c.voters/2+1, 500)
		if got != c.want || ok != c.ok {
			t.Errorf("%v of %d voters: %d, %v; want %d, %v", c.times, c.voters, got, ok, c.want, c.ok)
		}
	}
}
