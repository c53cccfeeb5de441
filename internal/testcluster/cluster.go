package testcluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Options shape a cluster or a single node.
type Options struct {
	Args []string // extra flags for every node
	// OpenFiles, if set, is the open-files limit (ulimit -n) the nodes run
	// with.
	OpenFiles int
	// DataRoot, if set, holds the nodes' data dirs (DataRoot/n1...), as
	// a small disk a test fills; else each gets a temporary dir.
	DataRoot string
	// Gossip forms the cluster as an operator does with gossip: every
	// node gets --bootstrap-expect N and --join with the others' gossip
	// addresses, instead of --initial-cluster.
	Gossip bool
	// TLS gives every node a TLS client port too (Node.TLSPort), beside
	// the plaintext one the helpers probe; the test gives the
	// certificate flags in Args (a server certificate from a CA: NewCA).
	TLS bool
	// NodeArgs, if set, gives one node's own extra flags (its certificate
	// for --tls-cluster, say).
	NodeArgs func(id string) []string
}

// command is how a node is started: the binary and its flags, under a
// shell that lowers the open-files limit when opts asks for it.
func (o Options) command(bin string, flags ...string) []string {
	args := append(append([]string{bin}, flags...), o.Args...)
	if o.OpenFiles > 0 {
		args = append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, o.OpenFiles)}, args...)
	}
	return args
}

// Cluster is N statehouse processes formed with --initial-cluster.
type Cluster struct {
	t     testing.TB
	Nodes []*Node
}

// Start runs n nodes formed with --initial-cluster and waits until one of
// them leads and every node takes writes.
func Start(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	bin := Binary(t)
	c := &Cluster{t: t}
	var initial []string
	for i := 0; i < n; i++ {
		nd := newNode(t, fmt.Sprintf("n%d", i+1), opts)
		initial = append(initial, fmt.Sprintf("%s=127.0.0.1:%d", nd.ID, nd.PeerPort))
		c.Nodes = append(c.Nodes, nd)
	}
	for _, nd := range c.Nodes {
		form := []string{"--initial-cluster", strings.Join(initial, ",")}
		if opts.Gossip {
			form = []string{"--bootstrap-expect", strconv.Itoa(n), "--join", c.gossipAddrs(nd)}
		}
		flags := append(nodeFlags(nd), form...)
		if opts.NodeArgs != nil {
			flags = append(flags, opts.NodeArgs(nd.ID)...)
		}
		nd.args = opts.command(bin, flags...)
	}
	cleanupNodes(t, c.Nodes)
	for _, nd := range c.Nodes {
		nd.Start()
	}
	c.Leader()
	for _, nd := range c.Nodes {
		nd.WaitWritable()
	}
	return c
}

func nodeFlags(nd *Node) []string {
	flags := []string{"--node-id", nd.ID, "--bind", "127.0.0.1",
		"--port", strconv.Itoa(nd.Port), "--peer-port", strconv.Itoa(nd.PeerPort),
		"--data-dir", nd.DataDir, "--heartbeat-timeout", "300ms", "--election-timeout", "300ms",
		"--cluster-secret", "testcluster"}
	if nd.GossipPort != 0 {
		flags = append(flags, "--gossip-port", strconv.Itoa(nd.GossipPort))
	}
	if nd.TLSPort != 0 {
		flags = append(flags, "--tls-port", strconv.Itoa(nd.TLSPort))
	}
	return flags
}

// gossipAddrs lists the gossip addresses of the cluster's nodes but not.
func (c *Cluster) gossipAddrs(not *Node) string {
	var addrs []string
	for _, nd := range c.Nodes {
		if nd != not && nd.GossipPort != 0 {
			addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", nd.GossipPort))
		}
	}
	return strings.Join(addrs, ",")
}

