package cluster

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/statehouse/statehouse/fsm"
)

// adapter is the raft.BatchingFSM: it only translates log entries to
// fsm.Apply calls and announces the applied index.
type adapter struct {
	f       *fsm.FSM
	applied *indexWaiter
	// lastData is the index of the newest applied entry that carried an
	// operation; entries after it (leader barriers, commit nudges) left
	// the keyspace as it was. Stored before applied advances past it.
	lastData atomic.Uint64
	// halt is called, once, when an entry cannot be applied (see halt.go);
	// from then on nothing applies and no snapshot is taken.
	halt   func(*HaltError)
	halted atomic.Pointer[HaltError]
}

func (a *adapter) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	var last uint64
	for i, l := range logs {
		if h := a.halted.Load(); h != nil {
			resp[i] = h // nothing after an entry that cannot apply applies
			continue
		}
		if l.Type != raft.LogCommand {
			a.f.SetApplied(l.Index) // configuration entries: nothing to apply
			last = l.Index
			continue
		}
		e, err := fsm.DecodeEntry(l.Data)
		if err == nil {
			err = fsm.Check(e)
		}
		if err != nil {
			// A replica that cannot apply an entry as its peers do must stop
			// rather than diverge from them.
			h := &HaltError{Index: l.Index, Err: err}
			a.halted.Store(h)
			resp[i] = h
			a.halt(h)
			continue
		}
		resp[i] = a.f.Apply(l.Index, e)
		last = l.Index
		for _, r := range e.Reqs {
			if len(r.Ops) > 0 {
				a.lastData.Store(l.Index)
				break
			}
		}
	}
	if last > 0 {
		a.applied.advance(last)
	}
	return resp
}

func (a *adapter) Apply(l *raft.Log) any { return a.ApplyBatch([]*raft.Log{l})[0] }

func (a *adapter) Snapshot() (raft.FSMSnapshot, error) {
	if h := a.halted.Load(); h != nil {
		// The keyspace stops short of the index Raft would label it with.
		return nil, h
	}
	return &fsmSnapshot{s: a.f.Snapshot()}, nil
}

func (a *adapter) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := a.f.Restore(rc); err != nil {
		return err
	}
	a.lastData.Store(a.f.Applied()) // what the snapshot holds is unknown: assume data
	a.applied.advance(a.f.Applied())
	return nil
}

type fsmSnapshot struct{ s *fsm.Snapshot }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}
