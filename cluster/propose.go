package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	hold := time.NewTimer(time.Hour)
	hold.Stop()
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
		until, want := n.group.plan(n.cfg.CommitDelay, time.Now())
		// An empty request (a nudge, a new leader's entry) is there to
		// tell followers of a commit soon: its entry does not wait. Nor
		// does it have a writer to come back for the next entry.
		empty := 0
		if len(first.req.Ops) == 0 {
			empty++
		}
		waiting := false
	gather:
		for len(batch) < n.cfg.MaxBatch && size < n.cfg.MaxBatchBytes {
			var p *proposal
			select {
			case p = <-n.proposals:
			default:
				// Nothing queued: the entry goes now, unless the writers
				// the last entry answered may still be on their way.
				d := time.Until(until)
				if len(batch) >= want || d <= 0 || empty > 0 {
					break gather
				}
				if !waiting {
					waiting = true
					hold.Reset(d)
				}
				select {
				case p = <-n.proposals:
				case <-hold.C:
					waiting = false
					break gather
				case <-n.stop:
					return
				}
			}
			if size+p.size > MaxEntryBytes {
				next = p // it opens the next entry
				break gather
			}
			batch = append(batch, p)
			size += p.size
			if len(p.req.Ops) == 0 {
				empty++
			}
		}
		if waiting {
			hold.Stop()
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
		n.entriesProposed.Add(1)
		n.writesProposed.Add(uint64(len(batch)))
		start := time.Now()
		fut := n.raft.Apply(data, applyEnqueueTimeout)
		writers := len(batch) - empty
		go func() {
			defer func() { <-inflight }()
			n.finish(fut, batch, writers, start)
			n.inflight.Add(-1)
		}()
	}
}

// finish hands each proposal of a batch its reply once the entry is
// applied, or the batch's error.
func (n *Node) finish(fut raft.ApplyFuture, batch []*proposal, writers int, start time.Time) {
	err := fut.Error()
	// Counted before any reply goes out, so no writer answered here is
	// among the queued ones too.
	n.group.committed(writers, len(n.proposals), err == nil, start, time.Now())
	if err != nil {
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

// groupWait is what the proposer knows of the last entry to commit, to
// hold the next one open for the writers it answered (group commit, as
// PostgreSQL's commit_delay). A writer in a closed loop (a request handler
// saving a session, then the next) sends its next write moments after its
// reply; an entry started at once would carry only the writes queued
// meanwhile, and the writers of two entries would alternate for good, each
// write waiting two rounds. Held open, one entry carries both: fewer fsyncs
// per write and one round each.
type groupWait struct {
	mu     sync.Mutex
	expect int           // writers the last entry answered (nudges are none), plus writes queued when it committed
	done   time.Time     // when it committed
	took   time.Duration // from Apply to commit
}

func (g *groupWait) committed(answered, queued int, ok bool, start, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expect, g.done, g.took = 0, now, now.Sub(start)
	if ok {
		g.expect = answered + queued
	}
}

// plan says, for an entry whose first write came at now, until when it
// may wait and for how many writes in all. It waits at most max
// (negative: never) and the last entry's commit time, so a write pays at
// most one round more (the alternation costs a round too); a first write
// that came later than that after the last commit is from writers not in
// a loop with it, and does not wait at all.
func (g *groupWait) plan(max time.Duration, now time.Time) (until time.Time, want int) {
	if max <= 0 {
		return time.Time{}, 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	wait := min(max, g.took)
	if now.Sub(g.done) > wait {
		return time.Time{}, 0
	}
	return now.Add(wait), g.expect
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
