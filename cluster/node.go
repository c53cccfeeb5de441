package cluster

import (
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
	autopilot "github.com/hashicorp/raft-autopilot"
	wal "github.com/hashicorp/raft-wal"
	"github.com/statehouse/statehouse/fsm"
)

// Errors a caller can act on. The server maps them to Redis errors.
var (
	ErrNoLeader       = errors.New("no leader")                   // -CLUSTERDOWN
	ErrNotApplied     = errors.New("write was not applied")       // -TRYAGAIN: safe to retry
	ErrUnknownOutcome = errors.New("write outcome unknown")       // may or may not have applied
	ErrLoading        = errors.New("node is loading its dataset") // -LOADING
	ErrShutdown       = errors.New("node is shutting down")
	ErrReadOnly       = errors.New("follower refuses writes") // -READONLY
	// ErrRefused: the leader will not put the request in the log (it names
	// a command its build cannot replicate); certainly not applied, and
	// retrying does not help. The message says why (-ERR).
	ErrRefused = errors.New("refused")
	// ErrBehind: this node is too far behind the leader to serve a
	// linearizable read soon; read through the leader (ReadThroughLeader).
	ErrBehind = errors.New("node is catching up")
)

// Config configures a node.
type Config struct {
	// NodeID names this node to Raft. Its data dir keeps it from the first
	// start on (identity.go); empty means the one it keeps (NodeID).
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
	// PeerTLS, if set, puts the peer port under mutual TLS (peertls.go).
	PeerTLS *PeerTLS

	// Gossip (gossip.go, membership.go). GossipAddr is host:port memberlist
	// listens on; empty turns gossip, and with it joining, autopilot and
	// --bootstrap-expect, off. GossipAdvertise is where others reach it.
	GossipAddr      string
	GossipAdvertise string
	// Join lists gossip addresses of nodes to join (DNS names allowed).
	Join []string
	// BootstrapExpect: a node with no Raft state forms a new cluster once
	// gossip shows this many such nodes (0: it only joins one).
	BootstrapExpect int
	// GossipKeys encrypt gossip (16, 24 or 32 bytes each): every one
	// decrypts, the first encrypts. Empty: one derived from Secret, or
	// none without one.
	GossipKeys [][]byte
	// DeadServerGrace is how long a server may be failed or gone before
	// it is removed (default 10m); ServerStabilization how long a new one
	// must be healthy before it votes (default 10s).
	DeadServerGrace     time.Duration
	ServerStabilization time.Duration
	// GossipFast uses memberlist's loopback timings (tests).
	GossipFast bool
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
	// CommitDelay is the longest the leader holds a new entry open for
	// the writers the last one answered (groupWait), and never more than
	// the last entry's commit time; 0 means DefaultCommitDelay, negative
	// never waits.
	CommitDelay time.Duration

	// MinFreeDisk is the free space the data dir's file system must have
	// for this node to take writes as leader (disk.go); 0 means
	// DefaultMinFreeDisk, negative turns the check off.
	MinFreeDisk int64

	Clock func() int64 // unix ms; default time.Now
	// MaxClockSkew is how far this node's clock may be from the time a
	// quorum of members agree on before it uses theirs (clock.go).
	MaxClockSkew time.Duration
	Logger       *slog.Logger

	// LeaseReads lets the leader answer read indexes from its lease (a
	// quorum accepted it within the last 0.9 HeartbeatTimeout) instead of
	// a heartbeat round each (lease.go). Every member must run with the
	// same Raft timing.
	LeaseReads bool

	// Debug faults, off in production: they exist so the fault-injection
	// harness can show that its checker catches what they break.
	DebugUnsafeReads     bool          // serve reads from the local fsm without the read index
	DebugAckBeforeCommit bool          // answer writes with +OK before they are committed
	DebugLeaseLength     time.Duration // with LeaseReads, hold the lease this long instead (longer is unsafe)
}

