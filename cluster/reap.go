package cluster

import (
	"context"
	"errors"

	"github.com/statehouse/statehouse/fsm"
)

// Expired keys are deleted in batches of reapBatch, at most reapRounds
// batches per leadership tick, so a mass expiry does not crowd out writes.
const (
	reapBatch  = 512
	reapRounds = 10
)

// reap proposes conditional deletes for keys that have expired, so memory
// is reclaimed the same way on every replica. Only the leader calls it.
func (n *Node) reap() {
	for round := 0; round < reapRounds; round++ {
		ops := n.fsm.Expired(n.Now(), reapBatch)
		if len(ops) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), reapTimeout)
		_, _, err := n.proposeLocal(ctx, fsm.Request{Ops: ops})
		cancel()
		if errors.Is(err, ErrDiskFull) {
			return // said once, by the disk check
		}
		if err != nil {
			n.log.Warn("reaping expired keys failed", "err", err, "keys", len(ops))
			return
		}
		if len(ops) < reapBatch {
			return
		}
	}
}
