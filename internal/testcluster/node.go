package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// Node is one statehouse process and its data dir. Its ports and data dir
// stay the same across Kill/Term and Start.
type Node struct {
	t        testing.TB
	ID       string
	Port     int
	PeerPort int
	// GossipPort is the node's gossip port (Options.Gossip), else 0.
	GossipPort int
	TLSPort    int // the node's TLS client port (Options.TLS), else 0
	DataDir    string
	args       []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exit   *exitState
	log    *syncBuffer
	client *redis.Client
}

// exitState is how one run of the process ended.
type exitState struct {
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's error, set before done closes
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

func newNode(t testing.TB, id string, opts Options) *Node {
	dir := filepath.Join(opts.DataRoot, id)
	if opts.DataRoot == "" {
		dir = t.TempDir()
	}
	n := &Node{t: t, ID: id, Port: FreePort(t), PeerPort: FreePort(t), DataDir: dir, log: &syncBuffer{}}
	if opts.Gossip {
		n.GossipPort = FreePort(t)
	}
	if opts.TLS {
		n.TLSPort = FreePort(t)
	}
	return n
}

// Start (re)starts the node's process on its data dir and returns at once;
// WaitWritable waits until it takes writes.
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
	exit := &exitState{done: make(chan struct{})}
	go func() { exit.err = cmd.Wait(); close(exit.done) }()
	n.cmd, n.exit = cmd, exit
}

// Pid is the running process's id (0 when it is not running).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Running reports whether the process is up (it may be paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// exited reports whether the process ended without being stopped.
func (n *Node) exited() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.exit == nil || n.cmd == nil {
		return nil
	}
	select {
	case <-n.exit.done:
		return fmt.Errorf("%s exited: %v", n.ID, n.exit.err)
	default:
		return nil
	}
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
func (n *Node) Kill() {
	n.t.Helper()
	n.stopWith(syscall.SIGKILL)
}

// Term is a clean shutdown (SIGTERM); the process must exit with status 0.
func (n *Node) Term() {
	n.t.Helper()
	n.stopWith(syscall.SIGTERM)
}

func (n *Node) stopWith(sig syscall.Signal) {
	n.t.Helper()
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	n.closeClient()                     // its connections die with the process
	cmd.Process.Signal(syscall.SIGCONT) // a paused process cannot handle SIGTERM
	cmd.Process.Signal(sig)
	select {
	case <-exit.done:
		if sig == syscall.SIGTERM && exit.err != nil {
			n.t.Errorf("%s after SIGTERM: %v", n.ID, exit.err)
		}
	case <-time.After(StopTimeout):
		cmd.Process.Kill()
		<-exit.done
		n.t.Errorf("%s did not stop on %v within %v", n.ID, sig, StopTimeout)
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
	n.closeClient()
	n.mu.Lock()
	cmd, exit := n.cmd, n.exit
	n.cmd = nil
	n.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		<-exit.done
	}
}

func (n *Node) closeClient() {
	n.mu.Lock()
	cl := n.client
	n.client = nil
	n.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}

// Log returns what the process printed, over all its runs.
func (n *Node) Log() string { return n.log.String() }

// Addr is the node's client address.
func (n *Node) Addr() string { return "127.0.0.1:" + strconv.Itoa(n.Port) }

// TLSAddr is the node's TLS client address (Options.TLS).
func (n *Node) TLSAddr() string { return "127.0.0.1:" + strconv.Itoa(n.TLSPort) }

// Client returns a go-redis client for the node's database 0, shared by
// the test and closed when the node stops and at cleanup.
func (n *Node) Client() *redis.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.client == nil {
		n.client = n.NewClient()
	}
	return n.client
}

// NewClient returns a fresh go-redis client for database 0 that does not
// retry, so every error reaches the test. The caller closes it.
func (n *Node) NewClient() *redis.Client { return n.newClient(0) }

func (n *Node) newClient(db int) *redis.Client {
	o := ClientOptions(n.Addr())
	o.DB = db
	return redis.NewClient(o)
}

// ClientOptions are the go-redis options of a test's client of addr (a
// statehouse node or a redis-server): it never retries, so every error
// reaches the test, and waits DialTimeout for a connection and
// RequestTimeout for a reply or a pooled connection. A test may change
// them before redis.NewClient.
func ClientOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr: addr, MaxRetries: -1,
		DialTimeout: DialTimeout, ReadTimeout: RequestTimeout, WriteTimeout: RequestTimeout, PoolTimeout: RequestTimeout,
	}
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
	return infoField(info, "role")
}

// infoField is the value of name in an INFO reply, "" if it has none.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}

// probe writes ProbeKey in ProbeDB: nil once the node takes writes. A
// follower started with --follower-writes refuse takes none: it is ready
// once it sends writes to a leader (MOVED) and serves a linearizable read.
func (n *Node) probe(ctx context.Context) error {
	c := n.newClient(ProbeDB)
	defer c.Close()
	err := c.Set(ctx, ProbeKey, n.ID, 0).Err()
	if err != nil && strings.HasPrefix(err.Error(), "MOVED ") {
		if err := c.Get(ctx, ProbeKey).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	}
	return err
}

// WaitWritable waits until the node, (re)started, has replayed its log and
// takes a write (on a follower: forwards it to a leader and applies it), for
// up to StartTimeout. It fails at once if the process exits.
func (n *Node) WaitWritable() {
	n.t.Helper()
	err := Poll(StartTimeout, func() error {
		if err := n.exited(); err != nil {
			return Stop(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		defer cancel()
		return n.probe(ctx)
	})
	if err != nil {
		n.t.Fatalf("%s does not take writes: %v", n.ID, err)
	}
}

// KeyCount is the number of keys stored in database db as INFO keyspace
// reports it: reclaimed keys are gone, expired ones not yet reclaimed count.
func (n *Node) KeyCount(ctx context.Context, db int) (int, error) {
	info, err := n.Client().Info(ctx, "keyspace").Result()
	if err != nil {
		return 0, err
	}
	prefix := "db" + strconv.Itoa(db) + ":keys="
	for _, line := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, _, _ := strings.Cut(rest, ",")
			k, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("INFO keyspace line %q: %w", line, err)
			}
			return k, nil
		}
	}
	if !strings.Contains(info, "# Keyspace") {
		return 0, errors.New("INFO keyspace has no Keyspace section")
	}
	return 0, nil // Redis leaves empty databases out
}