func (c *Config) setDefaults() {
	if c.Advertise == "" {
		c.Advertise = c.PeerAddr
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 16384
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = defaultSnapshotInterval
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
		c.CommitTimeout = defaultCommitTimeout
	}
	if c.CommitDelay == 0 {
		c.CommitDelay = DefaultCommitDelay
	}
	if c.MaxInflight == 0 {
		// One entry in flight gathers every write that arrives meanwhile
		// into the next: fewer, larger entries, so fewer fsyncs per write.
		// Measured with 3 nodes sharing one disk, 50 clients: 1 in flight
		// took 25% more SETs/s than 2 (8.8-9.0k against 6.7-7.5k).
		c.MaxInflight = 1
	}
	if c.DeadServerGrace == 0 {
		c.DeadServerGrace = 10 * time.Minute
	}
	if c.ServerStabilization == 0 {
		c.ServerStabilization = 10 * time.Second
	}
	if c.MinFreeDisk == 0 {
		c.MinFreeDisk = DefaultMinFreeDisk
	}
	if c.Clock == nil {
		c.Clock = func() int64 { return time.Now().UnixMilli() }
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = defaultMaxClockSkew
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

const (
	// logCacheSize is how many of the newest log entries are kept in memory
	// for replication: enough for the entries in flight to followers.
	// Entries are group-committed batches (usually a few KiB, at most
	// MaxBatchBytes), so it is kept small, and within logCacheBytes; a
	// follower further behind reads from disk.
	logCacheSize = 64
	// snapshotsRetained is how many snapshot files the data dir keeps.
	snapshotsRetained = 2
	// transportMaxPool is how many idle connections Raft keeps per peer.
	transportMaxPool = 3
)

// Node is one member of the Raft group.
type Node struct {
	cfg     Config
	log     *slog.Logger
	fsm     *fsm.FSM
	access  *accessTable // the leader's record of client access, for LRU/LFU eviction (evict.go)
	raft    *raft.Raft
	store   *dataLog
	adapter *adapter
	trans   *raft.NetworkTransport
	mux     *mux
	applied *indexWaiter

	peersMu sync.Mutex
	peers   map[string]*peerClient // by peer address
	served  map[net.Conn]bool      // peers' connections to this node's cluster service

	leaderChanged broadcast // notified whenever Raft's known leader changes

	raftUp       atomic.Pointer[raft.Raft] // raft, for peer TLS checks that may run before Open returns
	proposals    chan *proposal
	inflight     atomic.Int64 // entries handed to Raft whose proposals have no answer yet
	handingOff   atomic.Int32 // > 0: the proposer sends new writes elsewhere: leadership is being passed on
	reads        chan chan readIndexResult
	ready        atomic.Bool // leader has applied its own entry of this term
	readyChanged broadcast   // notified whenever ready flips

	nudgeWant atomic.Uint64 // highest index followers should learn is committed
	nudged    atomic.Uint64 // highest nudgeWant an empty entry has covered
	nudgeCh   chan struct{}

	group           groupWait // the last entry's writers, for the next one (propose.go)
	entriesProposed atomic.Uint64
	writesProposed  atomic.Uint64

	stop     chan struct{}
	wg       sync.WaitGroup
	shutOnce sync.Once

	pub   publisher   // pub/sub messages to the other members (publish.go)
	clock clockState  // the members' clocks (clock.go)
	disk  diskState   // the data dir's free space (disk.go)
	memb  *membership // gossip and autopilot; nil with gossip off
	votes *voteGate   // the transport Raft reads, refusing untrustworthy votes

	lease lease // as leader, a quorum's recent acceptance: read indexes without a heartbeat round (lease.go)

	behind         atomic.Uint64 // a read index this node was too far behind to wait for; 0: none
	readsViaLeader atomic.Uint64

	halted   chan struct{} // closed when the log holds an entry this node cannot apply
	haltErr  *HaltError
	haltOnce sync.Once
}

// Open starts a node on its data dir. If the dir holds no Raft state, the
// node bootstraps a group of one: every write goes through the log even
// when alone.
//
// Opening is a list of steps; if one fails, what the earlier ones opened is
// closed in reverse order and the error names the step.
func Open(cfg Config, f *fsm.FSM) (*Node, error) {
	cfg.setDefaults()
	if cfg.NodeID == "" {
		id, err := NodeID(cfg.DataDir, "")
		if err != nil {
			return nil, fmt.Errorf("node identity: %w", err)
		}
		cfg.NodeID = id
	}
	n := &Node{access: new(accessTable),
		cfg:       cfg,
		log:       cfg.Logger.With("node", cfg.NodeID),
		fsm:       f,
		applied:   newIndexWaiter(),
		proposals: make(chan *proposal, 4096),
		reads:     make(chan chan readIndexResult, 4096),
		peers:     map[string]*peerClient{},
		nudgeCh:   make(chan struct{}, 1),
		stop:      make(chan struct{}),
		halted:    make(chan struct{}),
	}
	n.clock.mono = time.Now()
	if cfg.MinFreeDisk > 0 && cfg.MinFreeDisk < int64(wal.DefaultSegmentSize+MaxEntryBytes) {
		n.log.Warn("--min-free-disk is less than a log segment and the largest entry: a full disk can reach the log, "+
			"which then stops taking writes until space returns", "min_free_disk", humanBytes(cfg.MinFreeDisk),
			"advised", humanBytes(int64(wal.DefaultSegmentSize+MaxEntryBytes)))
	}
	n.disk.free.Store(-1)
	n.disk.kick = make(chan struct{}, 1)
	hlog := newRaftLogger(n.log)
	o := &opening{n: n, hlog: hlog, rc: raftConfig(cfg, hlog)}
	steps := []struct {
		name string
		run  func() error
	}{
		{"data dir", o.dataDir},
		{"raft log", o.logStore},
		{"snapshot store", o.snapshotStore},
		{"read raft state", o.readState},
		{"node identity", o.identity},
		{"peer port", o.peerPort},
		{"advertise address", o.advertise},
		{"raft transport", o.transport},
		{"bootstrap", o.bootstrap},
		{"log cache", o.logCache},
		{"start raft", o.startRaft},
		{"gossip", o.gossip},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			o.undo()
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	n.start(o.service)
	return n, nil
}

// opening is what Open has built so far. Each step that opens something
// registers how to close it, and undo closes all of it, newest first.
type opening struct {
	n        *Node
	hlog     hclog.Logger
	snaps    raft.SnapshotStore
	ln       net.Listener
	adv      net.Addr
	service  chan net.Conn
	rc       *raft.Config
	existing bool
	formed   bool // this node bootstrapped a cluster as it opened
	logs     raft.LogStore
	closers  []func()
}

func (o *opening) onUndo(close func()) { o.closers = append(o.closers, close) }

func (o *opening) undo() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i]()
	}
}

