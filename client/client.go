package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is a cluster-aware statehouse client: writes go to the leader,
// reads are spread over the other nodes, the topology is read from any
// node, and only commands that certainly did not apply are sent again.
// It is safe for concurrent use. Close it when done.
type Client struct {
	opts options

	mu      sync.RWMutex
	leader  string          // "" while no leader is known
	nodes   []string        // the last refresh: the leader, then the followers that answered
	known   []string        // every address seen (seeds first), to find the cluster again
	staleOK map[string]bool // followers fit for stale reads at the last refresh
	down    map[string]time.Time
	writes  map[string]bool // command name → has the "write" flag (COMMAND); nil: not read yet
	// replicasLinear: the topology came from CLUSTER SLOTS (statehouse:
	// every node reads linearizably). From ROLE (a plain redis-server,
	// whose replicas lag) reads go to the master.
	replicasLinear bool

	clientsMu sync.Mutex
	shut      bool                     // Close has run: no new clients
	clients   map[string]*redis.Client // one per node
	stale     map[string]*redis.Client // READONLY connections, for stale reads

	turn      atomic.Uint64
	retries   atomic.Uint64
	refreshes atomic.Uint64

	refreshReq chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup
}

// New returns a client of the statehouse cluster that any of addrs
// (host:port of client ports) belongs to. It reads the topology and the
// command table from the first node that answers, and waits until a
// node names a leader or ctx ends.
func New(ctx context.Context, addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, errors.New("statehouse client: no address given")
	}
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	o.redis.MaxRetries = -1
	if o.staleBound > 0 && o.refreshInterval > o.staleBound/2 {
		o.refreshInterval = max(o.staleBound/2, 10*time.Millisecond)
	}
	c := &Client{
		opts:       o,
		known:      append([]string(nil), addrs...),
		down:       map[string]time.Time{},
		staleOK:    map[string]bool{},
		clients:    map[string]*redis.Client{},
		stale:      map[string]*redis.Client{},
		refreshReq: make(chan struct{}, 1),
		closed:     make(chan struct{}),
	}
	for {
		err := c.refresh(ctx)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("statehouse client: no leader found through %s: %w", strings.Join(addrs, ","), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	c.wg.Add(1)
	go c.refresher()
	return c, nil
}

// Close closes every connection. Calls after it fail.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	c.wg.Wait()
	c.clientsMu.Lock()
	defer c.clientsMu.Unlock()
	c.shut = true
	var err error
	for _, m := range []map[string]*redis.Client{c.clients, c.stale} {
		for addr, rdb := range m {
			err = errors.Join(err, rdb.Close())
			delete(m, addr)
		}
	}
	return err
}

// Leader returns the go-redis client of the node last known to lead, for
// any command (a follower would forward a write to it anyway), or nil
// while no leader is known. It does not retry: Write does.
func (c *Client) Leader() *redis.Client {
	c.mu.RLock()
	addr := c.leader
	c.mu.RUnlock()
	if addr == "" {
		return nil
	}
	return c.Node(addr)
}

// Node returns the go-redis client of the node at addr (linearizable
// reads, writes forwarded to the leader), made on first use and closed
// by Close.
func (c *Client) Node(addr string) *redis.Client { return c.nodeClient(addr, false) }

// Topology is the leader's address ("" while none is known) and every
// node the last refresh found, the leader first.
func (c *Client) Topology() (leader string, nodes []string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.leader, append([]string(nil), c.nodes...)
}

// Stats counts what the client did since New.
type Stats struct {
	Retries   uint64 // commands sent again after an error that said they did not apply
	Refreshes uint64 // topology reads that found a leader
}

// Stats returns the counts so far.
func (c *Client) Stats() Stats {
	return Stats{Retries: c.retries.Load(), Refreshes: c.refreshes.Load()}
}

// Write runs fn with the leader's client. If fn fails with an error that
// says nothing it sent was applied (Outcome Retry: no leader, a leader
// change, a node gone), it runs again, with the leader as the topology
// now has it, until it succeeds, WithRetryTimeout passes or ctx ends. It
// never runs again once a write fn sent may have applied: an -UNCERTAIN
// reply, a connection cut after a write was sent, or any earlier write
// of fn that succeeded. So fn may send several commands, but a write
// that follows another runs again only if the first's outcome was known
// to be nothing. fn must send through the client it is given and with
// the context it is given (the retry decision watches them).
//
// The error, if any, is an *Error: errors.Is(err, ErrUncertain) means a
// write may or may not have been applied.
func (c *Client) Write(ctx context.Context, fn func(ctx context.Context, rdb *redis.Client) error) error {
	return c.run(ctx, true, fn)
}

