// Package cluster is everything in statehouse that talks to other nodes:
// the Raft group (hashicorp/raft with a raft-wal log and stable store, or
// raft-boltdb in data dirs made before raft-wal, and file snapshots), the proposer that batches writes into log entries, the
// read gate for linearizable reads, and leader-driven expiry.
//
// Rules:
//   - Every write goes through raft.Apply, even on a single node, so the
//     write path does not change when peers arrive.
//   - The fsm's own applied index, not raft.AppliedIndex, decides when a
//     write or read may be answered: AppliedIndex only means "queued".
//   - Errors say whether a write certainly did not apply (ErrNotApplied) or
//     may have (ErrUnknownOutcome); the server maps them to Redis errors.
package cluster
