package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// Errors a caller can act on. The server maps them to Redis errors.
var (
	ErrNoLeader       = errors.New("no leader")                   // -CLUSTERDOWN
	ErrNotApplied     = errors.New("write was not applied")       // -TRYAGAIN: safe to retry
	ErrUnknownOutcome = errors.New("write outcome unknown")       // may or may not have applied
	ErrLoading        = errors.New("node is loading its dataset") // -LOADING
	ErrShutdown       = errors.New("node is shutting down")
	ErrReadOnly       = errors.New("follower refuses writes") // -READONLY
)

// Config configures a node.
type Config struct {
	NodeID    string
	DataDir   string
	PeerAddr  string // host:port the Raft transport listens on
	Advertise string // host:port peers reach this node at; default PeerAddr
	NoSync    bool   // skip fsync of the Raft log (benchmarks only: loses writes on power loss)

	// InitialCluster lists the first members (id -> peer address). Every
	// first member gets the same list; a node with Raft state ignores it.
	// Empty: a fresh node bootstraps a group of one.
	InitialCluster map[string]string
	// Secret authenticates peers on the peer port (empty: no check).
	Secret string
	// ClientAddr is the RESP address of this node, told to peers (ROLE).
	ClientAddr string
	// RefuseFollowerWrites makes a follower answer writes with ErrReadOnly
	// instead of forwarding them to the leader.
	RefuseFollowerWrites bool

	SnapshotThreshold uint64        // log entries between snapshots (default 16384)
	SnapshotInterval  time.Duration // how often to check the threshold (default 30s)
	TrailingLogs      uint64        // entries kept after a snapshot (default 10240)

	// Raft timing; zero keeps hashicorp/raft's defaults (1s). Tests use less.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// CommitTimeout is how long an idle leader waits before telling
	// followers the commit index (default 5ms; hashicorp/raft's 50ms made a
	// read on a follower right after a write wait up to 50ms for it).
	CommitTimeout time.Duration

	// MaxBatch and MaxBatchBytes bound one log entry; MaxInflight is how many
	// entries the proposer keeps in flight while it gathers the next.
	MaxBatch      int
	MaxBatchBytes int
	MaxInflight   int

	Clock  func() int64 // unix ms; default time.Now
	Logger *slog.Logger

	// Debug faults, off in production: they exist so the fault-injection
	// harness can show that its checker catches what they break.
	DebugUnsafeReads     bool // serve reads from the local fsm without the read index
	DebugAckBeforeCommit bool // answer writes with +OK before they are committed
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
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 5 * time.Millisecond
	}
	if c.MaxInflight == 0 {
		// One entry in flight gathers every write that arrives meanwhile
		// into the next: fewer, larger entries, so fewer fsyncs per write.
		// Measured with 3 nodes sharing one disk, 50 clients: 1 in flight
		// took 25% more SETs/s than 2 (8.8-9.0k against 6.7-7.5k).
		c.MaxInflight = 1
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// logCacheSize is how many of the newest log entries are kept in memory for
// replication: enough for the entries in flight to followers. Entries are
// group-committed batches (usually a few KiB, at most MaxBatchBytes), so it
// is kept small; a follower further behind reads from disk.
const logCacheSize = 64

// Node is one member of the Raft group.
type Node struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	raft    *raft.Raft
	store   logStore
	adapter *adapter
	trans   *raft.NetworkTransport
	mux     *mux
	applied *indexWaiter

	peersMu sync.Mutex
	peers   map[string]*peerClient // by peer address

	leaderMu      sync.Mutex
	leaderChanged chan struct{} // closed and replaced whenever the leader changes

	proposals chan *proposal
	reads     chan chan readIndexResult
	ready     atomic.Bool // leader has applied its own entry of this term
	readyTerm atomic.Uint64

	nudgeWant atomic.Uint64 // highest index followers should learn is committed
	nudgeCh   chan struct{}

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
	index uint64
	err   error
}

