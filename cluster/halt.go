package cluster

import (
	"errors"
	"fmt"

	"github.com/statehouse/statehouse/fsm"
)

// A node stops when it meets a committed entry it cannot apply as its peers
// do: one written by a newer statehouse (a command, a version of one, or a
// format this build does not know) or one it cannot decode. Applying it
// differently, or skipping it, would make this replica serve data no other
// has; stopping loses nothing, since the entry stays in the log for a
// build that can apply it. Nothing of the entry, nor anything after it,
// is applied, and no snapshot is taken past it, so a restart meets the
// same entry and stops again with the same reason.

// HaltError is why a node stopped applying its log.
type HaltError struct {
	Index uint64 // the entry that could not apply
	Err   error  // from fsm.DecodeEntry or fsm.Check
}

func (h *HaltError) Unwrap() error { return h.Err }

func (h *HaltError) Error() string {
	var unknown *fsm.UnknownOpError
	if errors.As(h.Err, &unknown) || errors.Is(h.Err, fsm.ErrNewerEntry) {
		return fmt.Sprintf("log entry %d was written by a newer statehouse: %v; "+
			"this node stopped without applying it, so as not to diverge from its peers: upgrade it", h.Index, h.Err)
	}
	if errors.Is(h.Err, fsm.ErrChecksum) {
		return fmt.Sprintf("log entry %d is damaged on disk: %v; this node stopped without applying it. "+
			"To recover, stop it, move its data dir aside and start it with an empty one, the same --node-id and --join "+
			"to its peers: it takes no vote until it has caught up from them", h.Index, h.Err)
	}
	return fmt.Sprintf("log entry %d cannot be applied: %v; "+
		"this node stopped without applying it, so as not to diverge from its peers", h.Index, h.Err)
}

// halt is called by the adapter, on Raft's apply goroutine, when an entry
// cannot apply: it reports why and shuts the node down from another
// goroutine (Shutdown waits for that one).
func (n *Node) halt(h *HaltError) {
	n.haltOnce.Do(func() {
		n.log.Error("stopping: the log holds an entry this node cannot apply", "index", h.Index, "err", h.Err)
		n.haltErr = h
		close(n.halted)
		go n.Shutdown()
	})
}

// Halted is closed when the node stops because its log holds an entry it
// cannot apply; HaltErr then says which and why. The process should exit
// with that error.
func (n *Node) Halted() <-chan struct{} { return n.halted }

// HaltErr is why the node halted, or nil.
func (n *Node) HaltErr() error {
	select {
	case <-n.halted:
		return n.haltErr
	default:
		return nil
	}
}
