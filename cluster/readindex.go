package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
)

type readIndexResult struct {
	index uint64
	err   error
}

// ReadBarrier returns once a read of the local fsm is linearizable: the
// read index protocol. The node gets the leader's commit index (the leader
// confirms it still leads), then waits until its own fsm has applied it.
//
// A node far behind (a follower just restarted: hashicorp/raft resumes
// replicating to it only after a backoff of seconds) does not make reads
// wait for it: past catchUpWait it answers ErrBehind, and keeps answering
// it at once until it has caught up, so the caller reads through the
// leader (ReadThroughLeader) instead.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if n.unsafeReads() {
		return nil
	}
	index, err := n.readIndex(ctx)
	if err != nil {
		return err
	}
	if n.applied.index() >= index {
		return nil
	}
	if n.raft.State() != raft.Leader {
		if target := n.behind.Load(); target > 0 {
			if n.applied.index() < target {
				return fmt.Errorf("%w: applied %d, catching up to %d", ErrBehind, n.applied.index(), target)
			}
			n.behind.CompareAndSwap(target, 0)
		}
		wctx, cancel := context.WithTimeout(ctx, catchUpWait)
		err := n.applied.wait(wctx, index)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() == nil {
			n.noteBehind(index)
			return fmt.Errorf("%w: applied %d, read index %d", ErrBehind, n.applied.index(), index)
		}
	}
	if err := n.applied.wait(ctx, index); err != nil {
		return fmt.Errorf("%w: waiting to apply index %d", ErrLoading, index)
	}
	return nil
}

// noteBehind records that this node has yet to apply index: until it has,
// its linearizable reads go through the leader.
func (n *Node) noteBehind(index uint64) { raiseTo(&n.behind, index) }

// ReadThroughLeader runs a read command on the leader, which answers it
// after its own read barrier: for a follower too far behind to serve it.
func (n *Node) ReadThroughLeader(ctx context.Context, db int, args [][]byte) ([]byte, error) {
	leader, err := n.waitLeader(ctx)
	if err != nil {
		return nil, err
	}
	n.readsViaLeader.Add(1)
	if leader == n.self() {
		return n.readLocal(ctx, db, args)
	}
	r, err := n.peer(leader).call(ctx, msgRead, encodeRequest(fsm.Request{Ops: []fsm.Op{{DB: db, Args: args}}}))
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) || errors.Is(err, errShortReply) {
			return nil, fmt.Errorf("%w: read through the leader %s: %v", ErrNoLeader, leader, err)
		}
		return nil, err
	}
	return r.body, nil
}

// readLocal is the leader's half of ReadThroughLeader.
func (n *Node) readLocal(ctx context.Context, db int, args [][]byte) ([]byte, error) {
	if n.raft.State() != raft.Leader {
		return nil, ErrNoLeader // never relay: the asker picks the leader itself
	}
	if err := n.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return n.fsm.Read(db, n.Now(), rand.Uint64(), args, nil), nil
}

// readIndex returns an index that covers every write acknowledged before
// the call. Concurrent callers share one round.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	select {
	case n.reads <- ch:
	case <-n.stop:
		return 0, ErrShutdown
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// runReads serves read-index requests in rounds: every request waiting
// when a round starts shares its result.
func (n *Node) runReads() {
	defer n.wg.Done()
	for {
		var waiting []chan readIndexResult
		select {
		case ch := <-n.reads:
			waiting = append(waiting, ch)
		case <-n.stop:
			return
		}
	drain:
		for {
			select {
			case ch := <-n.reads:
				waiting = append(waiting, ch)
			default:
				break drain
			}
		}
		index, err := n.readIndexRound()
		for _, ch := range waiting {
			ch <- readIndexResult{index, err}
		}
	}
}

func (n *Node) readIndexRound() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readIndexRoundTimeout)
	defer cancel()
	// Through an election or a new leader's first moments, retry for about
	// an election before answering with an error.
	deadline := time.Now().Add(n.leaderWait())
	for {
		index, err := n.readIndexOnce(ctx)
		if err == nil || errors.Is(err, ErrShutdown) || time.Now().After(deadline) {
			return index, err
		}
		select {
		case <-time.After(retryInterval):
		case <-n.stop:
			return 0, ErrShutdown
		case <-ctx.Done():
			return 0, err
		}
	}
}

func (n *Node) readIndexOnce(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderReadIndex()
	}
	leader, err := n.waitLeader(ctx)
	if err != nil {
		return 0, err
	}
	if leader == n.self() {
		return n.leaderReadIndex()
	}
	wctx, wcancel := n.untilLeaderChanges(ctx, 0) // a read index is simply asked again
	defer wcancel()
	cctx, cancel := context.WithTimeout(wctx, readIndexCallTimeout)
	defer cancel()
	r, err := n.peer(leader).call(cctx, msgReadIndex, nil)
	if err != nil {
		return 0, readIndexError(leader, err)
	}
	return r.index, nil
}

// readIndexError says why a follower got no read index: a leader that
// cannot be asked, or does not answer sensibly, is no leader to it; the
// leader's own answer stands as it is.
func readIndexError(leader string, err error) error {
	var ce *callError
	switch {
	case errors.As(err, &ce):
		return fmt.Errorf("%w: read index from %s: %v", ErrNoLeader, leader, err)
	case errors.Is(err, errShortReply):
		return fmt.Errorf("%w: short read index reply", ErrNoLeader)
	}
	return err
}

// leaderReadIndex is the leader's half: its commit index, once a round of
// heartbeats (or, with LeaseReads, its lease) confirms no other leader can
// have committed past it.
func (n *Node) leaderReadIndex() (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNoLeader
	}
	if !n.ready.Load() {
		return 0, ErrLoading
	}
	term := n.raft.CurrentTerm()
	ri := n.dataIndex(n.raft.CommitIndex())
	if n.raft.State() == raft.Leader && n.raft.CurrentTerm() == term && n.leaseHeld(term) {
		n.lease.served.Add(1)
		return ri, nil
	}
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
	}
	return ri, nil
}

// dataIndex lowers a commit index past the empty entries at its end
// (leader barriers, commit nudges): a read at the lower index sees the same
// keyspace, and a follower that has not yet heard of the empty entries need
// not wait for them. Without that, every nudge that tells followers about
// a commit would be one more commit for them to hear of. The lowering is
// only sound once this node has applied the commit index: until then an
// unapplied entry may hold data (which a follower may already serve).
func (n *Node) dataIndex(commit uint64) uint64 {
	if n.applied.index() < commit {
		return commit
	}
	return min(commit, n.adapter.lastData.Load())
}