// Read runs fn with a client of a node chosen for reads (WithReadFrom;
// linearizable unless WithStaleReads), and runs it again on another node
// on an error that came from the network or from a cluster between
// states, as long as fn sent no write. Errors are as Write's.
func (c *Client) Read(ctx context.Context, fn func(ctx context.Context, rdb *redis.Client) error) error {
	return c.run(ctx, false, fn)
}

// Watch runs an optimistic transaction on the leader, as go-redis's
// Client.Watch: WATCH keys, fn reads and queues its writes with
// tx.TxPipelined. It runs again on the terms of Write; a watched key that
// changed is redis.TxFailedErr (errors.Is), which it does not retry: the
// caller decides whether to run the transaction again.
//
// fn is not given the attempt's context, and sends with its own (the
// caller's), which the node's hook cannot tell apart from another
// call's: the transaction's own hook (attemptHook) records what it
// sends instead, so an EXEC whose connection broke is uncertain and the
// transaction never runs again.
func (c *Client) Watch(ctx context.Context, fn func(tx *redis.Tx) error, keys ...string) error {
	return c.run(ctx, true, func(ctx context.Context, rdb *redis.Client) error {
		a, _ := ctx.Value(attemptKey{}).(*attemptState)
		return rdb.Watch(ctx, func(tx *redis.Tx) error {
			tx.AddHook(attemptHook{c: c, a: a}) // this Tx's hooks only: rdb's are a copy
			return fn(tx)
		}, keys...)
	})
}

// Do sends one command, routed by the command table the cluster
// serves: a command without the write flag is a Read, anything else a
// Write. The reply is cmd.Result(); its error is an *Error.
func (c *Client) Do(ctx context.Context, args ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, args...)
	write := c.isWrite(cmd.Name())
	err := c.run(ctx, write, func(ctx context.Context, rdb *redis.Client) error {
		return rdb.Process(ctx, cmd)
	})
	if err != nil {
		cmd.SetErr(err)
	}
	return cmd
}

// Retry policy: the first retry waits backoffMin, each next one twice as
// long, up to backoffMax (an election takes about an election timeout).
const (
	backoffMin = 10 * time.Millisecond
	backoffMax = 200 * time.Millisecond
)

func (c *Client) run(ctx context.Context, write bool, fn func(ctx context.Context, rdb *redis.Client) error) error {
	deadline := time.Now().Add(c.opts.retryTimeout)
	backoff := backoffMin
	for attempt := 1; ; attempt++ {
		select {
		case <-c.closed:
			return &Error{Outcome: Retry, Attempts: attempt, Err: redis.ErrClosed}
		default:
		}
		addr, stale := c.pick(write)
		var err error
		a := &attemptState{}
		if addr == "" {
			err = ErrNoNode
		} else {
			err = fn(context.WithValue(ctx, attemptKey{}, a), c.nodeClient(addr, stale))
			if err == nil || errors.Is(err, redis.Nil) {
				return err
			}
		}
		out := Classify(err)
		if errors.Is(err, ErrNoNode) {
			out = Retry
		}
		retry := !a.unsafe.Load() && (out == Retry || out == Uncertain && a.cmds.Load() > 0)
		if !retry || ctx.Err() != nil || time.Now().After(deadline) {
			var ce *Error
			if errors.As(err, &ce) {
				return err // fn returned an error of a Client already
			}
			return &Error{Outcome: out, Addr: addr, Attempts: attempt, Err: err}
		}
		c.retries.Add(1)
		c.requestRefresh()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return &Error{Outcome: out, Addr: addr, Attempts: attempt, Err: err}
		case <-t.C:
		}
		backoff = min(2*backoff, backoffMax)
	}
}

