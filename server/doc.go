// Package server is statehouse's front door: the RESP listener (on
// tidwall/redcon, behind an input guard), per-connection state (AUTH,
// SELECT, MULTI/WATCH, pipelines), the connection-level commands (PING,
// HELLO, CLIENT, INFO, CONFIG, COMMAND...), and the routing of every other
// command: reads to the fsm after the cluster's read gate, writes to the
// cluster's proposer.
//
// Rules:
//   - Replies to keyspace commands are the bytes the fsm produced; this
//     package never re-words them.
//   - A pipeline's consecutive writes become one request (one log entry);
//     a read in the middle waits for the writes before it.
//   - Errors from the cluster become Redis errors a client can act on:
//     CLUSTERDOWN, TRYAGAIN, LOADING, and UNCERTAIN when a write's outcome
//     is unknown.
package server