func (o *opening) dataDir() error { return os.MkdirAll(o.n.cfg.DataDir, 0o750) }

func (o *opening) logStore() error {
	store, kind, err := openLogStore(o.n.cfg.DataDir, o.n.cfg.NoSync, o.hlog)
	if err != nil {
		return err
	}
	store.failed = o.n.writeFailed
	o.n.store = store
	o.onUndo(func() { store.Close() })
	// The entries the log holds now are applied again after the snapshot:
	// their keyspace notifications were given before this start (or, for
	// any this node never applied, by the other nodes): not twice.
	if last, err := store.LastIndex(); err == nil {
		o.n.fsm.QuietUntil(last)
	}
	o.n.log.Info("raft log open", "store", kind, "dir", o.n.cfg.DataDir)
	return nil
}

func (o *opening) snapshotStore() error {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(o.n.cfg.DataDir, snapshotsRetained, o.hlog)
	if err != nil {
		return err
	}
	o.snaps = newTidySnapshots(snaps, o.n.cfg.DataDir, o.n.log.Warn)
	return nil
}

func (o *opening) peerPort() error {
	ln, err := net.Listen("tcp", o.n.cfg.PeerAddr)
	if err != nil {
		return err
	}
	o.ln = ln
	o.onUndo(func() { ln.Close() })
	return nil
}

func (o *opening) advertise() (err error) {
	o.adv, err = advertiseAddr(o.n.cfg.Advertise, o.ln.Addr())
	return err
}

