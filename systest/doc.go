// Package systest holds statehouse's multi-node system tests: real
// processes on loopback (internal/testcluster), driven over RESP with
// go-redis, killed, paused and restarted.
package systest
