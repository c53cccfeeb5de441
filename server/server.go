package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
	"github.com/tidwall/redcon"
)

// Cluster is what the server needs from the replication layer.
type Cluster interface {
	Propose(ctx context.Context, req fsm.Request) (reply []byte, index uint64, err error)
	ReadBarrier(ctx context.Context) error
	ReadThroughLeader(ctx context.Context, db int, args [][]byte) ([]byte, error)
	Members(ctx context.Context) []cluster.Member
	WaitApplied(ctx context.Context, index uint64, want int) int
	Staleness() time.Duration
	LeaderClientAddr(ctx context.Context) string
	IsLeader() bool
	Now() int64
	Status() cluster.Status
	Snapshot() error
	Health() (servers []cluster.ServerHealth, failureTolerance int, ok bool)
	Publish(m cluster.Published)
	OnPublished(fn func(cluster.Published))
	TransferLeadership(ctx context.Context, id string) error
	RemoveServer(ctx context.Context, id string) error
}

// Config configures the RESP listener.
type Config struct {
	Addr        string // host:port for clients
	RequirePass string
	MaxClients  int
	Limits      Limits
	Version     string
	Logger      *slog.Logger
	// Timeout bounds how long a command waits on the cluster.
	Timeout time.Duration
	// MaxStaleness bounds READONLY reads: a node that has not heard from a
	// leader for longer refuses them.
	MaxStaleness time.Duration
	// ProtectedMode: with no password, only loopback clients are served
	// (protected.go).
	ProtectedMode bool
	// IdleTimeout closes a client idle this long (Redis's timeout; 0: never).
	IdleTimeout time.Duration
	// AuthTimeout: with a password set, a client that has not
	// authenticated this long after it connected is closed, so idle
	// strangers cannot hold the maxclients slots real clients need.
	AuthTimeout time.Duration
	// TLS is the TLS client port (tls.go), beside Addr or instead of it
	// (Addr empty).
	TLS TLSConfig
	// ACLFile is Redis's aclfile (aclfile.go): ACL LOAD and SAVE use it,
	// and it seeds the users of a cluster that has none.
	ACLFile string
}

// defaultAuthTimeout is Config.AuthTimeout's default.
const defaultAuthTimeout = 10 * time.Second

// janitorInterval: how often idle and unauthenticated clients are looked
// for.
const janitorInterval = time.Second

// Server serves RESP clients.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cl      Cluster
	fsm     *fsm.FSM
	table   *fsm.Table   // every command: the fsm's keyspace rows and the front door's
	exec    *fsm.Command // EXEC's row: a refused EXEC discards the transaction
	rs      *redcon.Server
	ln      net.Listener // the client ports, input-guarded
	plain   net.Listener // the plaintext port, nil without one
	tls     tlsState
	started time.Time
	runID   string

	mu         sync.Mutex
	conns      map[int64]*connState
	addrs      addrBook // members' client addresses, for the cluster face
	password   atomic.Pointer[string]
	acl        aclCache // the ACL users compiled against the table (acl.go)
	pubsub     pubsubHub
	aclLog     aclLog
	maxClients atomic.Int64
	limits     atomic.Pointer[Limits]
	idle       atomic.Int64 // IdleTimeout, ns: CONFIG SET timeout changes it
	stop       chan struct{}
	deadlines  *deadlines // what a command waits on the cluster (deadline.go)
	closeOnce  sync.Once
	deniedOnce sync.Once // protected mode is logged once

	nextID      atomic.Int64
	totalConns  atomic.Int64
	totalCmds   atomic.Int64
	rejected    atomic.Int64
	protoErrors atomic.Int64

	blocked blockRegistry // clients blocked on lists (blocking.go)

	toucher    interface{ Touch(db int, keys [][]byte) } // the cluster, when it records access for eviction (memory.go)
	goMemLimit atomic.Int64                              // the Go soft memory limit this server set
}