// transport puts Raft and the cluster service on the peer port's mux.
func (o *opening) transport() error {
	n := o.n
	n.mux = newMux(o.ln, n.cfg.Secret, n.log)
	if n.cfg.PeerTLS != nil {
		n.mux.tls = &peerTLS{material: n.cfg.PeerTLS.Material, idAt: n.memberAt, members: n.memberIDs}
	}
	o.onUndo(func() { n.mux.close() })
	layer := &raftLayer{m: n.mux, conns: n.mux.listen(protoRaft), addr: o.adv}
	o.service = n.mux.listen(protoService)
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  o.hlog,
	})
	o.onUndo(func() { n.trans.Close() })
	return nil
}

func raftConfig(cfg Config, hlog hclog.Logger) *raft.Config {
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
	return rc
}

func (o *opening) readState() (err error) {
	o.existing, err = raft.HasExistingState(o.n.store, o.n.store, o.snaps)
	return err
}

// bootstrap writes the first configuration of a new node to its stores,
// before Raft starts, so a peer that already replicates to this node cannot
// make the bootstrap fail.
func (o *opening) bootstrap() error {
	n, cfg := o.n, o.n.cfg
	if o.existing {
		n.log.Info("restarting from data dir", "dir", cfg.DataDir)
		return nil
	}
	if len(cfg.InitialCluster) == 0 && (len(cfg.Join) > 0 || cfg.BootstrapExpect > 0) {
		n.log.Info("no cluster yet: waiting to form one or be added to one through gossip",
			"join", cfg.Join, "bootstrap_expect", cfg.BootstrapExpect)
		return nil
	}
	boot := raft.Configuration{Servers: []raft.Server{{ID: o.rc.LocalID, Address: n.trans.LocalAddr()}}}
	if len(cfg.InitialCluster) > 0 {
		if _, ok := cfg.InitialCluster[cfg.NodeID]; !ok {
			return fmt.Errorf("initial cluster does not list this node (%s)", cfg.NodeID)
		}
		boot.Servers = nil
		for _, id := range sortedKeys(cfg.InitialCluster) {
			boot.Servers = append(boot.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(cfg.InitialCluster[id])})
		}
	}
	if err := raft.BootstrapCluster(o.rc, n.store, n.store, o.snaps, n.trans, boot); err != nil {
		return err
	}
	id := randomID() // a group of one
	if len(cfg.InitialCluster) > 0 {
		id = bootstrapID(boot.Servers)
	}
	if err := n.setClusterID(id); err != nil {
		return err
	}
	o.formed = true
	n.log.Info("bootstrapped a new cluster", "peer", n.trans.LocalAddr(), "members", len(boot.Servers))
	return nil
}

// logCache: replication reads each entry back from the log store to send
// it; a cache of the newest entries saves decoding them from disk again
// (logcache.go).
func (o *opening) logCache() error {
	o.logs = newLogCache(logCacheSize, o.n.store)
	return nil
}

// gossip starts memberlist and the membership loop's state, with gossip on.
func (o *opening) gossip() error {
	n := o.n
	if n.cfg.GossipAddr == "" {
		if len(n.cfg.Join) > 0 || n.cfg.BootstrapExpect > 0 {
			return errors.New("joining and --bootstrap-expect need a gossip address")
		}
		return nil
	}
	g, err := n.startGossip(o.existing)
	if err != nil {
		return err
	}
	o.onUndo(g.stop)
	n.memb = &membership{n: n, g: g}
	// Autopilot's defaults look every 2 s and act every 10 s: a new node
	// would wait 20 s past its stabilization time to vote.
	n.memb.ap = autopilot.New(autopilotRaft{n.raft}, n.memb, autopilot.WithLogger(o.hlog.Named("autopilot")),
		autopilot.WithUpdateInterval(autopilotInterval), autopilot.WithReconcileInterval(autopilotInterval))
	return nil
}

