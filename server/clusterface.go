package server

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// Redis Cluster's face of one shard: cluster-aware clients (go-redis's
// ClusterClient, redis-cli -c, Lettuce, redis-py's RedisCluster) see a
// cluster whose every slot, 0 to 16383, is served by the Raft leader as
// master, with the other members as its replicas. They send writes to the
// leader and, after READONLY, reads to the replicas.
//
// Node ids. Redis Cluster names a node with 40 hex digits; a member's is
// the SHA-1 of its statehouse node id (--node-id), so every node, and
// every restart, names a member alike (nodeName).
//
// MOVED. A follower answers a keyed write with -MOVED <slot> <leader's
// client address> instead of taking it, as a Redis Cluster replica does,
// in two cases: on a connection that sent READONLY (cluster clients send
// it; a replica answers MOVED to writes even after it), and when it was
// started with --follower-writes refuse (for every connection: redis-cli
// -c sends nothing that marks it as a cluster client). A write with no
// key is not redirected: it is forwarded, or refused with -READONLY, as
// a Redis Cluster replica refuses FLUSHALL. With no leader known the
// answer is -CLUSTERDOWN. Plain connections of a forwarding follower
// keep having their writes forwarded, and reads are never redirected:
// every node serves them.

// nodeName is the Redis Cluster node id of the statehouse node id.
func nodeName(id string) string {
	sum := sha1.Sum([]byte(id))
	return hex.EncodeToString(sum[:])
}

// faceNode is one member as the cluster face shows it.
type faceNode struct {
	name    string // Redis Cluster node id
	host    string // "" (and port 0) when no client address is known
	port    int
	busPort int // the peer port: Redis Cluster's bus
	self    bool
	master  bool
	up      bool // answered just now (this node always has)
	applied uint64
}

// face is the shard as this node sees it now.
type face struct {
	leader bool       // a leader is known, with a client address
	epoch  int64      // the Raft term, as Redis Cluster's config epoch
	nodes  []faceNode // the leader first, then the others by node id
}

// face asks the group for its members (as ROLE does, briefly) and lays
// them out as one shard.
func (s *Server) face() face {
	st := s.cl.Status()
	f := face{}
	f.epoch, _ = strconv.ParseInt(st.Term, 10, 64)
	var others []faceNode
	for _, m := range s.members() {
		addr := m.ClientAddr
		if m.Self && addr == "" {
			addr = s.Addr().String()
		}
		if m.Reachable && addr != "" {
			s.addrs.learn(m.ID, addr)
		} else {
			addr = s.addrs.last(m.ID)
		}
		n := faceNode{name: nodeName(m.ID), self: m.Self, up: m.Reachable, applied: m.Applied,
			master: st.LeaderID != "" && m.ID == st.LeaderID}
		n.host, n.port = hostPort(addr)
		_, n.busPort = hostPort(m.PeerAddr)
		if n.master {
			f.leader = n.port != 0
			f.nodes = append(f.nodes, n)
		} else {
			others = append(others, n)
		}
	}
	f.nodes = append(f.nodes, others...) // Members are in node id order
	return f
}

// clusterDown is the answer of a node that knows no leader to ask for the
// slot map: there is no master to name.
func clusterDown() []byte { return errorReply(cluster.ErrNoLeader) }

// addrBook remembers the client address each member last gave, so a
// member that does not answer right now (the leader, from a follower cut
// off from it) can still be named.
type addrBook struct {
	mu sync.Mutex
	m  map[string]learnedAddr
}

type learnedAddr struct {
	addr string
	at   time.Time
}

// addrFresh is how long a learned address is used without asking again:
// a member restarted on another port is named rightly after at most this.
const addrFresh = time.Second

func (b *addrBook) learn(id, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]learnedAddr{}
	}
	b.m[id] = learnedAddr{addr, time.Now()}
}

// last is the last address id gave, however old; fresh is one given within
// addrFresh. Both are "" if there is none.
func (b *addrBook) last(id string) string { a, _ := b.get(id); return a }