// New creates a server on f, replicated by cl.
func New(cfg Config, f *fsm.FSM, cl Cluster) *Server {
	if cfg.MaxClients == 0 {
		cfg.MaxClients = 10000
	}
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = defaultAuthTimeout
	}
	if cfg.MaxStaleness == 0 {
		cfg.MaxStaleness = 5 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "0.1.0"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, cl: cl, fsm: f, table: newTable(), conns: map[int64]*connState{}, started: time.Now(), deadlines: newDeadlines(cfg.Timeout)}
	s.exec = s.table.LookupFull("exec")
	s.password.Store(&cfg.RequirePass)
	s.maxClients.Store(int64(cfg.MaxClients))
	s.idle.Store(int64(cfg.IdleTimeout))
	s.stop = make(chan struct{})
	lim := cfg.Limits
	s.limits.Store(&lim)
	var id [20]byte
	for i := range id {
		id[i] = "0123456789abcdef"[rand.IntN(16)]
	}
	s.runID = string(id[:]) + string(id[:])
	cl.OnPublished(func(m cluster.Published) { s.deliver(m) })
	f.OnEvents(s.publishEvents)
	f.OnACLChange(func() { go s.enforceUsers() })
	f.OnListWrite(s.blocked.notify)
	s.toucher, _ = cl.(interface{ Touch(db int, keys [][]byte) })
	f.OnMemConfig(s.followMemConfig)
	s.followMemConfig(f.MemConfig())
	return s
}

// Listen binds the client port. Serve then runs until Close.
func (s *Server) Listen() error {
	ln, err := s.listen()
	if err != nil {
		return err
	}
	s.maxClients.Store(int64(clientsWithinFDLimit(int(s.maxClients.Load()), s.log)))
	s.ln = &guardListener{Listener: ln, lim: func() Limits { return *s.limits.Load() },
		failed: s.acceptFailed}
	s.rs = redcon.NewServerNetwork("tcp", s.cfg.Addr, s.handle, s.accept, s.closed)
	return nil
}

// acceptFailed logs the first of a run of failed accepts: the listener
// backs off while they last.
func (s *Server) acceptFailed(err error, wait time.Duration) {
	s.rejected.Add(1)
	if wait == acceptBackoffMin {
		s.log.Warn("accepting clients fails; backing off while it does", "err", err)
	}
}

// Addr is the address the plaintext client port is bound to, or the TLS
// port's without one.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts clients until Close.
func (s *Server) Serve() error {
	go s.janitor()
	go s.seedACLFile()
	err := s.rs.Serve(s.ln)
	if err != nil && strings.Contains(err.Error(), "use of closed network connection") {
		return nil
	}
	return err
}

// Close stops accepting clients and closes every connection.
func (s *Server) Close() error {
	if s.rs == nil {
		return nil
	}
	// redcon's Close fails when Serve has not started yet; closing the
	// listener too makes a later Serve return at once instead of serving.
	s.closeOnce.Do(func() { close(s.stop) })
	err := s.rs.Close()
	s.ln.Close()
	for _, c := range s.clients() {
		if c.pubsub.Load() {
			c.conn.NetConn().Close() // detached: redcon does not close them
		}
	}
	if err != nil && err.Error() == "not serving" {
		return nil
	}
	return err
}

// janitor closes, every janitorInterval, the clients that have been idle
// longer than the idle timeout, and, with a password set, those that have
// not authenticated within AuthTimeout of connecting.
func (s *Server) janitor() {
	tick := time.NewTicker(janitorInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		now := time.Now()
		idle := time.Duration(s.idle.Load())
		for _, c := range s.clients() {
			c.mu.Lock()
			quiet := now.Sub(c.lastUsed)
			c.mu.Unlock()
			switch {
			case c.guard != nil && !c.guard.authed.Load() && now.Sub(c.created) > s.cfg.AuthTimeout:
				s.log.Debug("closed a client that did not authenticate", "client", c.addr, "after", s.cfg.AuthTimeout)
				c.conn.NetConn().Close()
			case idle > 0 && quiet > idle && !s.pubsub.subscribed(c): // subscribers may wait, as in Redis
				c.conn.NetConn().Close()
			}
		}
	}
}

