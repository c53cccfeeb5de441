package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func stampedOp(ignorable bool, args ...string) fsm.Op {
	op := fsm.Op{Version: 1, Ignorable: ignorable}
	for _, a := range args {
		op.Args = append(op.Args, []byte(a))
	}
	return op
}

// appendRaw commits an entry as a newer build's leader would write it,
// through Raft itself: the stamping that guards this build's proposer is
// not in the way.
func appendRaw(t *testing.T, leader *Node, e fsm.Entry) uint64 {
	t.Helper()
	e.Now = time.Now().UnixMilli()
	fut := leader.raft.Apply(e.Encode(nil), applyEnqueueTimeout)
	if err := fut.Error(); err != nil {
		t.Fatalf("append: %v", err)
	}
	return fut.Index()
}

// A committed entry holding a command this build does not know (here
// statehouse.future, as a newer build would write it) stops every node that learns it
// is committed: none applies any of the entry, each says which entry and
// why, and a restart stops at the same entry again, since no snapshot was
// taken past it. (The last node standing may never learn that the entry
// committed: without a quorum it serves nothing either.)
func TestEntryFromNewerBuildStopsTheNode(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	set(t, leader, "before", "1")
	index := appendRaw(t, leader, fsm.Entry{Reqs: []fsm.Request{
		{Ops: []fsm.Op{stampedOp(false, "SET", "x", "1")}},
		{Ops: []fsm.Op{stampedOp(false, "statehouse.future", "recent", "a")}},
	}})
	check := func(round string) {
		t.Helper()
		// The first node to apply the entry stops; then the others, as they
		// learn it committed, until no quorum is left.
		var first *Node
		testcluster.Eventually(t, round+": a node stops at entry "+fmt.Sprint(index), func() error {
			for _, n := range tc.nodes {
				if n.HaltErr() != nil {
					first = n
					return nil
				}
			}
			return errors.New("every node still runs")
		})
		var h *HaltError
		if err := first.HaltErr(); !errors.As(err, &h) || h.Index != index ||
			!strings.Contains(err.Error(), "'statehouse.future'") || !strings.Contains(err.Error(), "newer statehouse") {
			t.Fatalf("%s: %s stopped with %v", round, first.cfg.NodeID, err)
		}
		t.Logf("%s: %s stopped: %v", round, first.cfg.NodeID, first.HaltErr())
		if get(first, "before") != "$1\r\n1\r\n" {
			t.Errorf("%s: %s stopped at entry %d without the entries before it", round, first.cfg.NodeID, index)
		}
		for _, n := range tc.nodes {
			n.Shutdown() // for a halted node, waits for the shutdown the halt started
			if err := n.HaltErr(); err != nil && err.Error() != first.HaltErr().Error() {
				t.Errorf("%s: %s stopped with %v", round, n.cfg.NodeID, err)
			}
			if applied := n.FSM().Applied(); applied >= index {
				t.Errorf("%s: %s applied up to %d, past the entry it cannot apply (%d)", round, n.cfg.NodeID, applied, index)
			}
			if get(n, "x") != "$-1\r\n" {
				t.Errorf("%s: %s applied part of the entry: x=%q", round, n.cfg.NodeID, get(n, "x"))
			}
		}
	}
	check("first run")
	// Restarted on their data dirs, the nodes elect a leader, learn that
	// the entry is committed, and stop at it again.
	for i := range tc.nodes {
		tc.restart(i)
	}
	check("after a restart")
}

// An op that a newer build marked ignorable is skipped; the rest of its
// entry applies and the cluster goes on.
func TestIgnorableOpFromNewerBuild(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	appendRaw(t, leader, fsm.Entry{Reqs: []fsm.Request{{Ops: []fsm.Op{
		stampedOp(true, "statehouse.hint", "x"),
		stampedOp(false, "SET", "x", "1"),
	}}}})
	set(t, leader, "after", "2")
	for _, n := range tc.nodes {
		if err := n.ReadBarrier(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n.HaltErr() != nil || get(n, "x") != "$1\r\n1\r\n" || get(n, "after") != "$1\r\n2\r\n" {
			t.Fatalf("%s: halted %v, x=%q after=%q", n.cfg.NodeID, n.HaltErr(), get(n, "x"), get(n, "after"))
		}
	}
}

// The leader puts in the log only what its build can apply: a command it
// does not know, forwarded by a follower (a newer build's, or a peer's
// garbage), is refused with a reason and never reaches the log.
func TestLeaderRefusesWhatItCannotReplicate(t *testing.T) {
	tc := newTestCluster(t, 3)
	leader := tc.leader()
	f := tc.followers()[0]
	before := leader.raft.LastIndex()
	_, _, err := f.Propose(context.Background(), fsm.Request{Ops: []fsm.Op{stampedOp(false, "statehouse.future", "l", "a")}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unknown command 'statehouse.future'") {
		t.Fatalf("forwarded statehouse.future: %v, want ErrRefused", err)
	}
	for _, n := range tc.nodes {
		for i := before + 1; i <= n.raft.LastIndex(); i++ {
			var l raft.Log
			if n.store.GetLog(i, &l) == nil && strings.Contains(string(l.Data), "statehouse.future") {
				t.Fatalf("%s: the refused op is in the log at %d", n.cfg.NodeID, i)
			}
		}
	}
	set(t, f, "still", "works")
	if err := leader.HaltErr(); err != nil {
		t.Fatalf("leader halted: %v", err)
	}
}
