package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func setReq(key string, size int) fsm.Request {
	return fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte(key), bytes.Repeat([]byte{'v'}, size)}}}}
}

// No log entry is ever larger than MaxEntryBytes: raft-wal writes a record
// over 64 MiB and then refuses to read it, and the node never starts again.
// A write too large for an entry is refused before it is proposed, on the
// leader and on a follower (which does not ship it to the leader); writes
// that fit are batched without the batch passing the ceiling.
func TestNoEntryLargerThanTheCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 130 MiB through a 3-node cluster")
	}
	// Appending 30 MiB entries takes a while on a busy machine: timeouts
	// that let a leader keep its lease through them.
	tc := newTestCluster(t, 3, func(c *Config) {
		c.HeartbeatTimeout, c.ElectionTimeout = 2*time.Second, 2*time.Second
	})
	leader := tc.leader()
	f := tc.followers()[0]
	before := leader.raft.LastIndex()
	for _, n := range []*Node{leader, f} {
		_, _, err := n.Propose(context.Background(), setReq("huge", MaxEntryBytes))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "larger than a log entry may be") {
			t.Fatalf("%s: a write larger than an entry: %v", n.cfg.NodeID, err)
		}
	}
	// Writes of 3.5 and 29 MiB at once: each fits, but a batch that
	// opens with a small one (under the 4 MiB batch target, so it gathers
	// more) must not take a large one too.
	sizes := []int{7 << 19, 29 << 20}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 { // small and large, on the leader and forwarded
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := []*Node{leader, f}[i%2]
			// SET is idempotent: if leadership moves mid-write (a busy
			// machine appending 30 MiB entries may miss a heartbeat),
			// write again once a leader is back. An unknown outcome (a
			// 29 MiB entry on a disk shared with other tests can take
			// longer to commit on three nodes than a forwarded call
			// waits) is waited out before writing again: each retry
			// would add another 29 MiB entry to the very disk that is
			// behind.
			key, size := fmt.Sprint("big", i), sizes[i/2%2]
			there := func() error {
				if err := node.ReadBarrier(context.Background()); err != nil {
					return err
				}
				if got := len(get(node, key)); got < size {
					return fmt.Errorf("%s is %d bytes", key, got)
				}
				return nil
			}
			err := testcluster.Poll(2*time.Minute, func() error {
				_, _, err := node.Propose(context.Background(), setReq(key, size))
				if errors.Is(err, ErrUnknownOutcome) && testcluster.Poll(30*time.Second, there) == nil {
					return nil
				}
				return err
			})
			if err != nil {
				errs <- fmt.Errorf("%s big%d: %w", node.cfg.NodeID, i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, n := range tc.nodes {
		testcluster.Eventually(t, n.cfg.NodeID+" serves linearizable reads", func() error {
			return n.ReadBarrier(context.Background())
		})
		largest, entries := 0, 0
		for i := before + 1; i <= n.raft.LastIndex(); i++ {
			var l raft.Log
			if err := n.store.GetLog(i, &l); err != nil {
				continue // compacted
			}
			entries++
			largest = max(largest, len(l.Data))
			if strings.Contains(string(l.Data), "huge") {
				t.Errorf("%s: the refused write is in the log at %d", n.cfg.NodeID, i)
			}
		}
		if largest > MaxEntryBytes {
			t.Errorf("%s: an entry of %d bytes, ceiling %d", n.cfg.NodeID, largest, MaxEntryBytes)
		}
		for i := range 4 {
			if got := get(n, fmt.Sprint("big", i)); len(got) < sizes[i/2%2] {
				t.Errorf("%s: big%d is %d bytes", n.cfg.NodeID, i, len(got))
			}
		}
		t.Logf("%s: %d entries, the largest %d bytes", n.cfg.NodeID, entries, largest)
	}
}