func (o *opening) startRaft() error {
	n := o.n
	n.adapter = &adapter{f: n.fsm, applied: n.applied, halt: n.halt}
	n.votes = newVoteGate(n.trans, n)
	// A node that starts empty and does not form a cluster as it opens was
	// either never a voter or has lost what it voted on (votegate.go);
	// one that forms a cluster through gossip later says so then.
	n.votes.fresh.Store(!o.existing && !o.formed && n.cfg.GossipAddr != "")
	r, err := raft.NewRaft(o.rc, n.adapter, o.logs, n.store, o.snaps, n.votes)
	if err != nil {
		return err
	}
	n.raft = r
	n.raftUp.Store(r)
	o.onUndo(func() { r.Shutdown().Error() })
	return nil
}

// start runs the node's goroutines once Raft is up.
func (n *Node) start(service chan net.Conn) {
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
	n.measureDisk()
	if n.memb != nil {
		n.wg.Add(1)
		go n.runMembership()
		if len(n.cfg.Join) > 0 {
			go n.memb.g.join(n.cfg.Join, n.stop)
		}
	}
	n.wg.Add(7)
	go n.runEviction()
	go n.runDisk()
	go n.runClock()
	go n.runProposer()
	go n.runReads()
	go n.runLeadership()
	go n.runNudger()
}

// closeStores closes the transport, the peer port and the log store.
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
	for c := range n.served {
		c.Close()
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

// PeerAddr is the address the Raft transport listens on.
func (n *Node) PeerAddr() string { return string(n.trans.LocalAddr()) }

// configServer is the server id in this node's latest Raft configuration.
func (n *Node) configServer(id string) (raft.Server, bool) {
	for _, s := range n.configServers() {
		if string(s.ID) == id {
			return s, true
		}
	}
	return raft.Server{}, false
}

// configServers are the servers of the Raft configuration; none before
// Raft runs (peer TLS asks while Open is still under way) or when Raft
// cannot say.
func (n *Node) configServers() []raft.Server {
	r := n.raftUp.Load()
	if r == nil {
		return nil
	}
	fut := r.GetConfiguration()
	if fut.Error() != nil {
		return nil
	}
	return fut.Configuration().Servers
}

// self is this node's peer address as the Raft configuration knows it.
func (n *Node) self() string { return string(n.trans.LocalAddr()) }

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
	// ClockSkew is this node's clock minus the time a quorum of members
	// agree on; ClockOff says it is past MaxClockSkew, so the node uses
	// theirs.
	ClockSkew time.Duration
	ClockOff  bool
	// ReadsViaLeader counts reads this node was too far behind to serve
	// and ran on the leader.
	ReadsViaLeader uint64
	// LeaseReads counts read indexes this node answered, as leader, from
	// its lease.
	LeaseReads uint64
	// Disk is the data dir's space as last checked.
	Disk DiskStatus
	// EntriesProposed and WritesProposed count, as leader, the log entries
	// this node proposed and the requests they carried (a connection's
	// consecutive pipelined writes are one request); their ratio is group
	// commit's batch size.
	EntriesProposed uint64
	WritesProposed  uint64
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
		ClockSkew:   n.ClockSkew(),
		ClockOff:    n.clock.skewed.Load(),

		ReadsViaLeader: n.readsViaLeader.Load(),
		LeaseReads:     n.lease.served.Load(),
		Disk:           n.Disk(),

		EntriesProposed: n.entriesProposed.Load(),
		WritesProposed:  n.writesProposed.Load(),
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
		if n.memb != nil {
			n.memb.g.stop() // a no-op after Leave
		}
		if n.raft.State() != raft.Shutdown {
			// A halted node's keyspace stops short of its log: no snapshot.
			if n.HaltErr() == nil {
				if serr := n.Snapshot(); serr != nil {
					n.log.Warn("snapshot at shutdown failed", "err", serr)
				}
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

// memberAt names the member of the Raft configuration at peer address
// addr, "" if none (or before Raft runs).
func (n *Node) memberAt(addr string) string {
	for _, s := range n.configServers() {
		if string(s.Address) == addr {
			return string(s.ID)
		}
	}
	return ""
}

// memberIDs are the node ids of the Raft configuration (none before Raft
// runs or before this node is in a configuration).
func (n *Node) memberIDs() []string {
	var ids []string
	for _, s := range n.configServers() {
		ids = append(ids, string(s.ID))
	}
	return ids
}
