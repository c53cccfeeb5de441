package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// testNode is a real single statehouse node: fsm, Raft on disk, and the
// RESP listener on a loopback port.
type testNode struct {
	t    testing.TB
	srv  *Server
	node *cluster.Node
	fsm  *fsm.FSM
	addr string
}

// nodeConfig is what a test may change about its node.
type nodeConfig struct {
	srv Config
	cl  cluster.Config
}

type nodeOption func(*nodeConfig)

func withPassword(p string) nodeOption { return func(c *nodeConfig) { c.srv.RequirePass = p } }
func withLimits(l Limits) nodeOption   { return func(c *nodeConfig) { c.srv.Limits = l } }
func withAuthTimeout(d time.Duration) nodeOption {
	return func(c *nodeConfig) { c.srv.AuthTimeout = d }
}

// withNoSync skips fsync of the Raft log, for tests that write a lot
// (fuzzing) and never restart the node.
func withNoSync() nodeOption { return func(c *nodeConfig) { c.cl.NoSync = true } }

// startNode starts a node in a fresh temp dir and waits until it takes
// writes. It is stopped when the test ends.
func startNode(t testing.TB, opts ...nodeOption) *testNode {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := fsm.New()
	cfg := nodeConfig{
		srv: Config{Addr: "127.0.0.1:0", Logger: log},
		cl: cluster.Config{
			NodeID:   "n1",
			DataDir:  t.TempDir(),
			PeerAddr: "127.0.0.1:0",
			Logger:   log,
			// A group of one elects itself after one heartbeat timeout.
			HeartbeatTimeout: 100 * time.Millisecond,
			ElectionTimeout:  100 * time.Millisecond,
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	node, err := cluster.Open(cfg.cl, f)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	srv := New(cfg.srv, f, node)
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
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.StartTimeout)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatalf("node not ready within %v: %v", testcluster.StartTimeout, err)
	}
	return tn
}

// client returns a go-redis client for the node, closed at test end, with
// testcluster.ClientOptions: it never retries, and waits for a reply up to
// testcluster.RequestTimeout (go-redis's own defaults, a few seconds, fail
// a command on a loaded machine).
func (n *testNode) client(opts ...func(*redis.Options)) *redis.Client {
	o := testcluster.ClientOptions(n.addr)
	for _, f := range opts {
		f(o)
	}
	c := redis.NewClient(o)
	n.t.Cleanup(func() { c.Close() })
	return c
}

// rawClient speaks RESP over a plain net.Conn, to see replies byte for
// byte and to send what no client library would.
type rawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// raw dials the node; the connection is closed at test end.
func (n *testNode) raw() *rawClient {
	n.t.Helper()
	return n.rawFor(n.t)
}

// rawFor dials the node for t (a subtest of the node's test): failures are
// t's, and the connection is closed when t ends.
func (n *testNode) rawFor(t testing.TB) *rawClient {
	t.Helper()
	return dialRaw(t, n.addr)
}

// dialRaw connects a raw RESP client to addr (a node or a redis-server)
// for t; the connection is closed when t ends.
func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testcluster.DialTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

// forTest returns the same connection reporting to t, for a subtest that
// goes on with a connection its parent opened.
func (rc *rawClient) forTest(t testing.TB) *rawClient {
	c := *rc
	c.t = t
	return &c
}

// encode writes args as one RESP command.
func encode(args ...string) []byte {
	var b []byte
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// hangGuard bounds every read and write on a raw connection, so a bug
// fails the test instead of hanging it. No test asserts on time. Other
// waits use testcluster's named timeouts.
const hangGuard = 30 * time.Second

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(hangGuard))
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawClient) send(args ...string) { rc.t.Helper(); rc.write(encode(args...)) }

// read returns the next reply, whole and raw ("+OK\r\n").
func (rc *rawClient) read() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(hangGuard))
	v, err := readValue(rc.r)
	if err != nil {
		rc.t.Fatalf("read reply: %v (got %q)", err, v)
	}
	return v
}

// do sends one command and returns its raw reply.
func (rc *rawClient) do(args ...string) string {
	rc.t.Helper()
	rc.send(args...)
	return rc.read()
}

// expect sends a command and fails unless the raw reply is want.
func (rc *rawClient) expect(want string, args ...string) {
	rc.t.Helper()
	if got := rc.do(args...); got != want {
		rc.t.Fatalf("%q: got %q, want %q", args, got, want)
	}
}

// expectClosed fails unless the node has closed the connection: the next
// read finds end of stream (or a reset) with no further bytes.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(hangGuard))
	b, err := rc.r.ReadByte()
	if err == nil {
		rest, _ := rc.r.Peek(rc.r.Buffered())
		rc.t.Fatalf("connection still open: read %q", append([]byte{b}, rest...))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatalf("connection still open after %v", hangGuard)
	}
}

// readValue reads one RESP2 value and returns its raw bytes.
func readValue(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return line, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return line, fmt.Errorf("bad reply line %q", line)
	}
	switch line[0] {
	case '+', '-', ':':
		return line, nil
	case '$':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil {
			return line, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return line, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return line, err
		}
		if string(buf[n:]) != "\r\n" {
			return line, fmt.Errorf("bulk not ended by CRLF")
		}
		return line + string(buf), nil
	case '*':
		n, err := strconv.Atoi(line[1 : len(line)-2])
		if err != nil {
			return line, fmt.Errorf("bad array length %q", line)
		}
		out := line
		for i := 0; i < n; i++ {
			v, err := readValue(r)
			out += v
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return line, fmt.Errorf("unknown reply type %q", line)
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