// connState is one client connection's state.
type connState struct {
	id      int64
	conn    redcon.Conn
	addr    string
	laddr   string
	created time.Time

	mu       sync.Mutex // guards the fields CLIENT LIST reads from other connections
	name     string
	libName  string
	libVer   string
	db       int
	lastCmd  string
	lastUsed time.Time
	multiN   int // commands queued in MULTI, -1 outside: a copy for CLIENT LIST

	authed bool
	user   string      // the ACL user the connection is authenticated as (or will be: "default")
	userAt uint64      // when that user was made (aclUsers.created): a user made again is another
	sub    *subscriber // set by the first SUBSCRIBE, which detaches the connection (pubsub.go)
	pubsub atomic.Bool // sub is set: read by the janitor
	guard  *guardConn  // the connection's input guard: it limits what an unauthenticated client sends
	multi  *multiState
	watch  []fsm.Cond
	buf    []byte

	readonly  bool   // READONLY: stale local reads
	lastIndex uint64 // log index of this connection's last write (WAIT)
}

// setAuthed records whether the client has authenticated, for the
// dispatcher and for the input guard's limits.
func (st *connState) setAuthed(v bool) {
	st.authed = v
	if st.guard != nil {
		st.guard.authed.Store(v)
	}
}

// noteCommand records the command for CLIENT LIST on other connections.
func (st *connState) noteCommand(name string) {
	st.mu.Lock()
	st.lastCmd = name
	st.mu.Unlock()
}

// noteMulti publishes the connection's MULTI state for CLIENT LIST on
// other connections. Only this connection writes multiN, so it may read it
// without the lock.
func (st *connState) noteMulti() {
	n := -1
	if st.multi != nil {
		n = len(st.multi.ops)
	}
	if n != st.multiN {
		st.mu.Lock()
		st.multiN = n
		st.mu.Unlock()
	}
}

func (s *Server) accept(conn redcon.Conn) bool {
	s.totalConns.Add(1)
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if int64(n) >= s.maxClients.Load() {
		s.rejected.Add(1)
		conn.NetConn().Write([]byte("-ERR max number of clients reached\r\n"))
		return false
	}
	if s.denied(conn.RemoteAddr()) {
		s.rejected.Add(1)
		conn.NetConn().Write([]byte(deniedReply))
		s.deniedOnce.Do(func() {
			s.log.Warn("protected mode: refusing clients from beyond loopback until a password is set", "client", conn.RemoteAddr())
		})
		return false
	}
	st := &connState{
		id:       s.nextID.Add(1),
		conn:     conn,
		addr:     conn.RemoteAddr(),
		laddr:    conn.NetConn().LocalAddr().String(),
		created:  time.Now(),
		lastUsed: time.Now(),
		multiN:   -1,
	}
	st.guard, _ = conn.NetConn().(*guardConn)
	st.user = "default"
	st.setAuthed(s.defaultLetsIn()) // before redcon first reads the connection
	conn.SetContext(st)
	s.mu.Lock()
	s.conns[st.id] = st
	s.mu.Unlock()
	return true
}

func (s *Server) closed(conn redcon.Conn, err error) {
	st, _ := conn.Context().(*connState)
	if st == nil || st.pubsub.Load() {
		return // a subscriber is detached, not closed: readSubscriber ends it
	}
	// The guard's errors, and redcon's own ("Protocol error: unbalanced
	// quotes in request" for an inline command).
	var pe *ProtocolError
	if errors.As(err, &pe) || (err != nil && strings.HasPrefix(err.Error(), "Protocol error: ")) {
		s.protoErrors.Add(1)
		s.log.Info("closed client after protocol error", "client", st.addr, "err", err)
	}
	s.mu.Lock()
	delete(s.conns, st.id)
	s.mu.Unlock()
}