type readIndexResult struct {
	index uint64
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
		cfg:           cfg,
		log:           cfg.Logger.With("node", cfg.NodeID),
		fsm:           f,
		applied:       newIndexWaiter(),
		proposals:     make(chan *proposal, 4096),
		reads:         make(chan chan readIndexResult, 4096),
		peers:         map[string]*peerClient{},
		leaderChanged: make(chan struct{}),
		nudgeCh:       make(chan struct{}, 1),
		stop:          make(chan struct{}),
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	store, kind, err := openLogStore(cfg.DataDir, cfg.NoSync, hlog)
	if err != nil {
		return nil, err
	}
	n.store = store
	n.log.Info("raft log open", "store", kind, "dir", cfg.DataDir)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.PeerAddr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("peer port: %w", err)
	}
	adv, err := advertiseAddr(cfg.Advertise, ln.Addr())
	if err != nil {
		ln.Close()
		store.Close()
		return nil, err
	}
	n.mux = newMux(ln, cfg.Secret, n.log)
	layer := &raftLayer{m: n.mux, conns: n.mux.listen(protoRaft), addr: adv}
	service := n.mux.listen(protoService)
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hlog,
	})
	n.trans = trans

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.BatchApplyCh = true
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.CommitTimeout = cfg.CommitTimeout
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
	if !existing {
		// Written to the stores before Raft starts, so a peer that already
		// replicates to this node cannot make the bootstrap fail.
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}
		if len(cfg.InitialCluster) > 0 {
			if _, ok := cfg.InitialCluster[cfg.NodeID]; !ok {
				n.closeStores()
				return nil, fmt.Errorf("initial cluster does not list this node (%s)", cfg.NodeID)
			}
			boot.Servers = nil
			for _, id := range sortedKeys(cfg.InitialCluster) {
				boot.Servers = append(boot.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(cfg.InitialCluster[id])})
			}
		}
		if err := raft.BootstrapCluster(rc, store, store, snaps, trans, boot); err != nil {
			n.closeStores()
			return nil, fmt.Errorf("bootstrap: %w", err)
		}
		n.log.Info("bootstrapped a new cluster", "peer", trans.LocalAddr(), "members", len(boot.Servers))
	} else {
		n.log.Info("restarting from data dir", "dir", cfg.DataDir)
	}
	// Replication reads each entry back from the log store to send it; a
	// cache of the newest entries saves decoding them from disk again.
	logs, err := raft.NewLogCache(logCacheSize, store)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("log cache: %w", err)
	}
	n.adapter = &adapter{f: f, applied: n.applied}
	r, err := raft.NewRaft(rc, n.adapter, logs, store, snaps, trans)
	if err != nil {
		n.closeStores()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.raft = r
	n.watchLeader()
	// Only now take peer connections: the cluster service needs Raft.
	// Peers that dial earlier wait in the listen backlog.
	go n.mux.serve()
	go func() {
		for {
			select {
			case c := <-service:
				go n.serveService(c)
			case <-n.mux.closed:
				return
			}
		}
	}()
	n.wg.Add(4)
	go n.runProposer()
	go n.runReads()
	go n.runLeadership()
	go n.runNudger()
	return n, nil
}

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.mux != nil {
		n.mux.close()
	}
	n.peersMu.Lock()
	for _, c := range n.peers {
		c.close()
	}
	n.peersMu.Unlock()
	n.store.Close()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// FSM returns the node's keyspace.
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// Now is the node's clock in unix ms.
func (n *Node) Now() int64 { return n.cfg.Clock() }

// PeerAddr is the address the Raft transport listens on.
func (n *Node) PeerAddr() string { return string(n.trans.LocalAddr()) }

