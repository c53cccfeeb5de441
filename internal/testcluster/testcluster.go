// Package testcluster runs real statehouse processes on loopback for
// multi-node tests: start a cluster, find its leader, kill -9, pause and
// restart nodes. Tests use it as a user would use statehouse: over RESP.
package testcluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	mainRunning bool // Main runs the package's tests
	buildOnce   sync.Once
	binDir      string
	binPath     string
	buildErr    error
)

// Main runs a package's tests and then removes what Binary built. Every
// package that starts statehouse processes calls it from TestMain:
//
//	func TestMain(m *testing.M) { testcluster.Main(m) }
func Main(m *testing.M) {
	mainRunning = true
	code := m.Run()
	if binDir != "" {
		if err := os.RemoveAll(binDir); err != nil {
			fmt.Fprintln(os.Stderr, "testcluster:", err)
		}
	}
	os.Exit(code)
}

// Binary builds cmd/statehouse once per test binary and returns its path.
// The package's TestMain must call Main, which removes the build.
func Binary(t testing.TB) string {
	t.Helper()
	if !mainRunning {
		t.Fatal("testcluster: call testcluster.Main(m) from TestMain so the statehouse binary is removed after the tests")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "statehouse-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "statehouse")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/statehouse/statehouse/cmd/statehouse")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Options shape a cluster.
type Options struct {
	Args []string // extra flags for every node
}

// Cluster is N statehouse processes formed with --initial-cluster.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// Node is one statehouse process and its data dir.
type Node struct {
	t        testing.TB
	ID       string
	Port     int
	PeerPort int
	DataDir  string
	args     []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	log    *syncBuffer
	client *redis.Client
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs n nodes and waits until one of them leads.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	bin := Binary(t)
	c := &Cluster{t: t}
	var initial []string
	for i := 0; i < n; i++ {
		nd := &Node{t: t, ID: fmt.Sprintf("n%d", i+1), Port: FreePort(t), PeerPort: FreePort(t), DataDir: t.TempDir(), log: &syncBuffer{}}
		initial = append(initial, fmt.Sprintf("%s=127.0.0.1:%d", nd.ID, nd.PeerPort))
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		nd.args = append([]string{bin,
			"--node-id", nd.ID, "--bind", "127.0.0.1",
			"--port", strconv.Itoa(nd.Port), "--peer-port", strconv.Itoa(nd.PeerPort),
			"--data-dir", nd.DataDir, "--initial-cluster", strings.Join(initial, ","),
			"--heartbeat-timeout", "300ms", "--election-timeout", "300ms",
		}, opts.Args...)
		nd.Start()
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.cleanup()
		}
		if t.Failed() {
			for _, nd := range c.Nodes {
				t.Logf("--- log of %s ---\n%s", nd.ID, nd.Log())
			}
		}
	})
	c.Leader(30 * time.Second)
	return c
}

// Start (re)starts the node's process on its data dir.
func (n *Node) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.t.Fatalf("%s already running", n.ID)
	}
	cmd := exec.Command(n.args[0], n.args[1:]...)
	cmd.Stdout = n.log
	cmd.Stderr = n.log
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start %s: %v", n.ID, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	n.cmd, n.done = cmd, done
}

// Running reports whether the process is up (it may be paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd := n.cmd
	n.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(sig)
	}
}

// Kill is kill -9: no snapshot, no clean close.
func (n *Node) Kill() { n.stopWith(syscall.SIGKILL) }

// Term is a clean shutdown (SIGTERM).
func (n *Node) Term() { n.stopWith(syscall.SIGTERM) }

func (n *Node) stopWith(sig syscall.Signal) {
	n.t.Helper()
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		n.t.Errorf("%s did not stop on %v", n.ID, sig)
	}
	n.mu.Lock()
	n.cmd = nil
	n.mu.Unlock()
}

// Pause freezes the process (SIGSTOP): to its peers it is partitioned away.
func (n *Node) Pause() { n.signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (n *Node) Resume() { n.signal(syscall.SIGCONT) }

func (n *Node) cleanup() {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	cl := n.client
	n.client = nil
	n.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-done
	}
}

// Log returns what the process printed.
func (n *Node) Log() string { return n.log.String() }

// Addr is the node's client address.
func (n *Node) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// Client returns a go-redis client for the node (shared, closed at cleanup).
func (n *Node) Client() *redis.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		n.client = n.NewClient()
	}
	return n.client
}

// NewClient returns a fresh go-redis client that does not retry, so every
// error reaches the test. The caller closes it.
func (n *Node) NewClient() *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: n.Addr(), MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 5 * time.Second,
	})
}

// Role asks the node for INFO replication's role ("master" or "slave"),
// "" if it does not answer.
func (n *Node) Role(ctx context.Context) string {
	c := n.NewClient()
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "role:"); ok {
			return v
		}
	}
	return ""
}

// Leader waits until exactly one running node reports itself master and
// takes a write, and returns it.
func (c *Cluster) Leader(timeout time.Duration) *Node {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var leaders []*Node
		for _, n := range c.Nodes {
			if n.Running() && n.Role(ctx) == "master" {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			cl := leaders[0].NewClient()
			err := cl.Set(ctx, "testcluster:probe", "1", 0).Err()
			cl.Close()
			if err == nil {
				cancel()
				return leaders[0]
			}
		}
		cancel()
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v", timeout)
	return nil
}

// Followers are the running nodes other than leader.
func (c *Cluster) Followers(leader *Node) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n != leader && n.Running() {
			out = append(out, n)
		}
	}
	return out
}
