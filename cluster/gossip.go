package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// Discovery. With a gossip address every node runs memberlist: nodes find
// each other from any one address given to --join, and each tells the
// others (in its node meta) its peer and client addresses, its
// --bootstrap-expect and whether it already belongs to a cluster. The
// gossip is what a leader reads to add new nodes to Raft and what
// autopilot reads to tell live servers from dead ones (membership.go).
//
// Gossip is encrypted and authenticated with --gossip-key, or, without
// one, a key derived from the cluster secret: nodes with different
// secrets cannot read each other's gossip and never merge.

// gossipMeta is what a node tells the others about itself; memberlist
// carries at most 512 bytes of it.
type gossipMeta struct {
	Peer    string `json:"p"`           // Raft peer address
	Client  string `json:"c,omitempty"` // RESP address for clients
	Expect  int    `json:"e,omitempty"` // --bootstrap-expect
	Member  bool   `json:"m,omitempty"` // has Raft state: belongs to a cluster
	Cluster string `json:"k,omitempty"` // the cluster's id (clusterid.go)
	// Life is random for each start of the node: a member removed in one
	// life is added back only in another (membership.go).
	Life string `json:"l,omitempty"`
}

// gossipMember is one node as gossip last told of it.
type gossipMember struct {
	ID     string
	Addr   string // its gossip address
	Meta   gossipMeta
	Status autopilot.NodeStatus
	Since  time.Time // when it took that status
}

type gossip struct {
	n       *Node
	ml      *memberlist.Memberlist
	mu      sync.Mutex
	members map[string]*gossipMember // by node id, this node too
	changed chan struct{}            // a member joined, left or changed
	member  bool                     // this node has Raft state
	cluster string                   // the id of its cluster
	life    string                   // gossipMeta.Life

	leaveOnce sync.Once
}

// gossipKeys are the keys gossip is encrypted with, the first used to
// send: --gossip-key's, else one derived from the cluster secret, else
// none.
func gossipKeys(cfg Config) [][]byte {
	if len(cfg.GossipKeys) > 0 {
		return cfg.GossipKeys
	}
	if cfg.Secret == "" {
		return nil
	}
	k := sha256.Sum256([]byte("statehouse gossip key\x00" + cfg.Secret))
	return [][]byte{k[:]}
}

// startGossip creates this node's memberlist on cfg.GossipAddr.
func (n *Node) startGossip(member bool) (*gossip, error) {
	g := &gossip{n: n, members: map[string]*gossipMember{}, changed: make(chan struct{}, 1), member: member,
		life: hex.EncodeToString(nonce()[:6])}
	host, port, err := splitHostPort(n.cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip address: %w", err)
	}
	mc := memberlist.DefaultLANConfig()
	if n.cfg.GossipFast {
		mc = memberlist.DefaultLocalConfig()
	}
	mc.Name = n.cfg.NodeID
	mc.BindAddr, mc.BindPort = host, port
	if n.cfg.GossipAdvertise != "" {
		if mc.AdvertiseAddr, mc.AdvertisePort, err = splitHostPort(n.cfg.GossipAdvertise); err != nil {
			return nil, fmt.Errorf("gossip advertise address: %w", err)
		}
	} else if adv, _, err := net.SplitHostPort(n.self()); err == nil && net.ParseIP(host).IsUnspecified() && net.ParseIP(adv) != nil {
		mc.AdvertiseAddr, mc.AdvertisePort = adv, port // peers reach us where Raft does
	}
	// A node back under its name at a new address (a container's new IP)
	// takes the name over at once if it left, or once it has been dead
	// this long if it crashed; memberlist's default never lets it.
	mc.DeadNodeReclaimTime = gossipReclaimTime
	if keys := gossipKeys(n.cfg); len(keys) > 0 {
		// Every key decrypts; the first encrypts. Rotation: add the new
		// key second on every node, then first, then drop the old one.
		if mc.Keyring, err = memberlist.NewKeyring(keys, keys[0]); err != nil {
			return nil, fmt.Errorf("gossip key: %w", err)
		}
	}
	mc.Delegate = g
	mc.Events = g
	mc.Alive = g
	mc.Logger = log.New(&memberlistLog{log: n.log.With("component", "memberlist")}, "", 0)
	if len(g.meta()) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("node id and addresses too long to gossip (%d bytes, at most %d)", len(g.meta()), memberlist.MetaMaxSize)
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, err
	}
	g.ml = ml
	n.log.Info("gossip listening", "addr", n.cfg.GossipAddr, "encrypted", mc.Keyring != nil)
	return g, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

func (g *gossip) meta() []byte {
	g.mu.Lock()
	m := gossipMeta{Peer: g.n.self(), Client: g.n.cfg.ClientAddr, Expect: g.n.cfg.BootstrapExpect, Member: g.member,
		Cluster: g.cluster, Life: g.life}
	g.mu.Unlock()
	b, _ := json.Marshal(m)
	return b
}