// handle gets one command and takes the rest of the pipeline redcon has
// already parsed, so consecutive writes can share one log entry.
func (s *Server) handle(conn redcon.Conn, cmd redcon.Command) {
	st := conn.Context().(*connState)
	cmds := []redcon.Command{cmd}
	if more := conn.ReadPipeline(); len(more) > 0 {
		cmds = append(cmds, more...)
	}
	p := pipeline{s: s, st: st, conn: conn}
	for _, c := range cmds {
		if p.closed {
			break
		}
		p.command(c.Args)
	}
	p.flushWrites()
	st.mu.Lock()
	st.lastUsed = time.Now()
	st.mu.Unlock()
	if st.sub != nil {
		s.startSubscriber(st.sub) // SUBSCRIBE detached it: it is ours now
	}
}

// pipeline runs the commands of one read from a connection in order.
type pipeline struct {
	s      *Server
	st     *connState
	conn   redcon.Conn
	writes []fsm.Op // consecutive writes not yet proposed
	// writesBytes bounds what writes take in an entry: past
	// maxPendingWriteBytes they are proposed before the pipeline goes on.
	writesBytes int
	readOK      bool // a read barrier in this pipeline already covers later reads
	// viaLeader: this node is catching up; the pipeline's reads go to the
	// leader.
	viaLeader bool
	closed    bool
	// capture, while EXEC runs a transaction's front-door commands,
	// collects their replies instead of writing them.
	capture *[]byte
	// cmdRev: the revision of the ACL users the current command was
	// checked against (0: the users were never changed: the implicit
	// default user); aclRev: the oldest of them among the pending writes,
	// which their request carries (fsm.Request.ACLRev), so the fsm checks
	// them again if the users changed before they apply.
	aclRev, cmdRev uint64
	aclChecked     bool // aclRev holds one
}

// command runs one command, checked in Redis's order (processCommand):
// lookup, arity, subcommand, authentication, cluster redirection, MULTI;
// then it is dispatched by its row alone: the front door answers it, or it
// is a write for the log, or a read of the fsm.
func (p *pipeline) command(args [][]byte) {
	s, st := p.s, p.st
	s.totalCmds.Add(1)
	defer st.noteMulti()

	cmd := s.table.Lookup(args[0])
	if cmd == nil || cmd.Flags&fsm.FlagInternal != 0 {
		st.noteCommand("NULL")
		p.flushWrites()
		p.reject(nil, unknownCommand(args))
		return
	}
	if !cmd.ArityOK(len(args)) {
		st.noteCommand(cmd.Name)
		p.flushWrites()
		p.reject(cmd, wrongArity(cmd.Name))
		return
	}
	if cmd.Subcommands != nil && len(args) > 1 {
		sub := cmd.Sub(args[1])
		if sub == nil {
			st.noteCommand(cmd.Name)
			p.flushWrites()
			p.reject(cmd, resp.AppendError(nil, "ERR unknown subcommand '"+truncate(cString(args[1]), 128)+"'. Try "+strings.ToUpper(cmd.Name)+" HELP."))
			return
		}
		cmd = sub
		if !cmd.ArityOK(len(args)) {
			st.noteCommand(cmd.FullName())
			p.flushWrites()
			p.reject(cmd, wrongArity(cmd.FullName()))
			return
		}
	}
	st.noteCommand(cmd.FullName())
	if !st.authed && cmd.Flags&fsm.FlagNoAuth == 0 {
		p.flushWrites()
		p.reject(cmd, resp.AppendError(nil, "NOAUTH Authentication required."))
		return
	}
	p.cmdRev = s.fsm.ACLRev()
	if p.cmdRev != 0 { // ACL commands made users: check each command
		e := p.aclCheck(cmd, args)
		if p.closed {
			return
		}
		if e != nil {
			p.flushWrites()
			p.reject(cmd, e)
			return
		}
	}
	if st.subscribed() && !subscribedOK[cmd.FullName()] {
		p.flushWrites()
		p.reject(cmd, subscribedError(cmd))
		return
	}
	// Before MULTI queues it, as Redis Cluster redirects a queued write.
	if r := p.redirect(cmd, args); r != nil {
		p.flushWrites()
		p.reject(cmd, r)
		return
	}
	if st.multi != nil && cmd.Flags&fsm.FlagTxControl == 0 {
		if s.fsm.OOM() {
			// As Redis refuses to queue anything over the limit; EXEC
			// then aborts.
			p.reject(cmd, resp.AppendError(nil, fsm.OOMError))
			return
		}
		p.reply(p.queue(cmd, args))
		return
	}
	p.touch(cmd, args)
	switch {
	case cmd.Conn != nil:
		p.flushWrites()
		cmd.Conn(p, args)
	case cmd.Flags&fsm.FlagBlocking != 0 && cmd.IsWrite():
		p.flushWrites()
		p.block(cmd, args) // blocking.go
	case cmd.IsWrite():
		if !p.aclChecked || p.cmdRev < p.aclRev {
			p.aclRev, p.aclChecked = p.cmdRev, true
		}
		op := fsm.Op{DB: st.db, Args: cloneArgs(args)}
		p.writes = append(p.writes, op)
		p.writesBytes += op.SizeBound()
		p.readOK = false
		p.viaLeader = false
		if p.writesBytes >= maxPendingWriteBytes {
			p.flushWrites() // one request must fit in a log entry
		}
	default:
		p.read(cmd, args)
	}
}