// Propose sends one request through the log and returns its reply once the
// local fsm has applied it. On a follower the request is forwarded to the
// leader, and the reply waits until this node has applied the entry too,
// so a client reads its own writes on the node it talks to.
//
// The returned index is the log entry that carried the request (WAIT).
func (n *Node) Propose(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
	if n.cfg.DebugAckBeforeCommit {
		return n.ackBeforeCommit(req)
	}
	// A write that certainly did not apply (leadership moved, the leader
	// was unreachable) is retried for about an election, so clients see
	// fewer TRYAGAINs during failover.
	deadline := time.Now().Add(n.leaderWait())
	for {
		reply, index, err := n.proposeOnce(ctx, req)
		if !errors.Is(err, ErrNotApplied) || time.Now().After(deadline) || ctx.Err() != nil {
			return reply, index, err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-n.stop:
			return nil, 0, err
		case <-ctx.Done():
			return nil, 0, err
		}
	}
}

func (n *Node) proposeOnce(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
	for {
		if n.raft.State() == raft.Leader {
			return n.proposeLocal(ctx, req)
		}
		leader, err := n.waitLeader(ctx)
		if err != nil {
			return nil, 0, err
		}
		if leader == n.self() {
			continue // just elected: propose locally
		}
		return n.forward(ctx, leader, req)
	}
}

// watchLeader turns Raft's leader observations into leaderChanged, so
// calls to a leader that has gone (paused, partitioned) are abandoned as
// soon as this node learns of it, not when they time out.
func (n *Node) watchLeader() {
	obs := make(chan raft.Observation, 16)
	n.raft.RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	go func() {
		for {
			select {
			case <-obs:
				n.leaderMu.Lock()
				close(n.leaderChanged)
				n.leaderChanged = make(chan struct{})
				n.leaderMu.Unlock()
			case <-n.stop:
				return
			}
		}
	}()
}

// untilLeaderChanges returns a context that ends with parent or as soon
// as the leader changes.
func (n *Node) untilLeaderChanges(parent context.Context) (context.Context, context.CancelFunc) {
	n.leaderMu.Lock()
	changed := n.leaderChanged
	n.leaderMu.Unlock()
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-changed:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// self is this node's peer address as the Raft configuration knows it.
func (n *Node) self() string { return string(n.trans.LocalAddr()) }

// advertiseAddr is the address peers are told: kept as written (a host
// name stays a name, as in --initial-cluster), with the listener's port
// when none was given and loopback for an unspecified host.
func advertiseAddr(advertise string, listener net.Addr) (net.Addr, error) {
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("advertise address %q: %w", advertise, err)
	}
	if port == "0" || port == "" {
		_, port, _ = net.SplitHostPort(listener.String())
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Listening on every interface with nothing to advertise: a lone
		// node is reached on loopback. Clustered nodes get --advertise or
		// their --initial-cluster entry.
		host = "127.0.0.1"
	}
	return peerAddr(net.JoinHostPort(host, port)), nil
}

type peerAddr string

func (a peerAddr) Network() string { return "tcp" }
func (a peerAddr) String() string  { return string(a) }

// ackBeforeCommit is the DebugAckBeforeCommit fault: the write is sent on
// its way and acknowledged at once, as a store with asynchronous
// replication would.
func (n *Node) ackBeforeCommit(req fsm.Request) ([]byte, uint64, error) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for attempt := 0; attempt < 3; attempt++ {
			var err error
			if n.raft.State() == raft.Leader {
				_, _, err = n.proposeLocal(ctx, req)
			} else if leader, lerr := n.waitLeader(ctx); lerr == nil && leader != n.self() {
				_, _, err = n.forward(ctx, leader, req)
			}
			if err == nil {
				return
			}
		}
	}()
	var out []byte
	if req.Atomic {
		out = resp.AppendArray(out, len(req.Ops))
	}
	for range req.Ops {
		out = append(out, "+OK\r\n"...)
	}
	return out, 0, nil
}

