package cluster

import "time"

// Every timeout and interval the cluster package waits on. Raft's election
// and heartbeat timing come from Config (zero keeps hashicorp/raft's).
const (
	// defaultCommitTimeout: an idle leader tells followers the commit index
	// this soon (hashicorp/raft's 50ms made a follower read after a write
	// wait up to 50ms).
	defaultCommitTimeout = 5 * time.Millisecond
	// DefaultCommitDelay: the longest a new entry is held open for the
	// writers the last one answered (propose.go's groupWait), besides the
	// last entry's commit time. On 3 nodes sharing a disk and two cores,
	// 50 writers took 1-3 ms to come back after their replies; SET/s at
	// 50 clients: 8.0-8.4k with no wait, 9.7-10.4k with 2ms, 10.8-11.1k
	// with 5ms.
	DefaultCommitDelay = 5 * time.Millisecond
	// defaultSnapshotInterval: how often Raft checks whether
	// SnapshotThreshold entries have gathered since the last snapshot.
	defaultSnapshotInterval = 30 * time.Second
	// defaultLeaderWait: how long a write or read waits through an election
	// when ElectionTimeout is unset (two of raft's default 1s elections).
	defaultLeaderWait = 2 * time.Second
	// retryInterval: the pause between attempts of a write that certainly
	// did not apply, or of a read-index round, while leadership settles.
	retryInterval = 20 * time.Millisecond

	// transportTimeout: Raft's transport gives up on one RPC after this
	// (an InstallSnapshot of a large keyspace needs the room).
	transportTimeout = 10 * time.Second
	// applyEnqueueTimeout bounds only handing an entry to raft.Apply, not
	// its commit: a leader that cannot take it this long answers TRYAGAIN.
	applyEnqueueTimeout = 10 * time.Second
	// handshakeTimeout: an accepted peer connection names its protocol and
	// proves the secret within this, or is closed (a silent dialer must not
	// hold a goroutine).
	handshakeTimeout = 5 * time.Second
	// acceptRetryInterval: the pause after a failed Accept on the peer port
	// (out of file descriptors), so the loop does not spin.
	acceptRetryInterval = 10 * time.Millisecond
	// peerDialTimeout: a peer that does not take a connection this soon is
	// unreachable; a write not sent to it may be retried.
	peerDialTimeout = 2 * time.Second
	// frameReadTimeout: a peer's frame, once its header is in, arrives whole
	// within this (32 MiB at 1 MiB/s), or the connection is closed.
	frameReadTimeout = 30 * time.Second
	// serviceCallTimeout: how long the leader works on one call a peer made
	// (a forwarded write, a read index) before giving up on it.
	serviceCallTimeout = 10 * time.Second

	// forwardLeaderChangeGrace: a forwarded write whose leader changed
	// while it was out waits this much longer for that leader's answer
	// before its outcome is unknown (a leader that handed on answers at
	// once; one that crashed never does).
	forwardLeaderChangeGrace = 500 * time.Millisecond

	// readIndexRoundTimeout: a read-index round, retries included, answers
	// within this even when no leader does.
	readIndexRoundTimeout = 5 * time.Second
	// catchUpWait: a follower waits this long to apply a read index before
	// the read goes through the leader instead (a follower just restarted
	// may not be replicated to for seconds).
	catchUpWait = time.Second
	// readIndexCallTimeout: a leader that takes longer than this to hand a
	// follower its read index is treated as gone.
	readIndexCallTimeout = 2 * time.Second
	// nudgeTimeout: an empty entry telling followers of a commit is
	// abandoned after this; the next nudge covers it.
	nudgeTimeout = 2 * time.Second

	// leadershipTick: how often the leader retries its barrier and reaps
	// expired keys (memory of expired keys is reclaimed within about this).
	leadershipTick = 100 * time.Millisecond
	// removedHoldoff: a server removed on request whose gossip gives no
	// life (an older build) is not added back from gossip for this long (a
	// leaving node stays in gossip a moment after its removal).
	removedHoldoff = time.Minute
	// handOffDrainTimeout: a leader handing leadership on waits at most
	// this for its entries in flight to be applied before it transfers.
	handOffDrainTimeout = 2 * time.Second
	// barrierTimeout: a new leader's first entry of its term commits within
	// this, or the leader tries again at the next tick.
	barrierTimeout = 5 * time.Second
	// reapTimeout: one batch of expiry deletes commits within this, or
	// reaping waits for the next tick.
	reapTimeout = 5 * time.Second

	// nodeInfoCallTimeout: WAIT asks each replica how far it has applied
	// with this bound per call, so one that hangs is simply asked again.
	nodeInfoCallTimeout = 200 * time.Millisecond
	// nodeInfoPollInterval: WAIT asks a replica that is behind again after
	// this.
	nodeInfoPollInterval = 5 * time.Millisecond
	// countAppliedTimeout: WAIT with nothing to wait for counts the
	// replicas that answer within this.
	countAppliedTimeout = 300 * time.Millisecond

	// defaultMaxClockSkew: a node whose clock is further than this from the
	// time a quorum of members agree on uses theirs. Loose enough that clocks
	// merely out of NTP's reach for a while still agree (when one member is
	// down, two that disagree stop writes); tight enough that no session
	// expires more than this early.
	defaultMaxClockSkew = 5 * time.Second
	// clockSampleInterval: how often a node asks the members their clocks.
	clockSampleInterval = time.Second
	// clockSampleMaxAge: a member's clock not heard for this long no longer
	// counts towards the quorum time.
	clockSampleMaxAge = 10 * time.Second
	// clockCallTimeout: a member that does not tell its clock this soon is
	// asked again next round.
	clockCallTimeout = 500 * time.Millisecond

	// boltOpenTimeout: opening an old data dir's raft.db waits this long for
	// bbolt's file lock.
	boltOpenTimeout = time.Second

	// diskCheckInterval is how often the data dir's free space is read.
	diskCheckInterval = time.Second
	// diskHandOffAfter: a leader whose disk has been full this long hands
	// leadership to a member with room; diskHandOffInterval: at most once
	// in this long.
	diskHandOffAfter    = 3 * time.Second
	diskHandOffInterval = 10 * time.Second
	// snapshotReleaseDelay: by then Raft has dropped a failed snapshot.
	snapshotReleaseDelay = time.Second

	// membershipTick: how often gossip and Raft are brought in step (and
	// at once on any gossip change).
	membershipTick = time.Second
	// membershipChangeTimeout bounds one Raft configuration change.
	membershipChangeTimeout = 10 * time.Second
	// joinRetryMin/Max: --join tries again after these, doubling.
	joinRetryMin = 500 * time.Millisecond
	joinRetryMax = 30 * time.Second
	// gossipUpdateTimeout, gossipLeaveTimeout bound telling the others of
	// a change of this node, or of its leaving.
	gossipUpdateTimeout = 5 * time.Second
	gossipLeaveTimeout  = 5 * time.Second
	// gossipRejoinInterval: how often members gossip declared dead are
	// asked to join again.
	gossipRejoinInterval = 30 * time.Second
	// gossipReclaimTime: a crashed node's name is free for the same node
	// at a new address after this long.
	gossipReclaimTime = 30 * time.Second
	// autopilotInterval: how often autopilot gathers the servers' health
	// and acts on it (promotions, removals).
	autopilotInterval = time.Second
	// autopilotLastContact: a server that has not heard from the leader
	// for this long is not healthy (not promoted, counted as failing).
	autopilotLastContact = 2 * time.Second

	// ackBeforeCommitTimeout: the DebugAckBeforeCommit fault gives the write
	// it sends in the background this long.
	ackBeforeCommitTimeout = 10 * time.Second
)
