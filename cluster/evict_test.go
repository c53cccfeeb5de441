package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func memConfig(t *testing.T, n *Node, name, v string) {
	t.Helper()
	reply, _, err := n.Propose(context.Background(), fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte(fsm.MemConfigCommand), []byte(name), []byte(v)}}}})
	if err != nil || string(reply) != "+OK\r\n" {
		t.Fatalf("%s %s: %q %v", name, v, reply, err)
	}
}

// keyNames lists db 0's keys, expired or not, as a node's fsm holds them.
func keyNames(n *Node) map[string]bool {
	out := map[string]bool{}
	keys, _ := n.FSM().KeyCounts()
	i := -1
	for _, c := range n.FSM().Sample(0, keys[0], false, func(int) int { i++; return i }) {
		out[c.Key] = true
	}
	return out
}

// TestEvictionAgreesOnEveryNode: three nodes, filled to four times
// maxmemory under each policy, through the leader and a follower. Every
// node ends at the same index with the same digest, used_memory and
// evicted_keys; used_memory is back under the limit; under a volatile
// policy only keys with a TTL went; under noeviction the writes past
// the limit got -OOM and every key written before stayed.
func TestEvictionAgreesOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes per policy")
	}
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	follower := tc.followers()[0]
	const limit = 256 << 10
	val := strings.Repeat("v", 500)
	for pi, policy := range []string{"noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random", "volatile-random", "volatile-ttl"} {
		t.Run(policy, func(t *testing.T) {
			ctx := context.Background()
			if _, _, err := leader.Propose(ctx, fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("FLUSHALL")}}}}); err != nil {
				t.Fatal(err)
			}
			memConfig(t, leader, "maxmemory", "0")
			memConfig(t, leader, "maxmemory-policy", policy)
			memConfig(t, leader, "maxmemory", strconv.Itoa(limit))
			evictedBefore := leader.FSM().EvictedKeys()
			acked := map[string]bool{}
			oom := 0
			for i := 0; i < 4*limit/700; i++ {
				key := fmt.Sprintf("p%d:k%d", pi, i)
				args := []string{"SET", key, val}
				persistent := i%2 == 0
				if !persistent {
					args = append(args, "EX", "100000")
				}
				op := fsm.Op{}
				for _, a := range args {
					op.Args = append(op.Args, []byte(a))
				}
				n := []*Node{leader, follower}[i%2]
				reply, _, err := n.Propose(ctx, fsm.Request{Ops: []fsm.Op{op}})
				switch {
				case err != nil:
					t.Fatal(err)
				case string(reply) == "-"+fsm.OOMError+"\r\n":
					oom++
				case string(reply) != "+OK\r\n":
					t.Fatalf("SET: %q", reply)
				default:
					acked[key] = persistent
				}
			}
			// Eviction is the leader's, and it keeps going until the
			// data is under the limit (or nothing may go).
			testcluster.Eventually(t, "used_memory under maxmemory", func() error {
				over, ok := leader.FSM().OverLimit()
				if _, vol := leader.FSM().KeyCounts(); ok && policy != "noeviction" && (!strings.HasPrefix(policy, "volatile") || vol[0] > 0) {
					return fmt.Errorf("%d bytes over", over)
				}
				return nil
			})
			// One more entry through the log, then every node at its index.
			reply, idx, err := leader.Propose(ctx, fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("DEL"), []byte("nothing")}}}})
			if err != nil {
				t.Fatal(err, reply)
			}
			// Every node at the same index has the same digest and figures.
			var used, evicted int64
			testcluster.Eventually(t, "every node at one index", func() error {
				var first string
				var firstAt uint64
				for i, n := range tc.nodes {
					wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					err := n.applied.wait(wctx, idx)
					cancel()
					if err != nil {
						return fmt.Errorf("%s at %d, want %d", n.cfg.NodeID, n.FSM().Applied(), idx)
					}
					before := n.FSM().Applied()
					nUsed, nEvicted := n.FSM().UsedMemory(), n.FSM().EvictedKeys()-evictedBefore
					at, d := n.FSM().Digest()
					if at != before {
						return fmt.Errorf("%s applied %d while read", n.cfg.NodeID, at-before)
					}
					if i == 0 {
						first, firstAt = d, at
						used, evicted = nUsed, nEvicted
						continue
					}
					if at != firstAt {
						return fmt.Errorf("%s at %d, %s at %d", tc.nodes[0].cfg.NodeID, firstAt, n.cfg.NodeID, at)
					}
					if d != first || nUsed != used || nEvicted != evicted {
						t.Fatalf("at %d: %s digest %s used %d evicted %d; %s digest %s used %d evicted %d", at, tc.nodes[0].cfg.NodeID, first[:12], used, evicted,
							n.cfg.NodeID, d[:12], nUsed, nEvicted)
					}
				}
				return nil
			})
			kept := keyNames(leader)
			t.Logf("%s: %d writes acknowledged, %d refused with OOM, %d evicted, %d kept, used_memory %d of %d", policy, len(acked), oom, evicted, len(kept), used, limit)
			for key, persistent := range acked {
				if kept[key] {
					continue
				}
				if policy == "noeviction" || (strings.HasPrefix(policy, "volatile") && persistent) {
					t.Fatalf("%s: acknowledged key %s (persistent %v) is gone", policy, key, persistent)
				}
			}
			switch {
			case policy == "noeviction":
				if evicted != 0 || oom == 0 {
					t.Fatalf("noeviction: evicted %d, refused %d", evicted, oom)
				}
			case evicted == 0:
				t.Fatalf("%s evicted nothing", policy)
			}
			if !strings.HasPrefix(policy, "volatile") && policy != "noeviction" && used > limit {
				t.Fatalf("used_memory %d over %d", used, limit)
			}
		})
	}
}
