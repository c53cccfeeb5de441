package cluster

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Time the members agree on. The time a leader stamps in an entry is the
// keyspace's time on every replica (relative TTLs become deadlines from it,
// keys expire by it), so one node's clock jumping a year ahead must not
// expire every session, and jumping back must not stop TTLs counting down.
//
// Every node asks each member of the Raft configuration for its clock
// every clockSampleInterval (msgClock) and keeps the member's offset from
// its own clock, corrected by half the round trip. The quorum time is the
// time a quorum of the members' clocks agree on: the middle of at least a
// quorum of clocks that lie within MaxClockSkew of one another (with three
// members, the middle clock when all agree; the other two when one jumps).
// When no quorum agrees (one of three members unheard, and the other two a
// year apart: which is right?) there is no quorum time. A node whose clock
// is within MaxClockSkew of the quorum time uses its own clock; one further
// away uses the quorum time, logs it, and reports the skew (INFO,
// metrics). The proposer never stamps a time earlier than the last it
// stamped, nor any time while there is no quorum time: an entry stamped
// with a clock a year behind would give sessions written in it deadlines
// that are already past.

// clockSample is one member's clock as this node last measured it, and
// what the member said of its disk.
type clockSample struct {
	offset   int64 // the member's clock minus this node's, ms
	at       int64 // this node's clock when it was measured, ms
	diskRoom bool  // the member's disk is not full (false from older builds, which do not say)
}

type clockState struct {
	mu      sync.Mutex
	samples map[raft.ServerID]clockSample
	voters  int // in the configuration when last sampled

	// The quorum time, carried forward by this node's monotonic clock (which
	// no clock step moves) between samples: at monotonic ms m it is
	// m + quorumOffset. Valid until validUntil (monotonic ms); 0: never.
	mono         time.Time // origin of the monotonic ms
	quorumOffset atomic.Int64
	validUntil   atomic.Int64

	skew   atomic.Int64 // this node's clock minus the quorum time, ms
	skewed atomic.Bool  // further off than MaxClockSkew: the quorum time is used
}

func (c *clockState) monoMs() int64 { return time.Since(c.mono).Milliseconds() }

// Now is the node's time in unix ms: its own clock, unless that is more
// than MaxClockSkew from the time a quorum of members agree on. It is on
// every read's path, so it reads atomics only: a clock that steps between
// two samples is caught at once, by the monotonic clock. Without a quorum
// time (just started, or cut off) its clock is trusted only up to
// MaxClockSkew past the time of the last entry applied: a clock that has
// jumped ahead then makes expired keys linger, never live ones vanish.
func (n *Node) Now() int64 {
	local := n.cfg.Clock()
	c := &n.clock
	m := c.monoMs()
	if m >= c.validUntil.Load() {
		last := n.fsm.Now()
		return max(last, min(local, last+n.cfg.MaxClockSkew.Milliseconds()))
	}
	if q := m + c.quorumOffset.Load(); n.tooFar(local - q) {
		return q
	}
	return local
}

// tooFar reports whether a clock skew of d ms is past MaxClockSkew.
func (n *Node) tooFar(d int64) bool {
	limit := n.cfg.MaxClockSkew.Milliseconds()
	return d > limit || -d > limit
}

// ClockSkew is this node's clock minus the quorum time, as last measured.
func (n *Node) ClockSkew() time.Duration {
	return time.Duration(n.clock.skew.Load()) * time.Millisecond
}

// quorumTime is the time a quorum of voters' clocks agree on, reading
// each from its last sample, and false when no quorum agrees.
func (n *Node) quorumTime(local int64) (int64, bool) {
	c := &n.clock
	c.mu.Lock()
	times := make([]int64, 0, len(c.samples)+1)
	times = append(times, local)
	for _, s := range c.samples {
		if local-s.at <= clockSampleMaxAge.Milliseconds() {
			times = append(times, local+s.offset)
		}
	}
	voters := c.voters
	c.mu.Unlock()
	if voters == 0 {
		return 0, false
	}
	return agreedTime(times, voters/2+1, n.cfg.MaxClockSkew.Milliseconds())
}

