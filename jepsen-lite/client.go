package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	shclient "github.com/statehouse/statehouse/client"
)

// Clients see the cluster only over RESP, through go-redis with no hidden
// retries: every error reaches the history.

// Timeouts for the workload clients: short, so a dead or paused node costs
// little, but longer than an election (writes wait for a leader).
var (
	dialTimeout = 500 * time.Millisecond
	opTimeout   = 3 * time.Second
)

// quietLogger drops go-redis's own log lines (dial failures are in the
// history already).
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

func init() { redis.SetLogger(quietLogger{}) }

// newRedis is a workload's client of addr, over TLS and logged in as the
// workloads' ACL user in a secure run.
func (t *Topology) newRedis(addr string) *redis.Client {
	o := redisOptions(addr)
	t.sec.dress(o, false)
	return redis.NewClient(o)
}

func newRedis(addr string) *redis.Client { return redis.NewClient(redisOptions(addr)) }

func redisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:            addr,
		Protocol:        2, // statehouse speaks RESP2; skip the HELLO 3 round trip
		DisableIdentity: true,
		MaxRetries:      -1,
		DialerRetries:   1, // a refused dial fails at once (the command was never sent)
		DialTimeout:     dialTimeout,
		ReadTimeout:     opTimeout,
		WriteTimeout:    opTimeout,
		PoolSize:        1,
		MinIdleConns:    0,
	}
}

// classify maps an error to an op type with the client package's
// classifier: errors that say the command was certainly not applied
// (CLUSTERDOWN, TRYAGAIN, LOADING, MOVED, MISCONF, a connection never
// made) are fail, everything else (UNCERTAIN, timeouts, a connection cut
// mid-command, an error reply to the command itself) is info.
func classify(err error) string {
	switch shclient.Classify(err) {
	case shclient.OK:
		return OK
	case shclient.Retry, shclient.NotApplied:
		return Fail
	}
	return Info
}

// serverError reports whether err is a reply from the server (it is up
// and answering), as opposed to a network failure.
func serverError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// getInt is a read op of an integer key: GET into op.Value (nil when the
// key is missing); a value that is not an integer is kept in op.Raw and
// read as -1, which nobody writes, so the checkers reject it.
func getInt(key string) func(ctx context.Context, rc *redis.Client, op *Op) error {
	return func(ctx context.Context, rc *redis.Client, op *Op) error {
		s, err := rc.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return err
		}
		v, ok := parseInt(s)
		if !ok {
			v, op.Raw = i64(-1), s
		}
		op.Value = v
		return nil
	}
}

// parseInt reads a register value; raw is kept when it does not parse.
func parseInt(s string) (*int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, false
	}
	return &v, true
}

// Topology is the cluster as the harness's clients see it: every
// member's address, and a leader hint refreshed in the background. The
// membership nemeses add and remove members as they change them.
type Topology struct {
	mu     sync.Mutex
	nodes  []string // the members, in the order they joined
	addrs  map[string]string
	leader string
	seen   map[string]time.Time // when each node last answered INFO
	probes map[string]*redis.Client
	sec    *ClientSecurity // nil: plain TCP, no login
}

// answering reports whether node answered the watcher within the last second.
func (t *Topology) answering(node string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Since(t.seen[node]) < time.Second
}

func newTopology(b Backend) *Topology {
	t := &Topology{addrs: map[string]string{}, probes: map[string]*redis.Client{}, seen: map[string]time.Time{}}
	if sb, ok := b.(securedBackend); ok {
		t.sec = sb.ClientSecurity()
	}
	for _, n := range b.Nodes() {
		t.Add(n, b.ClientAddr(n))
	}
	return t
}

// Nodes returns the members.
func (t *Topology) Nodes() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.nodes...)
}

// Addr is a member's client address, "" for a node that is not one.
func (t *Topology) Addr(node string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.addrs[node]
}

// Add makes node a member that clients may use.
func (t *Topology) Add(node, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.addrs[node]; !ok {
		t.nodes = append(t.nodes, node)
	}
	t.addrs[node] = addr
}

// Remove forgets a member that left for good; connections already open
// to it fail and move on.
func (t *Topology) Remove(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, n := range t.nodes {
		if n == node {
			t.nodes = append(t.nodes[:i:i], t.nodes[i+1:]...)
			break
		}
	}
	delete(t.addrs, node)
	delete(t.seen, node)
	if c := t.probes[node]; c != nil {
		c.Close()
		delete(t.probes, node)
	}
	if t.leader == node {
		t.leader = ""
	}
}

// probe returns the harness's own client for node; nil for a node that is
// not a member (go-redis would dial localhost:6379 for an empty address).
func (t *Topology) probe(node string) *redis.Client {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.probes[node]
	if c == nil {
		addr, ok := t.addrs[node]
		if !ok {
			return nil
		}
		o := &redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1, DialerRetries: 1,
			DialTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond, PoolSize: 2}
		t.sec.dress(o, true)
		c = redis.NewClient(o)
		t.probes[node] = c
	}
	return c
}

