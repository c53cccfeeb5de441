package client

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// ReadFrom says which nodes serve Read.
type ReadFrom int

const (
	// ReadFollowers spreads reads over the followers in turn, and sends
	// them to the leader only when no follower answers. The default:
	// the leader has the writes to do.
	ReadFollowers ReadFrom = iota
	// ReadAny spreads reads over every node, the leader included.
	ReadAny
	// ReadLeader sends every read to the leader.
	ReadLeader
)

// Option changes how New builds a Client.
type Option func(*options)

type options struct {
	redis           redis.Options // template of every node's client (Addr is set per node)
	readFrom        ReadFrom
	staleBound      time.Duration // > 0: Read uses READONLY connections within this bound
	retryTimeout    time.Duration
	refreshInterval time.Duration
	downFor         time.Duration
	addrMap         func(string) string
}

func defaultOptions() options {
	return options{
		redis: redis.Options{
			Protocol:        2, // statehouse speaks RESP2: skip HELLO 3's round trip
			DisableIdentity: true,
			MaxRetries:      -1, // no hidden retries: Client decides what is safe to send again
			DialerRetries:   1,  // a refused dial fails at once (nothing was sent) and Client retries elsewhere
			DialTimeout:     time.Second,
			// A write waits for a leader for up to about two election
			// timeouts before the node answers CLUSTERDOWN: a reply
			// that late is still an answer, where a timeout is an
			// unknown outcome.
			ReadTimeout:  10 * time.Second,
			WriteTimeout: 10 * time.Second,
		},
		retryTimeout:    15 * time.Second,
		refreshInterval: 2 * time.Second,
		downFor:         time.Second,
	}
}

// WithRedisOptions changes the go-redis options every node's client is
// made from (Password, Username, TLSConfig, PoolSize, timeouts...). Addr
// is set per node and MaxRetries is kept at -1: go-redis itself would
// send again a write whose connection broke after it was sent.
func WithRedisOptions(f func(*redis.Options)) Option {
	return func(o *options) { f(&o.redis) }
}

// WithReadFrom chooses which nodes serve Read (default ReadFollowers).
func WithReadFrom(r ReadFrom) Option {
	return func(o *options) { o.readFrom = r }
}

// WithStaleReads lets Read serve from a node's local state without the
// read-index round (a READONLY connection): faster, but a read may miss
// recent writes. bound limits how stale: a follower serves stale reads
// only while the client's last look at it (at every topology refresh,
// made at least every bound/2) found it in touch with a leader within
// bound; the node itself refuses READONLY reads once it has not heard
// from a leader for its --max-staleness. Others serve the read
// linearizably. Writes and Watch are not affected.
func WithStaleReads(bound time.Duration) Option {
	return func(o *options) { o.staleBound = bound }
}

// WithRetryTimeout bounds how long Read, Write and Watch keep retrying a
// command that certainly did not apply (default 15 s: several elections).
// The context's deadline bounds it too.
func WithRetryTimeout(d time.Duration) Option {
	return func(o *options) { o.retryTimeout = d }
}

// WithRefreshInterval is how often the topology is read again when
// nothing asks for it sooner (default 2 s). A MOVED, a CLUSTERDOWN or a
// connection error asks for it at once.
func WithRefreshInterval(d time.Duration) Option {
	return func(o *options) { o.refreshInterval = d }
}

// WithAddrMap rewrites the node addresses the cluster announces (CLUSTER
// SLOTS, ROLE) before the client dials them: for clients that reach the
// nodes by other addresses than the nodes announce, such as containers
// on a Docker network whose nodes announce the host's published ports.
// The addresses given to New are used as they are.
func WithAddrMap(f func(announced string) string) Option {
	return func(o *options) { o.addrMap = f }
}
