// Package fsm is statehouse's keyspace and the semantics of every command.
//
// Rules this package keeps, so that every replica computes the same state
// from the same log:
//
//   - No I/O, no clock, no random source, no goroutines. Time arrives in the
//     log entry (Entry.Now, the leader's clock); the keyspace keeps the
//     largest now it has seen so time never runs backwards. Reads are given
//     their clock and any randomness by the caller.
//   - Iteration is always in tree order (keys ordered by a fixed 64-bit hash,
//     then bytes), never Go map order.
//   - Stored values are immutable: a write builds a new item, so a snapshot
//     is an O(1) copy of the trees and streams while writes go on.
//   - Every command's reply is RESP bytes produced here; the server writes
//     them back verbatim.
//
// A key is expired when now > deadline (as in Redis). Expired keys are
// invisible to every command; memory is reclaimed by the leader proposing
// conditional deletes (see Expired and the internal reap command).
package fsm
