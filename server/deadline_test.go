package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// A command's context expires between Timeout and Timeout plus a tick
// from when it asked, and commands asking within one tick share it.
func TestDeadlinesShareATick(t *testing.T) {
	d := newDeadlines(50 * time.Millisecond)
	var wg sync.WaitGroup
	ctxs := make([]context.Context, 64)
	asked := time.Now()
	for i := range ctxs {
		wg.Add(1)
		go func() { defer wg.Done(); ctxs[i] = d.get() }()
	}
	wg.Wait()
	distinct := map[context.Context]bool{}
	for _, c := range ctxs {
		distinct[c] = true
		dl, ok := c.Deadline()
		if !ok {
			t.Fatal("no deadline")
		}
		if got := dl.Sub(asked); got < 50*time.Millisecond || got > 50*time.Millisecond+deadlineTick+20*time.Millisecond {
			t.Fatalf("deadline %v after asking, want 50ms to 50ms plus a tick", got)
		}
	}
	if len(distinct) > 3 { // 64 calls at once span a tick or two, not 64
		t.Fatalf("%d contexts for 64 calls at once", len(distinct))
	}
	<-ctxs[0].Done()
	if !errors.Is(ctxs[0].Err(), context.DeadlineExceeded) {
		t.Fatalf("expired with %v", ctxs[0].Err())
	}
	if time.Since(asked) < 50*time.Millisecond {
		t.Fatal("expired before the timeout")
	}
	if c := d.get(); c.Err() != nil {
		t.Fatal("a context asked for after the last expired is already done")
	}
}