// read answers a keyspace read: linearizable after the read gate, or from
// the local keyspace on a READONLY connection.
func (p *pipeline) read(cmd *fsm.Command, args [][]byte) {
	s, st := p.s, p.st
	p.flushWrites()
	if st.readonly {
		// READONLY: the local keyspace as it is, within the staleness bound.
		if e := s.staleReadError(); e != nil {
			p.reply(e)
			return
		}
	} else if p.viaLeader {
		p.readThroughLeader(args)
		return
	} else if !p.readOK {
		err := p.barrier()
		if errors.Is(err, cluster.ErrBehind) {
			// This node is catching up: the leader answers, for the rest
			// of the pipeline too.
			p.viaLeader = true
			p.readThroughLeader(args)
			return
		}
		if err != nil {
			p.reply(errorReply(err))
			return
		}
		p.readOK = true
	}
	if s.fsm.ACLRev() != p.cmdRev {
		// The users changed between the check and the barrier: a rule
		// committed before this read started applies to it.
		if e := p.aclCheck(cmd, args); e != nil || p.closed {
			if e != nil {
				p.reply(e)
			}
			return
		}
	}
	st.buf = s.fsm.Read(st.db, s.cl.Now(), rand.Uint64(), args, st.buf[:0])
	p.reply(st.buf)
}

// readThroughLeader has the leader answer a read this node is too far
// behind to serve.
func (p *pipeline) readThroughLeader(args [][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.Timeout)
	defer cancel()
	reply, err := p.s.cl.ReadThroughLeader(ctx, p.st.db, args)
	if err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(reply)
}

// reject answers a command refused before it ran. As in Redis, a refused
// command marks an open transaction so EXEC aborts, and a refused EXEC
// itself discards the transaction with the reason.
func (p *pipeline) reject(cmd *fsm.Command, e []byte) {
	if cmd != nil && cmd == p.s.exec {
		p.st.multi = nil
		p.st.watch = nil
		p.reply(execAbort(e))
		return
	}
	if p.st.multi != nil {
		p.st.multi.dirty = true
	}
	p.reply(e)
}

// execAbort turns an error reply into Redis's
// "-EXECABORT Transaction discarded because of: <reason>".
func execAbort(e []byte) []byte {
	msg := strings.TrimSuffix(string(e), "\r\n")
	msg = strings.TrimPrefix(msg, "-")
	msg = strings.TrimPrefix(msg, "ERR ")
	return resp.AppendError(nil, "EXECABORT Transaction discarded because of: "+msg)
}

func (p *pipeline) barrier() error { return p.s.barrierNow() }

// barrierNow waits until this node has applied every entry committed
// before the call.
func (s *Server) barrierNow() error {
	return s.cl.ReadBarrier(s.deadlines.get())
}

// maxPendingWriteBytes is how much of a pipeline's consecutive writes go
// in one request. A pipeline is what one read from the socket held, and a
// bulk load (redis-cli --pipe) into a node that fell behind hands on tens
// of MiB at once: as one request it would be refused whole, over the
// largest entry the log may hold (cluster.MaxEntryBytes). 4 MiB is the
// proposer's batch target: a request this size still shares an entry.
const maxPendingWriteBytes = 4 << 20