func (b *addrBook) fresh(id string) string {
	if a, at := b.get(id); time.Since(at) < addrFresh {
		return a
	}
	return ""
}

func (b *addrBook) get(id string) (string, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.m[id]
	return a.addr, a.at
}

// leaderAddr is the client address of the leader this node knows of, ""
// if it knows none.
func (s *Server) leaderAddr() string {
	id := s.cl.Status().LeaderID
	if id == "" {
		return ""
	}
	if a := s.addrs.fresh(id); a != "" {
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if a := s.cl.LeaderClientAddr(ctx); a != "" {
		if s.cl.Status().LeaderID == id { // still the one asked about
			s.addrs.learn(id, a)
		}
		return a
	}
	return s.addrs.last(id) // the leader does not answer here; clients may still reach it
}

// moved sends a write on key to the leader, as a Redis Cluster replica
// does: -MOVED <slot> <leader>, or -CLUSTERDOWN without a leader.
func (s *Server) moved(key []byte) []byte {
	addr := s.leaderAddr()
	if addr == "" {
		return clusterDown()
	}
	return resp.AppendError(nil, "MOVED "+strconv.Itoa(fsm.KeySlot(key))+" "+addr)
}

// redirect is the answer to a write that a connection in cluster mode
// (READONLY) sends to a follower: MOVED to the leader, if the write has a
// key to name a slot by; nil if it runs here.
func (p *pipeline) redirect(cmd *fsm.Command, args [][]byte) []byte {
	if !p.st.readonly || !cmd.IsWrite() || p.s.cl.IsLeader() {
		return nil
	}
	if keys := cmd.Keys(args); len(keys) > 0 {
		return p.s.moved(keys[0])
	}
	return nil
}

// refused answers the ops of a request a follower started with
// --follower-writes refuse would not take: MOVED for each keyed op,
// -READONLY for one without a key.
func (s *Server) refused(ops []fsm.Op) []byte {
	var out []byte
	for _, op := range ops {
		out = append(out, s.refusedOps([]fsm.Op{op})...)
	}
	return out
}

// refusedOps answers ops refused as one (a transaction): MOVED named
// after the first key among them, or -READONLY if they have none.
func (s *Server) refusedOps(ops []fsm.Op) []byte {
	for _, op := range ops {
		if c := s.table.Lookup(op.Args[0]); c != nil {
			if keys := c.Keys(op.Args); len(keys) > 0 {
				return s.moved(keys[0])
			}
		}
	}
	return errorReply(cluster.ErrReadOnly)
}

// CLUSTER SLOTS: one range, 0-16383, the leader then the replicas that
// answer (Redis leaves failed replicas out), each host, port, node id and
// Redis 7's empty map of further endpoints.
func clusterSlotsCmd(p *pipeline, args [][]byte) {
	f := p.s.face()
	if !f.leader {
		p.reply(clusterDown())
		return
	}
	var nodes []faceNode
	for _, n := range f.nodes {
		if n.master || (n.up && n.port != 0) {
			nodes = append(nodes, n)
		}
	}
	out := resp.AppendArray(nil, 1)
	out = resp.AppendArray(out, 2+len(nodes))
	out = resp.AppendInt(out, 0)
	out = resp.AppendInt(out, fsm.SlotCount-1)
	for _, n := range nodes {
		out = resp.AppendArray(out, 4)
		out = resp.AppendBulkString(out, n.host)
		out = resp.AppendInt(out, int64(n.port))
		out = resp.AppendBulkString(out, n.name)
		out = resp.AppendArray(out, 0)
	}
	p.reply(out)
}

// CLUSTER SHARDS: one shard holding every slot, with every member (those
// that do not answer have health "fail").
func clusterShardsCmd(p *pipeline, args [][]byte) {
	f := p.s.face()
	if !f.leader {
		p.reply(clusterDown())
		return
	}
	out := resp.AppendArray(nil, 1)
	out = resp.AppendArray(out, 4)
	out = resp.AppendBulkString(out, "slots")
	out = resp.AppendArray(out, 2)
	out = resp.AppendInt(out, 0)
	out = resp.AppendInt(out, fsm.SlotCount-1)
	out = resp.AppendBulkString(out, "nodes")
	out = resp.AppendArray(out, len(f.nodes))
	for _, n := range f.nodes {
		role, health := "master", "online"
		if !n.master {
			role = "replica"
		}
		switch {
		case !n.up:
			health = "fail"
		case !n.master && n.applied == 0:
			health = "loading" // Redis's word for a replica with nothing yet
		}
		out = resp.AppendArray(out, 14)
		out = resp.AppendBulkString(out, "id")
		out = resp.AppendBulkString(out, n.name)
		out = resp.AppendBulkString(out, "port")
		out = resp.AppendInt(out, int64(n.port))
		out = resp.AppendBulkString(out, "ip")
		out = resp.AppendBulkString(out, n.host)
		out = resp.AppendBulkString(out, "endpoint")
		out = resp.AppendBulkString(out, n.host)
		out = resp.AppendBulkString(out, "role")
		out = resp.AppendBulkString(out, role)
		out = resp.AppendBulkString(out, "replication-offset")
		out = resp.AppendInt(out, int64(n.applied))
		out = resp.AppendBulkString(out, "health")
		out = resp.AppendBulkString(out, health)
	}
	p.reply(out)
}

// CLUSTER NODES: a line per member, as Redis 7.0 writes them:
// <id> <ip:port@busport> <flags> <master> <ping-sent> <pong-recv>
// <config-epoch> <link-state> [<slots>].
func clusterNodesCmd(p *pipeline, args [][]byte) {
	f := p.s.face()
	if !f.leader {
		p.reply(clusterDown())
		return
	}
	master := f.nodes[0].name
	now := time.Now().UnixMilli()
	var b strings.Builder
	for _, n := range f.nodes {
		var flags []string
		if n.self {
			flags = append(flags, "myself")
		}
		of := master
		if n.master {
			flags = append(flags, "master")
			of = "-"
		} else {
			flags = append(flags, "slave")
		}
		if !n.up {
			flags = append(flags, "fail")
		}
		addr := fmt.Sprintf("%s:%d@%d", n.host, n.port, n.busPort)
		if n.port == 0 {
			flags = append(flags, "noaddr")
			addr = ":0@0"
		}
		var pong int64 // Redis shows 0 for itself
		link := "connected"
		switch {
		case !n.up:
			link = "disconnected"
		case !n.self:
			pong = now // it answered just now
		}
		fmt.Fprintf(&b, "%s %s %s %s 0 %d %d %s", n.name, addr, strings.Join(flags, ","), of, pong, f.epoch, link)
		if n.master {
			fmt.Fprintf(&b, " 0-%d", fsm.SlotCount-1)
		}
		b.WriteString("\n")
	}
	p.reply(resp.AppendBulkString(nil, b.String()))
}

// CLUSTER INFO: ok while a leader is known, fail otherwise. The slots are
// all assigned to the one shard; they are ok while its leader answers,
// pfail while it is known but does not answer here, fail with no leader.
func clusterInfoCmd(p *pipeline, args [][]byte) {
	f := p.s.face()
	state, ok, pfail, failed := "fail", 0, 0, fsm.SlotCount
	if f.leader {
		state, failed = "ok", 0
		if f.nodes[0].up {
			ok = fsm.SlotCount
		} else {
			pfail = fsm.SlotCount
		}
	}
	var b strings.Builder
	line := func(k string, v any) { fmt.Fprintf(&b, "%s:%v\r\n", k, v) }
	line("cluster_state", state)
	line("cluster_slots_assigned", fsm.SlotCount)
	line("cluster_slots_ok", ok)
	line("cluster_slots_pfail", pfail)
	line("cluster_slots_fail", failed)
	line("cluster_known_nodes", len(f.nodes))
	line("cluster_size", 1)
	line("cluster_current_epoch", f.epoch)
	line("cluster_my_epoch", f.epoch)
	line("cluster_stats_messages_sent", 0)
	line("cluster_stats_messages_received", 0)
	line("total_cluster_links_buffer_limit_exceeded", 0)
	p.reply(resp.AppendBulkString(nil, b.String()))
}

func clusterMyidCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendBulkString(nil, nodeName(p.s.cl.Status().NodeID)))
}

func clusterKeyslotCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendInt(nil, int64(fsm.KeySlot(args[2]))))
}

// intArg reads an integer argument as Redis does; ok is false, with
// Redis's error answered, if it is not one.
func intArg(p *pipeline, arg []byte) (int64, bool) {
	n, ok := resp.ParseInt(arg)
	if !ok {
		p.reply(resp.AppendError(nil, resp.ErrNotInt))
	}
	return n, ok
}

// CLUSTER COUNTKEYSINSLOT slot: the live keys of the connection's
// database in slot, read as fresh as a GET on this connection would be.
func clusterCountkeysinslotCmd(p *pipeline, args [][]byte) {
	slot, ok := intArg(p, args[2])
	if !ok {
		return
	}
	if slot < 0 || slot >= fsm.SlotCount {
		p.reply(resp.AppendError(nil, "ERR Invalid slot"))
		return
	}
	if e := p.keyspaceGate(); e != nil {
		p.reply(e)
		return
	}
	p.reply(resp.AppendInt(nil, int64(p.s.fsm.CountKeysInSlot(p.st.db, p.s.cl.Now(), int(slot)))))
}

// CLUSTER GETKEYSINSLOT slot count: up to count of those keys. The reply
// is bounded by the keys there are, whatever count asks for.
func clusterGetkeysinslotCmd(p *pipeline, args [][]byte) {
	slot, ok := intArg(p, args[2])
	if !ok {
		return
	}
	count, ok := intArg(p, args[3])
	if !ok {
		return
	}
	if slot < 0 || slot >= fsm.SlotCount || count < 0 {
		p.reply(resp.AppendError(nil, "ERR Invalid slot or number of keys"))
		return
	}
	if e := p.keyspaceGate(); e != nil {
		p.reply(e)
		return
	}
	keys := p.s.fsm.KeysInSlot(p.st.db, p.s.cl.Now(), int(slot), int(min(count, 1<<31-1)))
	out := resp.AppendArray(nil, len(keys))
	for _, k := range keys {
		out = resp.AppendBulk(out, k)
	}
	p.reply(out)
}

