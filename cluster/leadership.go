package cluster

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
)

// runLeadership reacts to leadership changes: a new leader first applies
// an entry of its own term (so every earlier entry is in its fsm and the
// fsm's applied index covers Raft's no-op), then serves reads and reaps
// expired keys.
func (n *Node) runLeadership() {
	defer n.wg.Done()
	tick := time.NewTicker(leadershipTick)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.raft.LeaderCh():
			n.setReady(false)
			if isLeader {
				n.becomeReady()
			}
		case <-tick.C:
			if n.raft.State() == raft.Leader {
				if !n.ready.Load() {
					n.becomeReady()
				}
				if n.ready.Load() {
					n.reap()
				}
			}
		}
	}
}

func (n *Node) becomeReady() {
	ctx, cancel := context.WithTimeout(context.Background(), barrierTimeout)
	defer cancel()
	if _, _, err := n.proposeLocal(ctx, fsm.Request{}); err != nil {
		select {
		case <-n.stop:
			// Stopped right after winning an election: the barrier was cut
			// short, nothing went wrong.
			n.log.Debug("leader barrier cut short by shutdown", "err", err)
		default:
			n.log.Warn("leader barrier failed", "err", err)
		}
		return
	}
	n.setReady(true)
	n.log.Info("leader ready", "index", n.fsm.Applied(), "term", n.raft.Stats()["term"])
}

// setReady records whether this node is a leader ready to serve and wakes
// WaitReady when that changes.
func (n *Node) setReady(ready bool) {
	if n.ready.Swap(ready) != ready {
		n.readyChanged.notify()
	}
}

// WaitReady blocks until this node is a leader ready to serve, or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for {
		changed := n.readyChanged.wait()
		if n.ready.Load() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// watchLeader turns Raft's leader observations into leaderChanged, so
// calls to a leader that has gone (paused, partitioned) are abandoned as
// soon as this node learns of it, not when they time out, and waitLeader
// wakes as soon as a leader is known.
func (n *Node) watchLeader() {
	obs := make(chan raft.Observation, 16)
	n.raft.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	go func() {
		for {
			select {
			case <-obs:
				n.leaderChanged.notify()
			case <-n.stop:
				return
			}
		}
	}()
}

// untilLeaderChanges returns a context that ends with parent or grace
// after the leader changes.
func (n *Node) untilLeaderChanges(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	changed := n.leaderChanged.wait()
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
		if grace > 0 {
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()
	return ctx, cancel
}

// waitLeader returns the leader's peer address, waiting a little through
// an election rather than failing at once.
func (n *Node) waitLeader(ctx context.Context) (string, error) {
	if addr, _ := n.raft.LeaderWithID(); addr != "" {
		return string(addr), nil // the usual case: no channel, no timer
	}
	timer := time.NewTimer(n.leaderWait())
	defer timer.Stop()
	expired := false
	for {
		// Take the channel, then look: a leader that appears in between
		// still wakes this wait.
		changed := n.leaderChanged.wait()
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return string(addr), nil
		}
		if expired {
			return "", ErrNoLeader
		}
		select {
		case <-changed:
		case <-timer.C:
			expired = true // look once more, then give up
		case <-ctx.Done():
			return "", ErrNoLeader
		case <-n.stop:
			return "", ErrShutdown
		}
	}
}

// leaderWait is how long a write or read waits for a leader through an
// election: about two elections.
func (n *Node) leaderWait() time.Duration {
	if n.cfg.ElectionTimeout > 0 {
		return 2 * n.cfg.ElectionTimeout
	}
	return defaultLeaderWait
}

// handOff passes leadership to the voter id (the most up-to-date one when
// id is empty) without leaving a client's write uncertain. Raft fails the
// entries still in flight when its leader steps down (ErrLeadershipLost),
// though the new leader commits them; so the proposer first stops taking
// writes (they are answered "not applied" and retried, then forwarded to
// the new leader), the entries in flight are applied and answered, and
// only then does Raft transfer.
func (n *Node) handOff(id raft.ServerID, addr raft.ServerAddress) error {
	n.handingOff.Add(1) // counted: two hand-offs at once (a full disk, an operator) each keep it
	defer n.handingOff.Add(-1)
	deadline := time.Now().Add(handOffDrainTimeout)
	for n.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	// The new leader is elected with votes its voters would otherwise
	// refuse while they know this one: no read may lean on the lease now.
	n.lease.revoke(n.raft.CurrentTerm())
	if id == "" {
		return n.raft.LeadershipTransfer().Error()
	}
	return n.raft.LeadershipTransferToServer(id, addr).Error()
}