// role asks a node for its raft state and term (INFO replication).
func (t *Topology) role(ctx context.Context, node string) (master bool, term int64, err error) {
	p := t.probe(node)
	if p == nil {
		return false, 0, errNotMember(node)
	}
	info, err := p.Info(ctx, "replication").Result()
	if err != nil {
		return false, 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "role:"); ok {
			master = v == "master"
		}
		if v, ok := strings.CutPrefix(line, "raft_term:"); ok {
			term, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return master, term, nil
}

// FindLeader asks every node and returns the master with the highest
// term, "" if none answers as master.
func (t *Topology) FindLeader(ctx context.Context) string {
	type r struct {
		node   string
		master bool
		term   int64
	}
	nodes := t.Nodes()
	ch := make(chan r, len(nodes))
	for _, n := range nodes {
		go func(n string) {
			m, term, err := t.role(ctx, n)
			ch <- r{n, m && err == nil, term}
		}(n)
	}
	best, bestTerm := "", int64(-1)
	var answered []string
	for range nodes {
		x := <-ch
		if x.master && x.term > bestTerm {
			best, bestTerm = x.node, x.term
		}
		if x.term > 0 {
			answered = append(answered, x.node)
		}
	}
	t.mu.Lock()
	for _, n := range answered {
		if _, ok := t.addrs[n]; ok {
			t.seen[n] = time.Now()
		}
	}
	if _, ok := t.addrs[best]; ok {
		t.leader = best
	}
	t.mu.Unlock()
	return best
}

// Leader is the last leader seen ("" before any).
func (t *Topology) Leader() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leader
}

// Watch refreshes the leader hint until ctx ends.
func (t *Topology) Watch(ctx context.Context) {
	for ctx.Err() == nil {
		c, cancel := context.WithTimeout(ctx, time.Second)
		t.FindLeader(c)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// WaitHealthy waits until a leader takes a write and every node answers a
// linearizable read.
func (t *Topology) WaitHealthy(ctx context.Context) error {
	var last error
	for {
		last = t.healthy(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %v", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *Topology) healthy(ctx context.Context) error {
	c, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	leader := t.FindLeader(c)
	if leader == "" {
		return errors.New("no leader")
	}
	lp := t.probe(leader)
	if lp == nil {
		return errNotMember(leader)
	}
	if err := lp.Set(c, "jepsen-lite:probe", "1", 0).Err(); err != nil {
		return fmt.Errorf("write on leader %s: %w", leader, err)
	}
	for _, n := range t.Nodes() {
		p := t.probe(n)
		if p == nil {
			continue // removed meanwhile
		}
		if err := p.Get(c, "jepsen-lite:probe").Err(); err != nil {
			return fmt.Errorf("read on %s: %w", n, err)
		}
	}
	return nil
}

type errNotMember string

func (e errNotMember) Error() string { return string(e) + " is not a member" }

// Close closes the probe clients.
func (t *Topology) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.probes {
		c.Close()
	}
	t.probes = map[string]*redis.Client{}
}

// Conn is one logical client's connection, pinned to a node (its home)
// or following the leader. After a network error it moves to the next
// node that answers the topology watcher; it goes back home once home
// answers again (after 2 s at the earliest). The home is the member at
// the client's slot among the members as they are now: when nodes join or
// leave, homes shift, so clients also use nodes added during the run.
type Conn struct {
	topo     *Topology
	slot     int
	follow   bool // follow the leader instead of a home node
	node     string
	rc       *redis.Client
	lastMove time.Time
}

func newConn(topo *Topology, slot int, follow bool) *Conn {
	c := &Conn{topo: topo, slot: slot, follow: follow}
	c.moveTo(c.want())
	return c
}

func (c *Conn) home() string {
	nodes := c.topo.Nodes()
	return nodes[c.slot%len(nodes)]
}

func (c *Conn) want() string {
	if c.follow {
		if l := c.topo.Leader(); l != "" {
			return l
		}
	}
	return c.home()
}

func (c *Conn) moveTo(node string) {
	if c.rc != nil {
		c.rc.Close()
	}
	addr := c.topo.Addr(node)
	if addr == "" { // it left the cluster since it was chosen
		node = c.home()
		addr = c.topo.Addr(node)
	}
	c.node, c.rc, c.lastMove = node, c.topo.newRedis(addr), time.Now()
}

// Client returns the client for the next operation and its node.
func (c *Conn) Client() (*redis.Client, string) {
	if w := c.want(); w != c.node && (c.follow || (time.Since(c.lastMove) > 2*time.Second && c.topo.answering(w))) {
		c.moveTo(w)
	}
	return c.rc, c.node
}

// Failed tells the conn its last operation failed with err; after a
// network error (not a reply from the server) it tries the next node.
func (c *Conn) Failed(err error) {
	if err == nil || serverError(err) {
		if err != nil && c.follow && strings.HasPrefix(err.Error(), "CLUSTERDOWN") {
			c.moveTo(c.next())
		}
		return
	}
	c.moveTo(c.next())
}

func (c *Conn) next() string {
	if c.follow {
		if l := c.topo.Leader(); l != "" && l != c.node {
			return l
		}
	}
	// The next node in order that answers; the next in order if none does.
	nodes := c.topo.Nodes()
	at := 0
	for i, n := range nodes {
		if n == c.node {
			at = i
		}
	}
	for k := 1; k < len(nodes); k++ {
		if n := nodes[(at+k)%len(nodes)]; c.topo.answering(n) {
			return n
		}
	}
	return nodes[(at+1)%len(nodes)]
}

// Close closes the connection.
func (c *Conn) Close() {
	if c.rc != nil {
		c.rc.Close()
	}
}