// setMember tells the others this node now belongs to cluster id.
func (g *gossip) setMember(id string) {
	g.mu.Lock()
	changed := !g.member || g.cluster != id
	g.member, g.cluster = true, id
	g.mu.Unlock()
	if changed {
		g.ml.UpdateNode(gossipUpdateTimeout)
	}
}

// join asks the nodes at addrs (host:port; names are resolved again on
// every try, so a DNS name that lists nodes as they start works) until
// one other than this node answers, backing off between rounds.
func (g *gossip) join(addrs []string, stop <-chan struct{}) {
	wait := joinRetryMin
	for {
		n, err := g.ml.Join(addrs)
		if n > 0 && g.ml.NumMembers() > 1 {
			g.n.log.Info("joined gossip", "contacted", n, "members", g.ml.NumMembers())
			return
		}
		g.n.log.Info("no node to join yet; trying again", "join", addrs, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-stop:
			return
		}
		wait = min(2*wait, joinRetryMax)
	}
}

// rejoinFailed asks members gossip has given up on to join again.
// memberlist does not probe a node it declared dead: one cut off longer
// than that (a long partition) would stay failed after the network
// healed, healthy in Raft, until autopilot removed it past the grace.
func (g *gossip) rejoinFailed() {
	var addrs []string
	for _, m := range g.Members() {
		if m.Status == autopilot.NodeFailed && m.Addr != "" {
			addrs = append(addrs, m.Addr)
		}
	}
	if len(addrs) == 0 {
		return
	}
	if n, _ := g.ml.Join(addrs); n > 0 {
		g.n.log.Info("gossip reached members it had given up on", "members", n)
	}
}

// Members returns gossip's view, this node included, sorted by id.
func (g *gossip) Members() []gossipMember {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]gossipMember, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// leave tells the others this node is going and stops gossip; only the
// first call does anything (memberlist panics on a Leave after Shutdown).
func (g *gossip) leave() {
	g.leaveOnce.Do(func() {
		if err := g.ml.Leave(gossipLeaveTimeout); err != nil {
			g.n.log.Info("left gossip without word from the others (none may be left to hear)", "err", err)
		}
		g.ml.Shutdown()
	})
}

// stop stops gossip without a word to the others, who see this node fail.
func (g *gossip) stop() {
	g.leaveOnce.Do(func() { g.ml.Shutdown() })
}

func (g *gossip) note(node *memberlist.Node, status autopilot.NodeStatus) {
	var meta gossipMeta
	if err := json.Unmarshal(node.Meta, &meta); err != nil || meta.Peer == "" {
		g.n.log.Warn("ignoring a gossip member without statehouse meta", "name", node.Name, "addr", node.Address())
		return
	}
	g.mu.Lock()
	m := g.members[node.Name]
	if m == nil {
		m = &gossipMember{ID: node.Name}
		g.members[node.Name] = m
	}
	if m.Status != status {
		m.Since = time.Now()
	}
	m.Meta, m.Status, m.Addr = meta, status, node.Address()
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// memberlist.Delegate

func (g *gossip) NodeMeta(limit int) []byte {
	b := g.meta()
	if len(b) > limit {
		return nil // checked at start; never more than memberlist carries
	}
	return b
}
func (g *gossip) NotifyMsg([]byte)                           {}
func (g *gossip) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (g *gossip) LocalState(join bool) []byte                { return nil }
func (g *gossip) MergeRemoteState(buf []byte, join bool)     {}

// memberlist.EventDelegate

func (g *gossip) NotifyJoin(node *memberlist.Node)   { g.note(node, autopilot.NodeAlive) }
func (g *gossip) NotifyUpdate(node *memberlist.Node) { g.note(node, autopilot.NodeAlive) }
func (g *gossip) NotifyLeave(node *memberlist.Node) {
	if node.State == memberlist.StateLeft {
		g.note(node, autopilot.NodeLeft)
	} else {
		g.note(node, autopilot.NodeFailed)
	}
}

// memberlist.AliveDelegate: a node whose meta is not statehouse's (another
// program on the gossip port) is not taken as a peer.
func (g *gossip) NotifyAlive(node *memberlist.Node) error {
	var meta gossipMeta
	if err := json.Unmarshal(node.Meta, &meta); err != nil || meta.Peer == "" {
		return errors.New("not a statehouse node")
	}
	return nil
}

// memberlistLog writes memberlist's log lines ("[WARN] memberlist: ...")
// onto the node's slog logger at their level.
type memberlistLog struct{ log *slog.Logger }

func (l *memberlistLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSpace(p))
	level := slog.LevelInfo
	for prefix, lv := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			level, line = lv, rest
			break
		}
	}
	l.log.Log(context.Background(), level, strings.TrimPrefix(line, " memberlist: "))
	return len(p), nil
}
