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
}

func (a *adapter) ApplyBatch(logs []*raft.Log) []any {
	resp := make([]any, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			a.f.SetApplied(l.Index) // configuration entries: nothing to apply
			continue
		}
		e, err := fsm.DecodeEntry(l.Data)
		if err != nil {
			// A replica that cannot read its own log must stop rather than
			// diverge from the others.
			panic(fmt.Sprintf("statehouse: log entry %d: %v", l.Index, err))
		}
		resp[i] = a.f.Apply(l.Index, e)
		for _, r := range e.Reqs {
			if len(r.Ops) > 0 {
				a.lastData.Store(l.Index)
				break
			}
		}
	}
	if len(logs) > 0 {
		a.applied.advance(logs[len(logs)-1].Index)
	}
	return resp
}

func (a *adapter) Apply(l *raft.Log) any { return a.ApplyBatch([]*raft.Log{l})[0] }

func (a *adapter) Snapshot() (raft.FSMSnapshot, error) {
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
