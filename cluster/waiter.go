package cluster

import (
	"context"
	"sync"
	"sync/atomic"
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

// broadcast wakes every waiter at once: wait returns a channel that the
// next notify closes. Take the channel before checking the condition it
// announces, and check again after it closes, so no change is missed.
// The zero value is ready to use.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{} // nil until someone waits
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

func (b *broadcast) notify() {
	b.mu.Lock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
	b.mu.Unlock()
}

// raiseTo sets a to v unless it already holds as much: a maximum that
// many goroutines raise at once.
func raiseTo(a *atomic.Uint64, v uint64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
