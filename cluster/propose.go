package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
)

type proposal struct {
	req  fsm.Request
	size int
	done chan result
}

type result struct {
	reply []byte
	index uint64
	err   error
}

// Propose sends one request through the log and returns its reply once the
// local fsm has applied it. On a follower the request is forwarded to the
// leader, and the reply waits until this node has applied the entry too,
// so a client reads its own writes on the node it talks to.
//
// The returned index is the log entry that carried the request (WAIT).
func (n *Node) Propose(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
	if n.cfg.DebugAckBeforeCommit {
		return n.ackBeforeCommit(req)
	}
	// A write that certainly did not apply (leadership moved, the leader
	// was unreachable, no leader was known) is retried for about an
	// election, so clients see fewer TRYAGAINs and CLUSTERDOWNs during
	// failover. ErrNoLeader is never said of a write given to Raft: an
	// old leader that stepped down answers it to a forward before the new
	// leader's first heartbeat reached it.
	deadline := time.Now().Add(n.leaderWait())
	for {
		reply, index, err := n.proposeOnce(ctx, req)
		retry := errors.Is(err, ErrNotApplied) || errors.Is(err, ErrNoLeader)
		if !retry || time.Now().After(deadline) || ctx.Err() != nil {
			return reply, index, err
		}
		select {
		case <-time.After(retryInterval):
		case <-n.stop:
			return nil, 0, err
		case <-ctx.Done():
			return nil, 0, err
		}
	}
}

func (n *Node) proposeOnce(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
	for {
		if n.raft.State() == raft.Leader {
			return n.proposeLocal(ctx, req)
		}
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return nil, 0, err
		}
		if leader == n.self() {
			continue // just elected: propose locally
		}
		return n.forward(ctx, leader, req)
	}
}

// MaxEntryBytes is the largest log entry the proposer writes: half of the
// 64 MiB record raft-wal reads back (it writes larger ones without
// complaint, then refuses to read them, and the node never starts again).
// A write larger than this, with its framing, is refused before it is
// proposed; batches of smaller ones stop short of it.
const MaxEntryBytes = 32 << 20

// maxKeptEncodeBuf is the largest encoding buffer the proposer keeps for
// the next entry; a larger one (a bulk load's batch) is let go.
const maxKeptEncodeBuf = 1 << 20

// checkSize returns a bound on what req takes in an entry, or ErrRefused
// if it could not fit in one.
func checkSize(req fsm.Request) (int, error) {
	size := req.SizeBound()
	if size+fsm.EntryOverhead > MaxEntryBytes {
		return 0, fmt.Errorf("%w: write of %d bytes is larger than a log entry may be (%d MiB)", ErrRefused, size, MaxEntryBytes>>20)
	}
	return size, nil
}

// proposeLocal runs a request through this node's proposer (the leader's).
// Every request is stamped first (fsm.Stamp): the log takes only ops this
// build can apply, each marked with its command's version.
func (n *Node) proposeLocal(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
	if err := fsm.Stamp(&req); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	size, err := checkSize(req)
	if err != nil {
		return nil, 0, err
	}
	if len(req.Ops) > 0 { // empty entries (a leader's first, nudges) carry no data and let reads go on
		if err := n.checkDisk(size); err != nil {
			return nil, 0, err
		}
	}
	p := &proposal{req: req, size: size, done: make(chan result, 1)}
	select {
	case n.proposals <- p:
	case <-n.stop:
		return nil, 0, ErrShutdown
	case <-ctx.Done():
		return nil, 0, ErrNotApplied
	}
	select {
	case r := <-p.done:
		return r.reply, r.index, r.err
	case <-n.stop:
		return nil, 0, ErrUnknownOutcome
	case <-ctx.Done():
		return nil, 0, ErrUnknownOutcome
	}
}

// runProposer is the group commit: while up to MaxInflight entries are in
// flight, writes from every connection gather into the next entry.
func (n *Node) runProposer() {
	defer n.wg.Done()
	inflight := make(chan struct{}, n.cfg.MaxInflight)
	var buf []byte
	var next *proposal // taken while gathering, too large for that entry
	var stamped int64  // the time in the last entry
	for {
		select {
		case inflight <- struct{}{}:
		case <-n.stop:
			return
		}
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-n.proposals:
			case <-n.stop:
				return
			}
		}
		batch := []*proposal{first}
		size := fsm.EntryOverhead + first.size
	gather:
		for len(batch) < n.cfg.MaxBatch && size < n.cfg.MaxBatchBytes {
			select {
			case p := <-n.proposals:
				if size+p.size > MaxEntryBytes {
					next = p // it opens the next entry
					break gather
				}
				batch = append(batch, p)
				size += p.size
			default:
				break gather
			}
		}
		// Counted before the hand-off flag is read, so a hand-off that
		// sees no entry in flight knows none will start (handOff).
		n.inflight.Add(1)
		fail := func(err error) {
			for _, p := range batch {
				p.done <- result{err: err}
			}
			n.inflight.Add(-1)
			<-inflight
		}
		if n.handingOff.Load() > 0 {
			fail(fmt.Errorf("%w: leadership is being handed on", ErrNotApplied))
			continue
		}
		if n.raft.State() != raft.Leader {
			err := ErrNoLeader
			if addr, _ := n.raft.LeaderWithID(); addr != "" {
				err = ErrNotApplied
			}
			fail(err)
			continue
		}
		now, err := n.stamp(stamped)
		if err != nil {
			fail(err)
			continue
		}
		stamped = now
		e := fsm.Entry{Now: stamped, Reqs: make([]fsm.Request, len(batch))}
		for i, p := range batch {
			e.Reqs[i] = p.req
		}
		buf = e.Encode(buf[:0])
		data := make([]byte, len(buf))
		copy(data, buf)
		if cap(buf) > maxKeptEncodeBuf {
			buf = nil // one bulk load's batch is not kept for good
		}
		fut := n.raft.Apply(data, applyEnqueueTimeout)
		go func() {
			defer func() { <-inflight }()
			n.finish(fut, batch)
			n.inflight.Add(-1)
		}()
	}
}

// finish hands each proposal of a batch its reply once the entry is
// applied, or the batch's error.
func (n *Node) finish(fut raft.ApplyFuture, batch []*proposal) {
	if err := fut.Error(); err != nil {
		err = classify(err)
		for _, p := range batch {
			p.done <- result{err: err}
		}
		return
	}
	replies, _ := fut.Response().([][]byte)
	if len(replies) != len(batch) {
		for _, p := range batch {
			p.done <- result{err: ErrUnknownOutcome}
		}
		return
	}
	index := fut.Index()
	for i, p := range batch {
		p.done <- result{reply: replies[i], index: index}
	}
}

// classify maps a raft error to whether the write may have applied.
func classify(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotApplied, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
}
