package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/statehouse/statehouse/fsm"
	"go.etcd.io/bbolt"
)

// Errors a caller can act on. The server maps them to Redis errors.
var (
	ErrNoLeader       = errors.New("no leader")                   // -CLUSTERDOWN
	ErrNotApplied     = errors.New("write was not applied")       // -TRYAGAIN: safe to retry
	ErrUnknownOutcome = errors.New("write outcome unknown")       // may or may not have applied
	ErrLoading        = errors.New("node is loading its dataset") // -LOADING
	ErrShutdown       = errors.New("node is shutting down")
)

// Config configures a node.
type Config struct {
	NodeID    string
	DataDir   string
	PeerAddr  string // host:port the Raft transport listens on
	Advertise string // host:port peers reach this node at; default PeerAddr
	NoSync    bool   // skip fsync of the Raft log (benchmarks only: loses writes on power loss)

	SnapshotThreshold uint64        // log entries between snapshots (default 16384)
	SnapshotInterval  time.Duration // how often to check the threshold (default 30s)
	TrailingLogs      uint64        // entries kept after a snapshot (default 10240)

	// Raft timing; zero keeps hashicorp/raft's defaults (1s). Tests use less.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration

	// MaxBatch and MaxBatchBytes bound one log entry; MaxInflight is how many
	// entries the proposer keeps in flight while it gathers the next.
	MaxBatch      int
	MaxBatchBytes int
	MaxInflight   int

	Clock  func() int64 // unix ms; default time.Now
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Advertise == "" {
		c.Advertise = c.PeerAddr
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 16384
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 30 * time.Second
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 1024
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = 4 << 20
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 2
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Node is one member of the Raft group.
type Node struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	raft    *raft.Raft
	store   *raftboltdb.BoltStore
	trans   *raft.NetworkTransport
	applied *indexWaiter

	proposals chan *proposal
	reads     chan chan error
	ready     atomic.Bool // leader has applied its own entry of this term
	readyTerm atomic.Uint64

	stop     chan struct{}
	wg       sync.WaitGroup
	shutOnce sync.Once
}

type proposal struct {
	req  fsm.Request
	size int
	done chan result
}

type result struct {
	reply []byte
	err   error
}

// Open starts a node on its data dir. If the dir holds no Raft state, the
// node bootstraps a group of one: every write goes through the log even
// when alone.
func Open(cfg Config, f *fsm.FSM) (*Node, error) {
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	n := &Node{
		cfg:       cfg,
		log:       cfg.Logger.With("node", cfg.NodeID),
		fsm:       f,
		applied:   newIndexWaiter(),
		proposals: make(chan *proposal, 4096),
		reads:     make(chan chan error, 4096),
		stop:      make(chan struct{}),
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:   filepath.Join(cfg.DataDir, "raft.db"),
		NoSync: cfg.NoSync,
		// As Consul and Vault run bbolt: no freelist sync, map freelist.
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return nil, fmt.Errorf("open raft log: %w", err)
	}
	n.store = store
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	adv, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("advertise address: %w", err)
	}
	if adv.IP.IsUnspecified() {
		// Listening on every interface: a lone node is reached on loopback.
		// Nodes that form a cluster are given --advertise.
		adv.IP = net.IPv4(127, 0, 0, 1)
	}
	trans, err := raft.NewTCPTransportWithLogger(cfg.PeerAddr, adv, 3, 10*time.Second, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("peer port: %w", err)
	}
	n.trans = trans

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("read raft state: %w", err)
	}
	r, err := raft.NewRaft(rc, &adapter{f: f, applied: n.applied}, store, store, snaps, trans)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	if !existing {
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}
		if err := r.BootstrapCluster(boot).Error(); err != nil {
			n.Shutdown()
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new cluster", "peer", trans.LocalAddr())
	} else {
		n.log.Info("restarting from data dir", "dir", cfg.DataDir)
	}
	n.wg.Add(3)
	go n.runProposer()
	go n.runReads()
	go n.runLeadership()
	return n, nil
}

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	n.store.Close()
}