// Join starts one more node that joins the cluster through gossip (the
// cluster was started with Options.Gossip) and returns at once: the
// leader adds it.
func (c *Cluster) Join(opts Options) *Node {
	c.t.Helper()
	opts.Gossip = true
	nd := newNode(c.t, fmt.Sprintf("n%d", len(c.Nodes)+1), opts)
	nd.args = opts.command(Binary(c.t), append(nodeFlags(nd), "--join", c.gossipAddrs(nd))...)
	c.Nodes = append(c.Nodes, nd)
	cleanupNodes(c.t, []*Node{nd})
	nd.Start()
	return nd
}

// StartSingle runs one node as a user starts statehouse alone (no
// --initial-cluster: it bootstraps itself) and waits until it takes
// writes. Term or Kill it and Start it again on the same data dir.
func StartSingle(t testing.TB, opts Options) *Node {
	t.Helper()
	nd := newNode(t, "n1", opts)
	flags := []string{"--node-id", nd.ID, "--bind", "127.0.0.1",
		"--port", strconv.Itoa(nd.Port), "--peer-port", strconv.Itoa(nd.PeerPort),
		"--data-dir", nd.DataDir,
	}
	if nd.TLSPort != 0 {
		flags = append(flags, "--tls-port", strconv.Itoa(nd.TLSPort))
	}
	nd.args = opts.command(Binary(t), flags...)
	cleanupNodes(t, []*Node{nd})
	nd.Start()
	nd.WaitWritable()
	return nd
}

// cleanupNodes kills the nodes when the test ends, and prints their logs
// if it failed.
func cleanupNodes(t testing.TB, nodes []*Node) {
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.cleanup()
		}
		if t.Failed() {
			for _, nd := range nodes {
				t.Logf("--- log of %s ---\n%s", nd.ID, nd.Log())
			}
		}
	})
}

// Leader waits until exactly one running node reports itself master and
// takes a write, for up to LeaderTimeout, and returns it.
func (c *Cluster) Leader() *Node {
	c.t.Helper()
	return c.waitLeader(nil)
}

// WaitForNewLeader waits until a node other than old leads and takes a
// write, for up to LeaderTimeout, and returns it. old may be killed, paused
// or still running.
func (c *Cluster) WaitForNewLeader(old *Node) *Node {
	c.t.Helper()
	return c.waitLeader(old)
}

func (c *Cluster) waitLeader(not *Node) *Node {
	c.t.Helper()
	var leader *Node
	err := Poll(LeaderTimeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		defer cancel()
		var candidates []*Node
		for _, n := range c.Nodes {
			if n != not && n.Running() {
				candidates = append(candidates, n)
			}
		}
		// Ask in parallel: a paused node answers only when ctx runs out.
		roles := make([]string, len(candidates))
		var wg sync.WaitGroup
		for i, n := range candidates {
			wg.Add(1)
			go func() { defer wg.Done(); roles[i] = n.Role(ctx) }()
		}
		wg.Wait()
		var masters []*Node
		var seen []string
		for i, n := range candidates {
			if roles[i] == "master" {
				masters = append(masters, n)
			}
			seen = append(seen, fmt.Sprintf("%s=%q", n.ID, roles[i]))
		}
		if len(masters) != 1 {
			return fmt.Errorf("%d nodes report role master (%s)", len(masters), strings.Join(seen, " "))
		}
		if err := masters[0].probe(ctx); err != nil {
			return fmt.Errorf("%s reports master but does not take a write: %w", masters[0].ID, err)
		}
		leader = masters[0]
		return nil
	})
	if err != nil {
		if not != nil {
			c.t.Fatalf("no new leader other than %s within %v: %v", not.ID, LeaderTimeout, err)
		}
		c.t.Fatalf("no leader within %v: %v", LeaderTimeout, err)
	}
	return leader
}

// Followers are the running nodes other than leader.
func (c *Cluster) Followers(leader *Node) []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if n != leader && n.Running() {
			out = append(out, n)
		}
	}
	return out
}