// pick chooses the node for a write or a read, and whether the read may
// use its stale (READONLY) connection. A node that failed recently is
// passed over while another will do; with no leader known, a write goes
// to any node (a follower forwards it, or answers CLUSTERDOWN).
func (c *Client) pick(write bool) (addr string, stale bool) {
	now := time.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	up := func(a string) bool { return now.After(c.down[a]) }
	toLeader := write || c.opts.readFrom == ReadLeader || !c.replicasLinear
	if toLeader && c.leader != "" && up(c.leader) {
		return c.leader, !write && c.opts.staleBound > 0 && c.replicasLinear
	}
	var cands []string
	if !write {
		for _, a := range c.nodes {
			if up(a) && (a != c.leader || c.opts.readFrom == ReadAny) {
				cands = append(cands, a)
			}
		}
		if len(cands) == 0 && c.leader != "" && up(c.leader) {
			cands = []string{c.leader}
		}
	}
	if len(cands) == 0 {
		for _, a := range c.nodes {
			if up(a) {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) == 0 {
		cands = c.known // every node failed lately: try them all in turn
	}
	addr = cands[int(c.turn.Add(1)%uint64(len(cands)))]
	stale = !write && c.opts.staleBound > 0 && c.replicasLinear && (addr == c.leader || c.staleOK[addr])
	return addr, stale
}

func (c *Client) isWrite(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	w, ok := c.writes[strings.ToLower(name)]
	return w || !ok // a command the table does not have is treated as a write
}

// nodeClient returns the client of addr, made on first use: its plain
// one, or the one whose connections sent READONLY.
func (c *Client) nodeClient(addr string, stale bool) *redis.Client {
	c.clientsMu.Lock()
	defer c.clientsMu.Unlock()
	m := c.clients
	if stale {
		m = c.stale
	}
	if rdb := m[addr]; rdb != nil {
		return rdb
	}
	o := c.opts.redis
	o.Addr = addr
	if stale {
		user := o.OnConnect
		o.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
			if err := cn.ReadOnly(ctx).Err(); err != nil {
				return err
			}
			if user != nil {
				return user(ctx, cn)
			}
			return nil
		}
	}
	rdb := redis.NewClient(&o)
	rdb.AddHook(nodeHook{c: c, addr: addr})
	if c.shut {
		rdb.Close() // its calls fail with redis.ErrClosed
		return rdb
	}
	m[addr] = rdb
	return rdb
}

// attemptState is what one run of a Write's or Read's fn sent, as the
// nodes' hooks saw it.
type attemptState struct {
	cmds   atomic.Int64 // commands sent
	unsafe atomic.Bool  // a write may have applied: never run fn again
}

type attemptKey struct{}

// nodeHook watches every command a node's client sends: errors that
// show the topology changed ask for a refresh, a node that does not
// answer is passed over for a while, and a Write's or Read's attempt
// learns whether a write it sent may have applied.
type nodeHook struct {
	c    *Client
	addr string
}

func (h nodeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h nodeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.c.observe(ctx, h.addr, err)
		if a, _ := ctx.Value(attemptKey{}).(*attemptState); a != nil {
			h.c.sent(a, cmd, err)
		}
		return err
	}
}

func (h nodeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		first := err
		for _, cmd := range cmds {
			if first == nil {
				first = cmd.Err()
			}
		}
		h.c.observe(ctx, h.addr, first)
		if a, _ := ctx.Value(attemptKey{}).(*attemptState); a != nil {
			h.c.sentPipeline(a, cmds, err)
		}
		return err
	}
}

// attemptHook records in one attempt what a Watch's Tx sends, whatever
// the context fn sends it with. Commands sent with the attempt's own
// context are the node hook's to record.
type attemptHook struct {
	c *Client
	a *attemptState
}

func (h attemptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if h.a != nil && ctx.Value(attemptKey{}) != h.a {
			h.c.sent(h.a, cmd, err)
		}
		return err
	}
}

func (h attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if h.a != nil && ctx.Value(attemptKey{}) != h.a {
			h.c.sentPipeline(h.a, cmds, err)
		}
		return err
	}
}

// sent records in a that cmd was sent and got err: a write whose error
// does not say it certainly did not apply makes the attempt unsafe to
// run again.
func (c *Client) sent(a *attemptState, cmd redis.Cmder, err error) {
	a.cmds.Add(1)
	if c.isWrite(cmd.Name()) && Classify(err) != Retry {
		a.unsafe.Store(true)
	}
}