// FSM returns the node's keyspace.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Now is the node's clock in unix ms.
func (n *Node) Now() int64 { return n.cfg.Clock() }

// PeerAddr is the address the Raft transport listens on.
func (n *Node) PeerAddr() string { return string(n.trans.LocalAddr()) }

// Propose sends one request through the log and returns its reply once the
// local fsm has applied it.
func (n *Node) Propose(ctx context.Context, req fsm.Request) ([]byte, error) {
	size := 0
	for _, op := range req.Ops {
		for _, a := range op.Args {
			size += len(a) + 8
		}
	}
	p := &proposal{req: req, size: size, done: make(chan result, 1)}
	select {
	case n.proposals <- p:
	case <-n.stop:
		return nil, ErrShutdown
	case <-ctx.Done():
		return nil, ErrNotApplied
	}
	select {
	case r := <-p.done:
		return r.reply, r.err
	case <-n.stop:
		return nil, ErrUnknownOutcome
	case <-ctx.Done():
		return nil, ErrUnknownOutcome
	}
}

// runProposer is the group commit: while up to MaxInflight entries are in
// flight, writes from every connection gather into the next entry.
func (n *Node) runProposer() {
	defer n.wg.Done()
	inflight := make(chan struct{}, n.cfg.MaxInflight)
	var buf []byte
	for {
		select {
		case inflight <- struct{}{}:
		case <-n.stop:
			return
		}
		var first *proposal
		select {
		case first = <-n.proposals:
		case <-n.stop:
			return
		}
		batch := []*proposal{first}
		size := first.size
	gather:
		for len(batch) < n.cfg.MaxBatch && size < n.cfg.MaxBatchBytes {
			select {
			case p := <-n.proposals:
				batch = append(batch, p)
				size += p.size
			default:
				break gather
			}
		}
		if n.raft.State() != raft.Leader {
			err := ErrNoLeader
			if addr, _ := n.raft.LeaderWithID(); addr != "" {
				err = ErrNotApplied
			}
			for _, p := range batch {
				p.done <- result{err: err}
			}
			<-inflight
			continue
		}
		e := fsm.Entry{Now: n.cfg.Clock(), Reqs: make([]fsm.Request, len(batch))}
		for i, p := range batch {
			e.Reqs[i] = p.req
		}
		buf = e.Encode(buf[:0])
		data := make([]byte, len(buf))
		copy(data, buf)
		fut := n.raft.Apply(data, 10*time.Second)
		go func() {
			defer func() { <-inflight }()
			n.finish(fut, batch)
		}()
	}
}

func (n *Node) finish(fut raft.ApplyFuture, batch []*proposal) {
	if err := fut.Error(); err != nil {
		err = classify(err)
		for _, p := range batch {
			p.done <- result{err: err}
		}
		return
	}
	replies, _ := fut.Response().([][]byte)
	if len(replies) != len(batch) {
		for _, p := range batch {
			p.done <- result{err: ErrUnknownOutcome}
		}
		return
	}
	for i, p := range batch {
		p.done <- result{reply: replies[i]}
	}
}

// classify maps a raft error to whether the write may have applied.
func classify(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrNotApplied, err)
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrRaftShutdown),
		errors.Is(err, raft.ErrAbortedByRestore):
		return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	return fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
}

