// Package cluster is everything in statehouse that talks to other nodes:
// the Raft group (hashicorp/raft with a raft-wal log and stable store, or
// raft-boltdb in data dirs made before raft-wal, and file snapshots), the
// proposer that batches writes into log entries, the read gate for
// linearizable reads, and leader-driven expiry.
//
// Rules:
//   - Every write goes through raft.Apply, even on a single node, so the
//     write path does not change when peers arrive.
//   - The fsm's own applied index, not raft.AppliedIndex, decides when a
//     write or read may be answered: AppliedIndex only means "queued".
//   - Errors say whether a write certainly did not apply (ErrNotApplied,
//     ErrRefused, ErrDiskFull) or may have (ErrUnknownOutcome); the server maps them to
//     Redis errors.
//   - The log takes only what this build can apply: the leader stamps every
//     request (fsm.Stamp). A node that meets a committed entry it cannot
//     apply as its peers do applies none of it and stops (halt.go).
//
// Files, one job each:
//   - node.go: Config and its defaults, Node, Open (a list of named steps),
//     Status, Snapshot, Shutdown.
//   - propose.go: Propose and the proposer's group commit.
//   - forward.go: a follower's write sent to the leader; the leader's
//     nudge that tells followers of a commit.
//   - readindex.go: ReadBarrier and the read-index rounds.
//   - lease.go: the leader's lease (LeaseReads, statehouse's default):
//     read indexes without a heartbeat round while a quorum recently
//     accepted it.
//   - leadership.go: a new leader's barrier, WaitReady, waiting for and
//     watching the leader.
//   - reap.go: leader-driven expiry.
//   - evict.go: leader-driven eviction over maxmemory, and the leader's
//     record of client access for LRU/LFU.
//   - faults.go: the Debug* fault injections.
//   - timeouts.go: every timeout and interval, named.
//   - rpc.go: the cluster service on the peer port and its wire format.
//   - mux.go: the peer port shared by Raft and the cluster service, and
//     its challenge-response handshake over the cluster secret.
//   - peertls.go: mutual TLS on the peer port (--tls-cluster).
//   - publish.go: Pub/Sub messages sent to the other members.
//   - gossip.go: memberlist: discovery, --join, node meta, gossip keys.
//   - membership.go: --bootstrap-expect, the leader adding gossip members
//     as non-voters, raft-autopilot (promotion, dead-server removal),
//     Leave, RemoveServer.
//   - clusterid.go: the cluster's id, telling former members from nodes
//     of another cluster.
//   - health.go: autopilot's view of every server; leadership transfer.
//   - replicas.go: what other members have applied (ROLE, WAIT).
//   - fsm_adapter.go: raft.FSM onto fsm.FSM.
//   - halt.go: stopping at an entry this node cannot apply.
//   - logstore.go: the Raft log on disk, reopened in place when a full
//     disk left it unable to append.
//   - torntail.go: saying so when raft-wal drops a torn tail at open.
//   - disk.go: the data dir's free space: writes refused (ErrDiskFull)
//     while it is short, unfinished snapshots removed.
//   - raftlog.go: hashicorp/raft's logger onto the node's slog logger,
//     its routine warnings logged as Info.
//   - identity.go: the node's id, kept in its data dir; a start under
//     another id refused.
//   - waiter.go: waiting for an applied index or a change.
package cluster