// sentPipeline is sent for a pipeline, or a MULTI/EXEC transaction,
// that got err.
func (c *Client) sentPipeline(a *attemptState, cmds []redis.Cmder, err error) {
	if len(cmds) == 0 {
		return
	}
	a.cmds.Add(int64(len(cmds)))
	if tx := cmds[0].Name() == "multi" && cmds[len(cmds)-1].Name() == "exec"; tx {
		// MULTI/EXEC applies all or nothing: nothing only if EXEC
		// (or the pipeline) says so.
		e := err
		if e == nil {
			e = cmds[len(cmds)-1].Err()
		}
		if e == nil || Classify(e) != Retry {
			a.unsafe.Store(true)
		}
		return
	}
	for _, cmd := range cmds {
		e := cmd.Err()
		if e == nil && err != nil && !isReply(err) {
			e = err
		}
		if c.isWrite(cmd.Name()) && Classify(e) != Retry {
			a.unsafe.Store(true)
		}
	}
}

func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// observe reacts to a node's error: a topology that may have changed is
// read again, and a node that did not answer is passed over for a while.
func (c *Client) observe(ctx context.Context, addr string, err error) {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, redis.TxFailedErr) {
		return
	}
	if ctx.Value(refreshKey{}) != nil {
		return // refresh is reading the topology: it knows
	}
	if isReply(err) {
		code, _, _ := strings.Cut(err.Error(), " ")
		switch code {
		case "MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "MASTERDOWN", "LOADING", "UNCERTAIN":
			c.requestRefresh()
		}
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) {
		return // the caller's doing, not the node's
	}
	c.markDown(addr)
	c.requestRefresh()
}

func (c *Client) markDown(addr string) {
	c.mu.Lock()
	c.down[addr] = time.Now().Add(c.opts.downFor)
	c.mu.Unlock()
}

func (c *Client) requestRefresh() {
	select {
	case c.refreshReq <- struct{}{}:
	default: // one is asked for already
	}
}

// probeTimeout bounds one node's answer while reading the topology: a
// paused node must not hold up finding the others.
const probeTimeout = time.Second

// refresher reads the topology when asked and every refresh interval.
func (c *Client) refresher() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-c.refreshReq:
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*probeTimeout)
		c.refresh(ctx)
		cancel()
		select { // at most one read of the topology every 10 ms
		case <-c.closed:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// refreshKey marks the context of refresh's own commands.
type refreshKey struct{}

// refresh asks the nodes, the leader first and those that failed lately
// last, for CLUSTER SLOTS until one names a leader, and takes its view.
// It returns an error if none did.
func (c *Client) refresh(ctx context.Context) error {
	ctx = context.WithValue(ctx, refreshKey{}, true)
	now := time.Now()
	c.mu.RLock()
	var cands, downs []string
	seen := map[string]bool{}
	for _, list := range [][]string{{c.leader}, c.nodes, c.known} {
		for _, a := range list {
			if a == "" || seen[a] {
				continue
			}
			seen[a] = true
			if now.After(c.down[a]) {
				cands = append(cands, a)
			} else {
				downs = append(downs, a)
			}
		}
	}
	cands = append(cands, downs...)
	needTable := c.writes == nil
	c.mu.RUnlock()

	var lastErr error = ErrNoNode
	for _, addr := range cands {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rdb := c.nodeClient(addr, false)
		leader, nodes, fromSlots, err := c.ask(ctx, rdb, addr)
		if err != nil {
			lastErr = fmt.Errorf("%s: %w", addr, err)
			if !isReply(err) {
				c.markDown(addr)
			}
			continue
		}
		if leader == "" {
			lastErr = fmt.Errorf("%s: names no leader", addr)
			continue
		}
		if f := c.opts.addrMap; f != nil {
			leader = f(leader)
			for i := range nodes {
				nodes[i] = f(nodes[i])
			}
		}
		var writes map[string]bool
		if needTable {
			writes = c.readTable(ctx, rdb)
		}
		var staleOK map[string]bool
		if c.opts.staleBound > 0 && fromSlots {
			staleOK = c.probeStale(ctx, leader, nodes)
		}
		c.mu.Lock()
		c.leader, c.nodes, c.replicasLinear = leader, nodes, fromSlots
		for _, a := range nodes {
			if !seen[a] {
				seen[a] = true
				c.known = append(c.known, a)
			}
		}
		if writes != nil {
			c.writes = writes
		}
		if staleOK != nil {
			c.staleOK = staleOK
		}
		c.mu.Unlock()
		c.refreshes.Add(1)
		return nil
	}
	return lastErr
}

// ask asks one node for the topology: CLUSTER SLOTS (statehouse, whose
// every node reads linearizably), or ROLE where the node is not a cluster
// (a plain redis-server: its replicas' reads may be stale).
func (c *Client) ask(ctx context.Context, rdb *redis.Client, addr string) (leader string, nodes []string, fromSlots bool, err error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	slots, err := rdb.ClusterSlots(pctx).Result()
	if err == nil {
		leader, nodes = slotNodes(slots)
		return leader, nodes, true, nil
	}
	if !notACluster(err) { // a network error, CLUSTERDOWN, LOADING, NOPERM...
		return "", nil, false, err
	}
	role, rerr := rdb.Do(pctx, "ROLE").Slice()
	if rerr != nil {
		return "", nil, false, fmt.Errorf("CLUSTER SLOTS: %v; ROLE: %w", err, rerr)
	}
	leader, nodes = roleNodes(role, addr)
	return leader, nodes, false, nil
}

// notACluster reports whether err is a node's answer that it is no
// cluster: a redis-server without cluster support.
func notACluster(err error) bool {
	if !isReply(err) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "cluster support disabled") || strings.HasPrefix(msg, "err unknown command") ||
		strings.HasPrefix(msg, "err unknown subcommand")
}

