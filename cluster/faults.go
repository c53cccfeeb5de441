package cluster

import (
	"context"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// The Debug* faults of Config break a guarantee on purpose, so that the
// fault-injection harness can show its checker catches it. Off in
// production; cmd/statehouse warns loudly when one is on.

// unsafeReads is the DebugUnsafeReads fault: ReadBarrier returns at once,
// and reads are served from the local fsm, possibly stale.
func (n *Node) unsafeReads() bool { return n.cfg.DebugUnsafeReads }

// ackBeforeCommit is the DebugAckBeforeCommit fault: the write is sent on
// its way and acknowledged at once, as a store with asynchronous
// replication would.
func (n *Node) ackBeforeCommit(req fsm.Request) ([]byte, uint64, error) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), ackBeforeCommitTimeout)
		defer cancel()
		for attempt := 0; attempt < 3; attempt++ {
			var err error
			if n.raft.State() == raft.Leader {
				_, _, err = n.proposeLocal(ctx, req)
			} else if leader, lerr := n.waitLeader(ctx); lerr == nil && leader != n.self() {
				_, _, err = n.forward(ctx, leader, req)
			}
			if err == nil {
				return
			}
		}
	}()
	var out []byte
	if req.Atomic {
		out = resp.AppendArray(out, len(req.Ops))
	}
	for range req.Ops {
		out = append(out, "+OK\r\n"...)
	}
	return out, 0, nil
}
