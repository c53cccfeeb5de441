package cluster

import (
	"context"
	"sync"
)

// indexWaiter lets goroutines wait until the fsm has applied an index.
type indexWaiter struct {
	mu  sync.Mutex
	idx uint64
	ch  chan struct{} // closed and replaced on every advance
}

func newIndexWaiter() *indexWaiter { return &indexWaiter{ch: make(chan struct{})} }

func (w *indexWaiter) advance(i uint64) {
	w.mu.Lock()
	if i > w.idx {
		w.idx = i
		close(w.ch)
		w.ch = make(chan struct{})
	}
	w.mu.Unlock()
}

func (w *indexWaiter) index() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idx
}

// wait returns once the applied index is at least i.
func (w *indexWaiter) wait(ctx context.Context, i uint64) error {
	for {
		w.mu.Lock()
		if w.idx >= i {
			w.mu.Unlock()
			return nil
		}
		ch := w.ch
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