// waitLeader returns the leader's peer address, waiting a little through
// an election rather than failing at once.
func (n *Node) waitLeader(ctx context.Context) (string, error) {
	deadline := time.Now().Add(n.leaderWait())
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return string(addr), nil
		}
		if time.Now().After(deadline) {
			return "", ErrNoLeader
		}
		select {
		case <-ctx.Done():
			return "", ErrNoLeader
		case <-n.stop:
			return "", ErrShutdown
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (n *Node) leaderWait() time.Duration {
	if n.cfg.ElectionTimeout > 0 {
		return 2 * n.cfg.ElectionTimeout
	}
	return 2 * time.Second
}

func (n *Node) peer(addr string) *peerClient {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	c := n.peers[addr]
	if c == nil {
		c = &peerClient{addr: addr, token: n.mux.token}
		n.peers[addr] = c
	}
	return c
}

func encodeRequest(req fsm.Request) []byte {
	e := fsm.Entry{Reqs: []fsm.Request{req}}
	return e.Encode(nil)
}

func decodeRequest(b []byte) (fsm.Request, error) {
	e, err := fsm.DecodeEntry(b)
	if err != nil {
		return fsm.Request{}, err
	}
	if len(e.Reqs) != 1 {
		return fsm.Request{}, fmt.Errorf("forwarded entry has %d requests", len(e.Reqs))
	}
	return e.Reqs[0], nil
}

// forward sends a write to the leader and waits for this node to apply it.
func (n *Node) forward(ctx context.Context, leader string, req fsm.Request) ([]byte, uint64, error) {
	if n.cfg.RefuseFollowerWrites {
		return nil, 0, ErrReadOnly
	}
	// A forward to a leader that goes away ends at once: before it was
	// sent it is retried, after it the outcome is unknown.
	cctx, cancel := n.untilLeaderChanges(ctx)
	defer cancel()
	resp, err := n.peer(leader).call(cctx, msgForward, encodeRequest(req))
	if err != nil {
		var ce *callError
		if errors.As(err, &ce) && !ce.sent {
			return nil, 0, fmt.Errorf("%w: leader %s unreachable: %v", ErrNotApplied, leader, ce.err)
		}
		return nil, 0, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
	}
	if len(resp) < 9 {
		return nil, 0, fmt.Errorf("%w: short reply from leader", ErrUnknownOutcome)
	}
	if err := errOf(resp[0]); err != nil {
		return nil, 0, err
	}
	index := binary.BigEndian.Uint64(resp[1:9])
	if err := n.applied.wait(ctx, index); err != nil {
		// Committed by the leader but not yet applied here: the write
		// happened, yet this node cannot show it, so the outcome is unknown
		// to this client.
		return nil, 0, fmt.Errorf("%w: applied by the leader at index %d, not yet on this node", ErrUnknownOutcome, index)
	}
	return resp[9:], index, nil
}

// proposeLocal runs a request through this node's proposer (the leader's).
func (n *Node) proposeLocal(ctx context.Context, req fsm.Request) ([]byte, uint64, error) {
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
		return nil, 0, ErrShutdown
	case <-ctx.Done():
		return nil, 0, ErrNotApplied
	}
	select {
	case r := <-p.done:
		return r.reply, r.index, r.err
	case <-n.stop:
		return nil, 0, ErrUnknownOutcome
	case <-ctx.Done():
		return nil, 0, ErrUnknownOutcome
	}
}

// nudge asks, on the leader, that followers learn soon that index is
// committed. A follower learns the commit index only from the leader's next
// AppendEntries, which hashicorp/raft sends when a new entry is appended or
// after CommitTimeout (5–10 ms) when idle; a follower that forwarded a write
// waits for that before it answers. An empty request proposed after index
// committed rides in the next entry, whose AppendEntries carries the
// commit index: alone it costs one small entry, among other writes nothing.
func (n *Node) nudge(index uint64) {
	for {
		old := n.nudgeWant.Load()
		if index <= old || n.nudgeWant.CompareAndSwap(old, index) {
			break
		}
	}
	select {
	case n.nudgeCh <- struct{}{}:
	default:
	}
}

