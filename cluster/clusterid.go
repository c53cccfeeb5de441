package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/hashicorp/raft"
)

// Every cluster has an id, kept in each member's stable store and told in
// gossip, so a leader can tell a former member coming back with its data
// (added again: its log is a prefix of this cluster's) from a node of
// another cluster (never added: the leader would overwrite its log).
//
// Members that bootstrap together derive the same id from the same first
// configuration; a node the leader adds takes the leader's; a cluster made
// before ids existed gets a random one from its leader.

var clusterIDKey = []byte("statehouse_cluster_id")

// bootstrapID is the id of a cluster bootstrapped with servers: the same
// on every member that bootstraps with the same list.
func bootstrapID(servers []raft.Server) string {
	lines := make([]string, len(servers))
	for i, s := range servers {
		lines[i] = fmt.Sprintf("%s=%s", s.ID, s.Address)
	}
	sort.Strings(lines)
	h := sha256.New()
	for _, l := range lines {
		h.Write([]byte(l + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func randomID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ClusterID is the id of the cluster this node belongs to ("" before it
// knows).
func (n *Node) ClusterID() string {
	v, err := n.store.Get(clusterIDKey)
	if err != nil {
		return ""
	}
	return string(v)
}

func (n *Node) setClusterID(id string) error {
	if err := n.store.Set(clusterIDKey, []byte(id)); err != nil {
		return fmt.Errorf("storing the cluster id: %w", err)
	}
	n.log.Info("cluster id", "id", id)
	return nil
}

// learnClusterID gives a member with Raft state and no id one: the
// leader's, from gossip, or a new one if it is the leader.
func (m *membership) learnClusterID() {
	if m.n.ClusterID() != "" {
		return
	}
	_, leader := m.n.raft.LeaderWithID()
	if string(leader) == m.n.cfg.NodeID {
		m.n.setClusterID(randomID())
		return
	}
	for _, gm := range m.g.Members() {
		if gm.ID == string(leader) && gm.Meta.Cluster != "" {
			m.n.setClusterID(gm.Meta.Cluster)
			return
		}
	}
}
