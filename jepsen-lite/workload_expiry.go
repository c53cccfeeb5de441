package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// ---- expiry-events --------------------------------------------------------

// expiryWL checks keyspace notifications of expiry. Clients SET keys with
// a short TTL (SET k id PX ttl), then, after a random pause that may run
// past the deadline, renew one in three (PEXPIRE k one hour: it never
// expires in the run), delete one in three (DEL) and leave the rest to
// expire. The reply of PEXPIRE or DEL says whether the key was still
// alive (1) or had expired (0). Meanwhile a subscriber on every node
// listens to __keyevent@0__:* with notify-keyspace-events "Egx" (expired,
// expire, del...).
//
// Pub/sub is at most once: a subscriber whose connection is cut (its node
// killed) misses what was published meanwhile. Each subscriber records its
// connected windows (from the PSUBSCRIBE confirmation to the error that
// cut it) as "subscribed" operations and every event it receives as an
// "ev:<event>" operation; the checker judges a missing event only for a
// subscriber whose one connection spanned the key's whole life (from the
// SET's invocation to the end of the run), and a duplicate always.
type expiryWL struct {
	next atomic.Int64
	err  atomic.Pointer[error]

	subCancel context.CancelFunc
	subWG     sync.WaitGroup
	lastEvent atomic.Int64 // history time of the last event of ours any subscriber got
	lastSet   atomic.Int64 // history time by which every SET's deadline has passed
}

func (w *expiryWL) Name() string { return "expiry-events" }
func (w *expiryWL) Err() error   { return loadErr(&w.err) }

const (
	expiryMinTTL  = 200 * time.Millisecond
	expiryMaxTTL  = 1200 * time.Millisecond
	expiryRenewMS = 3_600_000 // a renewed key outlives the run
	// expiryDrain: after the run, how long the subscribers wait for events
	// once the last deadline passed and nothing of ours arrived.
	expiryDrain = 3 * time.Second
	expiryFlags = "Egx" // keyevent channels of generic commands and expiry
)

// Preflight turns the keyevent notifications on (addNotifyFlags).
func (w *expiryWL) Preflight(ctx context.Context, e *Env) error {
	if err := addNotifyFlags(ctx, e, expiryFlags); err != nil {
		return fmt.Errorf("the expiry-events workload could not set notify-keyspace-events: %v", err)
	}
	return nil
}

func (w *expiryWL) key(e *Env, id int64) string { return fmt.Sprintf("%sexp:%d", e.Prefix, id) }

func (w *expiryWL) Run(ctx context.Context, e *Env) {
	subCtx, cancel := context.WithCancel(context.Background())
	w.subCancel = cancel
	ready := make(chan struct{}, 16)
	nodes := e.Topo.Nodes()
	for _, n := range nodes {
		w.subWG.Add(1)
		go func(n string) {
			defer w.subWG.Done()
			w.subscribe(subCtx, e, n, ready)
		}(n)
	}
	// Writers start once every subscriber listens (or after 5 s).
	deadline := time.After(5 * time.Second)
	for range nodes {
		select {
		case <-ready:
		case <-deadline:
		}
	}
	e.runClients(ctx, "expiry-events", false, func(c *client) {
		id := w.next.Add(1)
		key := w.key(e, id)
		ttl := expiryMinTTL + time.Duration(c.rng.Int64N(int64(expiryMaxTTL-expiryMinTTL)))
		ttl = ttl.Truncate(time.Millisecond)
		set := c.do(Op{F: "set", Key: key, Value: i64(id), TTL: ttl.Milliseconds()}, func(ctx context.Context, rc *redis.Client, op *Op) error {
			return rc.Set(ctx, key, id, ttl).Err()
		})
		for t := e.H.Now() + int64(ttl); ; {
			if old := w.lastSet.Load(); t <= old || w.lastSet.CompareAndSwap(old, t) {
				break
			}
		}
		if set.Type != OK {
			return
		}
		action := c.rng.IntN(3)
		if action == 0 {
			return // left to expire
		}
		// Up to 1.25 ttl: most in time, some too late.
		c.pause(ctx, ttl*5/8)
		f, cmd := "renew", []any{"PEXPIRE", key, expiryRenewMS}
		if action == 2 {
			f, cmd = "del", []any{"DEL", key}
		}
		c.do(Op{F: f, Key: key}, func(ctx context.Context, rc *redis.Client, op *Op) error {
			reply, err := rc.Do(ctx, cmd...).Result()
			if err != nil {
				return err
			}
			if n, ok := reply.(int64); ok && (n == 0 || n == 1) {
				op.Value = i64(n)
			} else {
				op.Raw = fmt.Sprint(reply)
			}
			return nil
		})
	})
}

// subscribe keeps one subscriber on node n until ctx ends, recording each
// connected window and every event of this run's keys.
func (w *expiryWL) subscribe(ctx context.Context, e *Env, n string, ready chan<- struct{}) {
	proc := e.H.NewProcess()
	rc := e.Topo.newRedis(e.Topo.Addr(n))
	defer rc.Close()
	ps := rc.PSubscribe(ctx) // subscribes on the first receive, and again after every reconnect
	defer ps.Close()
	prefix := e.Prefix + "exp:"
	var window *Op // the open connected window
	closeWindow := func(err error) {
		if window == nil {
			return
		}
		window.Complete = e.H.Now()
		window.Type = OK
		if err != nil {
			window.Error = errString(err)
		}
		e.H.Add(*window)
		window = nil
	}
	defer func() { closeWindow(nil) }()
	// An error here (node down at the start) is retried by the receive
	// loop below: go-redis keeps the pattern and subscribes on reconnect.
	_ = ps.PSubscribe(ctx, "__keyevent@0__:*")
	signalled := false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() && window != nil {
				continue // an idle connection: still subscribed
			}
			closeWindow(err) // go-redis reconnects and resubscribes on the next receive
			time.Sleep(100 * time.Millisecond)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "psubscribe" {
				closeWindow(errors.New("resubscribed"))
				window = &Op{Workload: w.Name(), Process: proc, Node: n, F: "subscribed", Invoke: e.H.Now()}
				if !signalled {
					signalled = true
					ready <- struct{}{}
				}
			}
		case *redis.Message:
			if !strings.HasPrefix(m.Payload, prefix) {
				continue
			}
			now := e.H.Now()
			ev := strings.TrimPrefix(m.Channel, "__keyevent@0__:")
			e.H.Add(Op{Workload: w.Name(), Process: proc, Node: n, F: "ev:" + ev, Key: m.Payload, Type: OK, Invoke: now, Complete: now})
			w.lastEvent.Store(now)
		}
	}
}

// Final lets the subscribers drain: until every deadline has passed and
// nothing of ours arrived for expiryDrain (at most 20 s), then closes
// them, which ends their windows.
func (w *expiryWL) Final(ctx context.Context, e *Env) {
	if w.subCancel == nil {
		return
	}
	limit := time.Now().Add(20 * time.Second)
	for ctx.Err() == nil && time.Now().Before(limit) {
		now := e.H.Now()
		if now > w.lastSet.Load()+int64(expiryDrain) && now > w.lastEvent.Load()+int64(expiryDrain) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.subCancel()
	w.subWG.Wait()
}