// runNudger keeps at most one nudge in flight; nudges asked for meanwhile
// are covered by the next one.
func (n *Node) runNudger() {
	defer n.wg.Done()
	var covered uint64
	for {
		select {
		case <-n.nudgeCh:
		case <-n.stop:
			return
		}
		want := n.nudgeWant.Load()
		if want <= covered || n.raft.State() != raft.Leader {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, _, err := n.proposeLocal(ctx, fsm.Request{}); err == nil {
			covered = want
		}
		cancel()
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
	index := fut.Index()
	for i, p := range batch {
		p.done <- result{reply: replies[i], index: index}
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
// read index protocol. The node gets the leader's commit index (the leader
// confirms it still leads), then waits until its own fsm has applied it.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if n.cfg.DebugUnsafeReads {
		return nil
	}
	index, err := n.readIndex(ctx)
	if err != nil {
		return err
	}
	if err := n.applied.wait(ctx, index); err != nil {
		return fmt.Errorf("%w: waiting to apply index %d", ErrLoading, index)
	}
	return nil
}

// readIndex returns an index that covers every write acknowledged before
// the call. Concurrent callers share one round.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	select {
	case n.reads <- ch:
	case <-n.stop:
		return 0, ErrShutdown
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// runReads serves read-index requests in rounds: every request waiting
// when a round starts shares its result.
func (n *Node) runReads() {
	defer n.wg.Done()
	for {
		var waiting []chan readIndexResult
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
		index, err := n.readIndexRound()
		for _, ch := range waiting {
			ch <- readIndexResult{index, err}
		}
	}
}

func (n *Node) readIndexRound() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Through an election or a new leader's first moments, retry for about
	// an election before answering with an error.
	deadline := time.Now().Add(n.leaderWait())
	for {
		index, err := n.readIndexOnce(ctx)
		if err == nil || errors.Is(err, ErrShutdown) || time.Now().After(deadline) {
			return index, err
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-n.stop:
			return 0, ErrShutdown
		case <-ctx.Done():
			return 0, err
		}
	}
}

func (n *Node) readIndexOnce(ctx context.Context) (uint64, error) {
	if n.raft.State() == raft.Leader {
		return n.leaderReadIndex()
	}
	leader, err := n.waitLeader(ctx)
	if err != nil {
		return 0, err
	}
	if leader == n.self() {
		return n.leaderReadIndex()
	}
	wctx, wcancel := n.untilLeaderChanges(ctx)
	defer wcancel()
	cctx, cancel := context.WithTimeout(wctx, 2*time.Second)
	defer cancel()
	resp, err := n.peer(leader).call(cctx, msgReadIndex, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: read index from %s: %v", ErrNoLeader, leader, err)
	}
	if len(resp) < 9 {
		return 0, fmt.Errorf("%w: short read index reply", ErrNoLeader)
	}
	if err := errOf(resp[0]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(resp[1:9]), nil
}

// leaderReadIndex is the leader's half: its commit index, once a round of
// heartbeats confirms no other leader can have committed past it.
func (n *Node) leaderReadIndex() (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNoLeader
	}
	if !n.ready.Load() {
		return 0, ErrLoading
	}
	ri := n.dataIndex(n.raft.CommitIndex())
	if err := n.raft.VerifyLeader().Error(); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
	}
	return ri, nil
}

// dataIndex lowers a commit index past the empty entries at its end
// (leader barriers, commit nudges): a read at the lower index sees the same
// keyspace, and a follower that has not yet heard of the empty entries need
// not wait for them. Without that, every nudge that tells followers about
// a commit would be one more commit for them to hear of. The lowering is
// only sound once this node has applied the commit index: until then an
// unapplied entry may hold data (which a follower may already serve).
func (n *Node) dataIndex(commit uint64) uint64 {
	if n.applied.index() < commit {
		return commit
	}
	return min(commit, n.adapter.lastData.Load())
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
	if _, _, err := n.proposeLocal(ctx, fsm.Request{}); err != nil {
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
		_, _, err := n.proposeLocal(ctx, fsm.Request{Ops: ops})
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