// ReadBarrier returns once a read of the local fsm is linearizable: the
// read index protocol. Concurrent callers share one leadership check.
func (n *Node) ReadBarrier(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case n.reads <- ch:
	case <-n.stop:
		return ErrShutdown
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runReads serves read-index requests in rounds: every request waiting
// when a round starts shares its commit index and leadership check.
func (n *Node) runReads() {
	defer n.wg.Done()
	for {
		var waiting []chan error
		select {
		case ch := <-n.reads:
			waiting = append(waiting, ch)
		case <-n.stop:
			return
		}
	drain:
		for {
			select {
			case ch := <-n.reads:
				waiting = append(waiting, ch)
			default:
				break drain
			}
		}
		err := n.readIndexRound()
		for _, ch := range waiting {
			ch <- err
		}
	}
}

func (n *Node) readIndexRound() error {
	if n.raft.State() != raft.Leader {
		if addr, _ := n.raft.LeaderWithID(); addr == "" {
			return ErrNoLeader
		}
		return ErrNotApplied // follower reads arrive with replication
	}
	if !n.ready.Load() {
		return ErrLoading
	}
	ri := n.raft.CommitIndex()
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return ErrNoLeader
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.applied.wait(ctx, ri); err != nil {
		return fmt.Errorf("%w: waiting for index %d", ErrLoading, ri)
	}
	return nil
}

// runLeadership reacts to leadership changes: a new leader first applies
// an entry of its own term (so every earlier entry is in its fsm and the
// fsm's applied index covers Raft's no-op), then serves reads and reaps
// expired keys.
func (n *Node) runLeadership() {
	defer n.wg.Done()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.raft.LeaderCh():
			n.ready.Store(false)
			if isLeader {
				n.becomeReady()
			}
		case <-tick.C:
			if n.raft.State() == raft.Leader {
				if !n.ready.Load() {
					n.becomeReady()
				}
				if n.ready.Load() {
					n.reap()
				}
			}
		}
	}
}

func (n *Node) becomeReady() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.Propose(ctx, fsm.Request{}); err != nil {
		n.log.Warn("leader barrier failed", "err", err)
		return
	}
	n.ready.Store(true)
	n.log.Info("leader ready", "index", n.fsm.Applied(), "term", n.raft.Stats()["term"])
}

// reap proposes conditional deletes for keys that have expired, so memory
// is reclaimed the same way on every replica.
func (n *Node) reap() {
	for round := 0; round < 10; round++ {
		ops := n.fsm.Expired(n.cfg.Clock(), 512)
		if len(ops) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.Propose(ctx, fsm.Request{Ops: ops})
		cancel()
		if err != nil {
			n.log.Warn("reaping expired keys failed", "err", err, "keys", len(ops))
			return
		}
		if len(ops) < 512 {
			return
		}
	}
}

// WaitReady blocks until this node is a leader ready to serve, or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for !n.ready.Load() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Status is what INFO and ROLE report.
type Status struct {
	NodeID      string
	State       string // Leader, Follower, Candidate, Shutdown
	Leader      string // peer address of the leader, "" if unknown
	LeaderID    string
	Term        string
	CommitIndex uint64
	Applied     uint64
	LastIndex   uint64
}

// Status returns the node's view of the group.
func (n *Node) Status() Status {
	addr, id := n.raft.LeaderWithID()
	return Status{
		NodeID:      n.cfg.NodeID,
		State:       n.raft.State().String(),
		Leader:      string(addr),
		LeaderID:    string(id),
		Term:        n.raft.Stats()["term"],
		CommitIndex: n.raft.CommitIndex(),
		Applied:     n.applied.index(),
		LastIndex:   n.raft.LastIndex(),
	}
}

// Snapshot asks Raft for a snapshot now (SAVE / BGSAVE, shutdown).
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil
	}
	return err
}

// Shutdown stops the node: pending writes fail with ErrShutdown, a final
// snapshot makes the next start quick, then Raft and the log close.
func (n *Node) Shutdown() error {
	var err error
	n.shutOnce.Do(func() {
		close(n.stop)
		n.wg.Wait()
		if n.raft.State() != raft.Shutdown {
			if serr := n.Snapshot(); serr != nil {
				n.log.Warn("snapshot at shutdown failed", "err", serr)
			}
			err = n.raft.Shutdown().Error()
		}
		n.closeStores()
		if err == nil {
			n.log.Info("node stopped")
		}
	})
	return err
}
