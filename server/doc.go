// Package server is statehouse's front door: the RESP listener (on
// tidwall/redcon, behind an input guard), per-connection state (AUTH,
// SELECT, MULTI/WATCH, pipelines), the front-door commands (PING, HELLO,
// CLIENT, INFO, CONFIG, COMMAND, ROLE, WAIT, CLUSTER...), and the routing
// of every other command: reads to the fsm after the cluster's read gate,
// writes to the cluster's proposer.
//
// Rules:
//   - One command table (fsm.Table, built by New from the fsm's keyspace
//     rows and the front-door rows in commands.go). The dispatcher checks
//     each command in Redis's order (lookup, arity, subcommand,
//     authentication, cluster redirection, MULTI) and routes it by its
//     row alone: no command is special-cased by name.
//   - Replies to keyspace commands are the bytes the fsm produced; this
//     package never re-words them. Replies are built with internal/resp.
//   - A pipeline's consecutive writes become one request (one log entry);
//     a read in the middle waits for the writes before it.
//   - Errors from the cluster become Redis errors a client can act on:
//     CLUSTERDOWN, TRYAGAIN, LOADING, and UNCERTAIN when a write's outcome
//     is unknown; a follower answers a cluster client's keyed write with
//     MOVED to the leader (clusterface.go).
//   - The TLS port (tls.go) sits under the input guard: the guard reads
//     what TLS decrypted, so both ports have the same limits. The
//     handshake runs on a connection's first read, in its own goroutine,
//     within a deadline counted from its accept; the accept loop never
//     waits on a client.
//   - ACL users (acl.go, aclfile.go) are the fsm's; every command is
//     checked against them before it runs, and the writes carry the
//     revision they were checked at for the fsm to check again.
//   - A connection's first SUBSCRIBE detaches it from redcon (pubsub.go):
//     it gets a reader and a writer goroutine of its own. EVAL goes to the
//     fsm as one op (script.go), FCALL and FUNCTION LOAD too (function.go;
//     FCALL_RO and no-writes functions on the read path); a blocking pop waits here and retries
//     through the log (blocking.go).
//   - memory.go: the maxmemory settings (through the log), MEMORY, the
//     process's RSS for INFO, Go's soft memory limit following
//     maxmemory, and telling the leader's eviction which keys clients
//     use.
package server