// flushWrites proposes the pending writes as one request and writes the
// replies in order.
func (p *pipeline) flushWrites() {
	if len(p.writes) == 0 {
		return
	}
	req := fsm.Request{Ops: p.writes}
	// Checked at revision 0, a request carries no user: the fsm reads it
	// as the default user's (the only one there was) and checks it again
	// if the users changed since. Entries without ACL users keep their
	// old form.
	if p.aclChecked && p.aclRev != 0 {
		req.User, req.ACLRev = p.st.user, p.aclRev
	}
	p.writes, p.writesBytes, p.aclRev, p.aclChecked = nil, 0, 0, false
	reply, index, err := p.s.propose(req)
	if index > p.st.lastIndex {
		p.st.lastIndex = index
	}
	if errors.Is(err, cluster.ErrReadOnly) {
		p.conn.WriteRaw(p.s.refused(req.Ops))
		return
	}
	if err != nil {
		e := errorReply(err)
		for range req.Ops {
			p.conn.WriteRaw(e)
		}
		return
	}
	p.conn.WriteRaw(reply)
}

// reply writes b to the client, or, while EXEC runs the front-door
// commands of a transaction, adds it to their replies.
func (p *pipeline) reply(b []byte) {
	if p.capture != nil {
		*p.capture = append(*p.capture, b...)
		return
	}
	p.conn.WriteRaw(b)
}

func (s *Server) propose(req fsm.Request) ([]byte, uint64, error) {
	return s.cl.Propose(s.deadlines.get(), req)
}

// cloneArgs copies args out of redcon's read buffer, which is reused.
func cloneArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		start := len(buf)
		buf = append(buf, a...)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// errorReply maps cluster errors to the Redis errors clients know.
func errorReply(err error) []byte {
	var msg string
	switch {
	case errors.Is(err, cluster.ErrNoLeader):
		msg = "CLUSTERDOWN The cluster is down: no leader"
	case errors.Is(err, cluster.ErrNotApplied):
		msg = "TRYAGAIN The write was not applied, retry it"
	case errors.Is(err, cluster.ErrReadOnly):
		msg = "READONLY You can't write against a read only replica."
	case errors.Is(err, cluster.ErrDiskFull):
		// Redis answers MISCONF when it cannot persist: clients and
		// operators know it as "the disk, not the command".
		msg = "MISCONF " + strings.TrimPrefix(err.Error(), cluster.ErrDiskFull.Error()+": ")
	case errors.Is(err, cluster.ErrRefused):
		msg = "ERR " + strings.TrimPrefix(err.Error(), cluster.ErrRefused.Error()+": ")
	case errors.Is(err, cluster.ErrLoading):
		msg = "LOADING statehouse is loading the dataset in memory"
	case errors.Is(err, cluster.ErrUnknownOutcome), errors.Is(err, cluster.ErrShutdown),
		errors.Is(err, context.DeadlineExceeded):
		msg = "UNCERTAIN The write may or may not have been applied"
	default:
		msg = "ERR " + err.Error()
	}
	return resp.AppendError(nil, msg)
}

// unknownCommand words the error as Redis 7.0 does: the name cut at 128
// bytes, then quoted arguments while the list is under 128 bytes, each cut
// to what is left of the 128. Redis formats them with %s, so each stops at
// a NUL byte too.
func unknownCommand(args [][]byte) []byte {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(truncate(cString(args[0]), 128))
	b.WriteString("', with args beginning with: ")
	var list strings.Builder
	for _, a := range args[1:] {
		if list.Len() >= 128 {
			break
		}
		list.WriteString("'")
		list.WriteString(truncate(cString(a), 128-list.Len()+1))
		list.WriteString("' ")
	}
	b.WriteString(list.String())
	return resp.AppendError(nil, b.String())
}

// cString is b up to its first NUL byte, as C's %s prints it.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func wrongArity(name string) []byte { return resp.AppendError(nil, resp.WrongArity(name)) }
