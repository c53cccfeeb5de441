package main

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Backend runs a statehouse cluster that the harness reaches over the
// network, and injects faults into it. The harness never looks inside a
// node: it talks RESP to ClientAddr and asks the backend for faults.
//
// Implemented: "local" (processes in Linux network namespaces on this
// machine, see local.go). Planned: "docker", a docker-compose project with
// one container per node on a compose network: Start/Kill/Pause map to
// `docker compose start`, `docker kill -s KILL`, `docker pause`;
// Partition and Shape run iptables/tc inside the containers (cap NET_ADMIN);
// extra flags for one start (the clock nemesis) go in through the
// STATEHOUSE_* environment twins; FillDisk/FreeDisk give each service a
// `tmpfs` volume of DiskSize and fill it with `docker exec fallocate`.
type Backend interface {
	Name() string
	// Setup creates the network and starts every node. The nodes may not
	// have elected a leader yet when it returns.
	Setup(ctx context.Context) error
	// Teardown stops every process and removes everything Setup created.
	// It is safe after a failed Setup and safe to call twice.
	Teardown() error

	Nodes() []string               // node ids of the members, n1..nN at first
	ClientAddr(node string) string // host:port of the node's RESP port, as the harness reaches it
	LogPath(node string) string    // the node's stdout/stderr, if the backend keeps one

	// Start starts a stopped node on its data dir; extra flags apply to
	// this start only (the clock nemesis starts a node with
	// --debug-clock-offset).
	Start(node string, extra []string) error
	Kill(node string) error   // kill -9: no snapshot, no clean close
	Pause(node string) error  // SIGSTOP
	Resume(node string) error // SIGCONT
	Running(node string) bool // the process exists (it may be paused)

	// Partition makes each node drop every packet it receives from the
	// peers listed for it, replacing any earlier partition. Nodes not
	// listed hear everyone. Traffic from the harness's clients is never
	// dropped: clients see a partitioned node the way a web tier next to
	// it would.
	Partition(drops map[string][]string) error
	// Shape delays and/or drops packets between nodes.
	Shape(s Shape) (mechanism string, err error)
	// DelayInbound holds every packet node receives from its peers for d
	// before handing it on (what it sends, and client traffic, go at
	// once). Packets already held are handed on even after a Partition
	// that drops newer ones, as a slow link's queue drains.
	DelayInbound(node string, d time.Duration) (mechanism string, err error)
	// HealNetwork removes every partition and every shaping.
	HealNetwork() error

	// FillDisk fills the filesystem holding the node's data dir until no
	// space is left and says what it did; FreeDisk removes what FillDisk
	// wrote (nothing to do when it wrote nothing). FillDisk needs every
	// node to have a filesystem of its own (BackendConfig.DiskSize).
	FillDisk(node string) (string, error)
	FreeDisk(node string) error
}

// Shape is a network fault: delay (with jitter) and random loss.
type Shape struct {
	Delay  time.Duration
	Jitter time.Duration
	Loss   float64 // 0..1
}

// Membership is for backends that can change which nodes exist; the
// membership nemeses (membership.go) need it. Nodes() lists the members:
// nodes started by Setup or AddNode and not retired. The harness decides
// what Raft does with them through the nodes themselves (gossip, the
// statehouse binary's operator commands), never through the backend.
type Membership interface {
	// AddNode creates a brand-new node (the next id: n4, n5, ...), starts
	// it with an empty data dir and --join to the members, and returns its
	// id; the cluster's leader adds it through gossip.
	AddNode() (string, error)
	// Wipe deletes a stopped node's data: its next Start is an empty node
	// with the same id and address.
	Wipe(node string) error
	// Stop sends SIGTERM and waits up to timeout for the process to exit,
	// then kills it; it says how the process ended.
	Stop(node string, timeout time.Duration) (string, error)
	// Retire takes a stopped node out of Nodes() for good: nothing starts
	// it again; teardown still cleans up after it and its log is kept.
	Retire(node string) error
	// AllNodes lists every node that ever ran, retired ones too.
	AllNodes() []string
	// Operator runs the statehouse binary's operator command cmd
	// (`statehouse remove ID`) against the node via and returns its output.
	Operator(ctx context.Context, via, cmd string, args ...string) (string, error)
}

// UnsupportedError means this machine cannot run the backend (not root,
// no network namespaces, missing tools). The command exits with
// ExitUnsupported and the tests skip.
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string { return "unsupported here: " + e.Reason }

func unsupported(format string, a ...any) error {
	return &UnsupportedError{Reason: fmt.Sprintf(format, a...)}
}

// IsUnsupported reports whether err says the backend cannot run here.
func IsUnsupported(err error) bool {
	var u *UnsupportedError
	return errors.As(err, &u)
}

// BackendConfig is what every backend needs to know.
type BackendConfig struct {
	Nodes       int
	Binary      string   // the statehouse binary
	NodeArgs    []string // extra flags for every node, every start
	RaftTimeout time.Duration
	Dir         string // where nodes keep data and logs
	// DiskSize > 0 gives each node's data dir a filesystem of its own of
	// that many bytes, for the disk-full fault.
	DiskSize int64
	Logf     func(format string, a ...any)
	// Gossip forms the cluster by gossip (--gossip-port, --join,
	// --bootstrap-expect) instead of --initial-cluster; nodes can then
	// join it (Membership).
	Gossip bool
	// OnCrash is called when a node's process exits without the harness
	// having killed it: a crash, which the run reports as an anomaly.
	OnCrash func(node, status string)
	// Secure runs the nodes with TLS on clients and peers, a password and
	// ACL users (secure.go).
	Secure bool
}

func newBackend(name string, cfg BackendConfig) (Backend, error) {
	switch name {
	case "local":
		return newLocal(cfg), nil
	case "docker":
		return nil, fmt.Errorf("backend docker: not implemented yet (see the Backend comment in backend.go)")
	}
	return nil, fmt.Errorf("unknown backend %q (local, docker)", name)
}
