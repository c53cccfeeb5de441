package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
)

// forward sends a write to the leader and waits for this node to apply it.
func (n *Node) forward(ctx context.Context, leader string, req fsm.Request) ([]byte, uint64, error) {
	if n.cfg.RefuseFollowerWrites {
		return nil, 0, ErrReadOnly
	}
	if _, err := checkSize(req); err != nil {
		return nil, 0, err // the leader would refuse it: do not ship it there
	}
	// A forward to a leader that goes away ends soon: before it was sent
	// it is retried, after it the outcome is unknown. A leader that handed
	// leadership on is still there and answers within the grace (most
	// often "not applied": the write is then sent to the new leader).
	cctx, cancel := n.untilLeaderChanges(ctx, forwardLeaderChangeGrace)
	defer cancel()
	r, err := n.peer(leader).call(cctx, msgForward, encodeRequest(req))
	if err != nil {
		return nil, 0, forwardError(leader, err)
	}
	// Answer once this node has applied the write too, so the client reads
	// it here. A node too far behind to apply it soon (just restarted)
	// answers at once instead, and its reads go through the leader until it
	// has caught up: the client still reads its write.
	wctx, cancel := context.WithTimeout(ctx, catchUpWait)
	err = n.applied.wait(wctx, r.index)
	cancel()
	if err != nil && ctx.Err() == nil {
		n.noteBehind(r.index)
		return r.body, r.index, nil
	}
	if err != nil {
		// Committed by the leader but not applied here within the call's
		// time: the write happened, yet the outcome is unknown to this
		// client.
		return nil, 0, fmt.Errorf("%w: applied by the leader at index %d, not yet on this node", ErrUnknownOutcome, r.index)
	}
	return r.body, r.index, nil
}

// forwardError says what a failed forward means for the write: not sent
// is not applied, lost on the way is unknown, and the leader's own answer
// stands as it is.
func forwardError(leader string, err error) error {
	var ce *callError
	switch {
	case errors.As(err, &ce) && !ce.sent:
		return fmt.Errorf("%w: leader %s unreachable: %v", ErrNotApplied, leader, ce.err)
	case errors.As(err, &ce):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	case errors.Is(err, errShortReply):
		return fmt.Errorf("%w: short reply from leader", ErrUnknownOutcome)
	}
	return err
}

func encodeRequest(req fsm.Request) []byte {
	e := fsm.Entry{Reqs: []fsm.Request{req}}
	return e.Encode(nil)
}

func decodeRequest(b []byte) (fsm.Request, error) {
	e, err := fsm.DecodeEntry(b)
	if err != nil {
		return fsm.Request{}, err
	}
	if len(e.Reqs) != 1 {
		return fsm.Request{}, fmt.Errorf("forwarded entry has %d requests", len(e.Reqs))
	}
	return e.Reqs[0], nil
}

// nudge asks, on the leader, that followers learn soon that index is
// committed. A follower learns the commit index only from the leader's next
// AppendEntries, which hashicorp/raft sends when a new entry is appended or
// after CommitTimeout (5–10 ms) when idle; a follower that forwarded a write
// waits for that before it answers. An empty request proposed after index
// committed rides in the next entry, whose AppendEntries carries the
// commit index: alone it costs one small entry, among other writes nothing.
func (n *Node) nudge(index uint64) {
	raiseTo(&n.nudgeWant, index)
	select {
	case n.nudgeCh <- struct{}{}:
	default:
	}
}

// runNudger keeps at most one nudge in flight; nudges asked for meanwhile
// are covered by the next one.
func (n *Node) runNudger() {
	defer n.wg.Done()
	for {
		select {
		case <-n.nudgeCh:
		case <-n.stop:
			return
		}
		want := n.nudgeWant.Load()
		if want <= n.nudged.Load() || n.raft.State() != raft.Leader {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), nudgeTimeout)
		if _, _, err := n.proposeLocal(ctx, fsm.Request{}); err == nil {
			n.nudged.Store(want)
		}
		cancel()
	}
}
