// Package fsm is statehouse's keyspace, the semantics of every command,
// and the command table.
//
// Rules this package keeps, so that every replica computes the same state
// from the same log:
//
//   - No I/O, no clock, no random source, no goroutines. Time arrives in the
//     log entry (Entry.Now, the leader's clock); the keyspace keeps the
//     largest now it has seen so time never runs backwards. Reads are given
//     their clock and any randomness by the caller. It imports nothing of
//     statehouse's but internal/resp (a test checks).
//   - Iteration is always in tree order (keys ordered by a fixed 64-bit hash,
//     then bytes), never Go map order.
//   - Stored values are immutable: a write builds a new item, so a snapshot
//     is an O(1) copy of the trees and streams while writes go on.
//   - Every command's reply is RESP bytes produced here; the server writes
//     them back verbatim.
//
// The command table. Every command, keyspace or front door, is one row
// (Command): name, arity, key positions, Redis's flags and ACL categories,
// subcommands, and its handler. The fsm's rows live beside their handlers,
// one file per family (strings.go, bitmaps.go, hll.go, keys.go, hashes.go,
// sets.go, lists.go, zsets.go; packed.go holds small hashes and sets in
// one string; dump.go with Redis's serialization in rdb.go,
// object.go, sort.go, and the replicated state beside the keyspace:
// acl.go, script.go, function.go (function libraries), notify.go, and
// memory.go: used_memory, the limit and eviction's conditional delete); the
// server adds its front-door rows and builds one Table from both, which
// COMMAND, the arity and auth checks, MULTI and ACL read. NewTable refuses
// a row that cannot be right. Adding a command is one row and one handler.
//
// Entries from other builds. The leader stamps each op it proposes with
// its command's Version and whether it is ignorable (Stamp). A replica
// that meets an op it does not know, or a newer version of one, skips it
// if it is ignorable and otherwise refuses the whole entry (Check): the
// node must stop, never apply it differently from its peers. Bump a
// command's Version when what a write does changes.
//
// A key is expired when now > deadline (as in Redis). Expired keys are
// invisible to every command; memory is reclaimed by the leader proposing
// conditional deletes (see Expired and the internal reap command).
package fsm