// agreedTime finds the largest group of times within skew of one of them
// and, if it holds at least quorum times, returns its middle one.
func agreedTime(times []int64, quorum int, skew int64) (int64, bool) {
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var best []int64
	for _, center := range times {
		lo := sort.Search(len(times), func(i int) bool { return times[i] >= center-skew })
		hi := sort.Search(len(times), func(i int) bool { return times[i] > center+skew })
		if hi-lo > len(best) {
			best = times[lo:hi]
		}
	}
	if len(best) < quorum {
		return 0, false
	}
	return best[len(best)/2], true
}

// runClock samples the members' clocks until the node stops.
func (n *Node) runClock() {
	defer n.wg.Done()
	tick := time.NewTicker(clockSampleInterval)
	defer tick.Stop()
	for {
		n.sampleClocks()
		select {
		case <-tick.C:
		case <-n.stop:
			return
		}
	}
}

// sampleClocks asks every other member for its clock, at once, and
// records what answers.
func (n *Node) sampleClocks() {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return
	}
	servers := fut.Configuration().Servers
	voters := 0
	var wg sync.WaitGroup
	samples := make(map[raft.ServerID]clockSample)
	var mu sync.Mutex
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
		if string(s.ID) == n.cfg.NodeID || s.Suffrage != raft.Voter {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), clockCallTimeout)
			defer cancel()
			sent := n.cfg.Clock()
			r, err := n.peer(string(s.Address)).call(ctx, msgClock, nil)
			if err != nil {
				return
			}
			got := n.cfg.Clock()
			mu.Lock()
			samples[s.ID] = clockSample{offset: int64(r.index) - (sent+got)/2, at: got,
				diskRoom: len(r.body) == 1 && r.body[0] == 0}
			mu.Unlock()
		}()
	}
	wg.Wait()
	c := &n.clock
	c.mu.Lock()
	if c.samples == nil {
		c.samples = map[raft.ServerID]clockSample{}
	}
	for id, s := range samples {
		c.samples[id] = s
	}
	for id := range c.samples { // forget members no longer in the configuration
		if !inConfiguration(servers, id) {
			delete(c.samples, id)
		}
	}
	c.voters = voters
	c.mu.Unlock()
	n.noteSkew()
}

func inConfiguration(servers []raft.Server, id raft.ServerID) bool {
	for _, s := range servers {
		if s.ID == id {
			return true
		}
	}
	return false
}

// noteSkew records the quorum time and this node's skew from it, and logs
// when the skew crosses MaxClockSkew.
func (n *Node) noteSkew() {
	local := n.cfg.Clock()
	q, ok := n.quorumTime(local)
	if !ok {
		n.clock.skew.Store(0)
		n.clock.validUntil.Store(0) // no quorum time: no entry is stamped
		return
	}
	m := n.clock.monoMs()
	n.clock.quorumOffset.Store(q - m)
	n.clock.validUntil.Store(m + clockSampleMaxAge.Milliseconds())
	skew := local - q
	n.clock.skew.Store(skew)
	far := n.tooFar(skew)
	if n.clock.skewed.Swap(far) != far {
		if far {
			n.log.Warn("this node's clock is off from the time a quorum of members agree on: using theirs",
				"skew", time.Duration(skew)*time.Millisecond, "max_clock_skew", n.cfg.MaxClockSkew)
		} else {
			n.log.Info("this node's clock agrees with its members again", "skew", time.Duration(skew)*time.Millisecond)
		}
	}
}

// stamp is the time the proposer puts in the next entry: the node's time,
// never earlier than the last entry's. Until this node knows the quorum
// time (just started, or cut off from a quorum for clockSampleMaxAge) it
// asks the members once; if that does not settle it, it stamps nothing
// rather than a time only its own clock vouches for.
func (n *Node) stamp(last int64) (int64, error) {
	if n.clock.monoMs() >= n.clock.validUntil.Load() {
		n.sampleClocks()
		if n.clock.monoMs() >= n.clock.validUntil.Load() {
			return 0, fmt.Errorf("%w: the members' clocks could not be read", ErrNotApplied)
		}
	}
	return max(n.Now(), last), nil
}