// roleNodes reads ROLE: a master names its replicas, a replica its
// master.
func roleNodes(role []any, addr string) (leader string, nodes []string) {
	if len(role) == 0 {
		return "", nil
	}
	switch role[0] {
	case "master":
		nodes = []string{addr}
		if len(role) > 2 {
			replicas, _ := role[2].([]any)
			for _, r := range replicas {
				if f, ok := r.([]any); ok && len(f) >= 2 {
					nodes = append(nodes, net.JoinHostPort(fmt.Sprint(f[0]), fmt.Sprint(f[1])))
				}
			}
		}
		return addr, nodes
	case "slave":
		if len(role) > 2 {
			leader = net.JoinHostPort(fmt.Sprint(role[1]), fmt.Sprint(role[2]))
			return leader, []string{leader, addr}
		}
	}
	return "", nil
}

// slotNodes reads CLUSTER SLOTS as statehouse answers it: one range,
// the leader (master) first, then the followers that answer.
func slotNodes(slots []redis.ClusterSlot) (leader string, nodes []string) {
	for _, s := range slots {
		for i, n := range s.Nodes {
			if n.Addr == "" || strings.HasSuffix(n.Addr, ":0") {
				continue
			}
			if i == 0 && leader == "" {
				leader = n.Addr
			}
			if !contains(nodes, n.Addr) {
				nodes = append(nodes, n.Addr)
			}
		}
	}
	return leader, nodes
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// readTable reads which commands write from the cluster's COMMAND
// table; nil if it cannot (every command is then treated as a write).
func (c *Client) readTable(ctx context.Context, rdb *redis.Client) map[string]bool {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	infos, err := rdb.Command(pctx).Result()
	if err != nil {
		return nil
	}
	writes := make(map[string]bool, len(infos))
	for name, info := range infos {
		w := false
		for _, f := range info.Flags {
			if f == "write" {
				w = true
			}
		}
		writes[strings.ToLower(name)] = w
	}
	return writes
}

// probeStale asks each follower whether it has heard from a leader
// within the stale-read bound (INFO replication).
func (c *Client) probeStale(ctx context.Context, leader string, nodes []string) map[string]bool {
	ok := map[string]bool{}
	for _, addr := range nodes {
		if addr == leader {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		info, err := c.nodeClient(addr, false).Info(pctx, "replication").Result()
		cancel()
		if err != nil {
			continue
		}
		link, age := infoField(info, "master_link_status"), infoField(info, "master_last_io_seconds_ago")
		secs, err := strconv.Atoi(age)
		if link == "up" && err == nil && secs >= 0 && time.Duration(secs)*time.Second < c.opts.staleBound {
			ok[addr] = true
		}
	}
	return ok
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	return ""
}