// keyspaceGate is the read gate p.read applies, for a front-door command
// that reads the keyspace: local within the staleness bound on a READONLY
// connection, else after the read index. It returns the error to answer,
// or nil.
func (p *pipeline) keyspaceGate() []byte {
	if p.st.readonly {
		return p.s.staleReadError()
	}
	if p.readOK {
		return nil
	}
	// A node catching up sends its reads to the leader (p.read), which
	// answers keyspace commands only.
	behind := resp.AppendError(nil, "TRYAGAIN This node is catching up with the leader, retry")
	if p.viaLeader {
		return behind
	}
	err := p.barrier()
	if errors.Is(err, cluster.ErrBehind) {
		return behind
	}
	if err != nil {
		return errorReply(err)
	}
	p.readOK = true
	return nil
}

func clusterHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"COUNTKEYSINSLOT <slot>",
		"    Return the number of keys in <slot>.",
		"GETKEYSINSLOT <slot> <count>",
		"    Return key names stored by current node in a slot.",
		"INFO",
		"    Return information about the cluster.",
		"KEYSLOT <key>",
		"    Return the hash slot for <key>.",
		"MYID",
		"    Return the node id.",
		"NODES",
		"    Return cluster configuration seen by node. Output format:",
		"    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
		"SLOTS",
		"    Return information about slots range mappings. Each range is made of:",
		"    start, end, master and replicas IP addresses, ports and ids",
		"SHARDS",
		"    Return information about slot range mappings and the nodes associated with them.",
		"HELP",
		"    Prints this help.",
	))
}
