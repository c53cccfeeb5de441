package server

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
)

// testNode is a real single statehouse node: fsm, Raft on disk, and the
// RESP listener on a loopback port.
type testNode struct {
	t    *testing.T
	srv  *Server
	node *cluster.Node
	fsm  *fsm.FSM
	addr string
}

type nodeOption func(*Config)

func withPassword(p string) nodeOption { return func(c *Config) { c.RequirePass = p } }
func withLimits(l Limits) nodeOption   { return func(c *Config) { c.Limits = l } }

// startNode starts a node in a fresh temp dir and waits until it takes
// writes. It is stopped when the test ends.
func startNode(t *testing.T, opts ...nodeOption) *testNode {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := fsm.New()
	node, err := cluster.Open(cluster.Config{
		NodeID:   "n1",
		DataDir:  t.TempDir(),
		PeerAddr: "127.0.0.1:0",
		Logger:   log,
		// A group of one elects itself after one heartbeat timeout.
		HeartbeatTimeout: 100 * time.Millisecond,
		ElectionTimeout:  100 * time.Millisecond,
	}, f)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	cfg := Config{Addr: "127.0.0.1:0", Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg, f, node)
	if err := srv.Listen(); err != nil {
		node.Shutdown()
		t.Fatalf("listen: %v", err)
	}
	go srv.Serve()
	tn := &testNode{t: t, srv: srv, node: node, fsm: f, addr: srv.Addr().String()}
	t.Cleanup(func() {
		srv.Close()
		node.Shutdown()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatalf("node never became ready: %v", err)
	}
	return tn
}

// client returns a go-redis client for the node, closed at test end.
func (n *testNode) client(opts ...func(*redis.Options)) *redis.Client {
	o := &redis.Options{Addr: n.addr, MaxRetries: -1}
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	n.t.Cleanup(func() { c.Close() })
	return c
}

func TestPingSetGet(t *testing.T) {
	n := startNode(t)
	c := n.client()
	ctx := context.Background()
	if v, err := c.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING = %q, %v", v, err)
	}
	if err := c.Set(ctx, "session:1", "alice", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if v, err := c.Get(ctx, "session:1").Result(); err != nil || v != "alice" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if _, err := c.Get(ctx, "nope").Result(); err != redis.Nil {
		t.Fatalf("GET missing: %v, want redis.Nil", err)
	}
}
