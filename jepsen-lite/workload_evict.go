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

// ---- evictions ------------------------------------------------------------

// evictionName is the pseudo-workload that records which keys maxmemory
// evicted. A run with --maxmemory has it beside the chosen workloads.
const evictionName = "evictions"

// evictionWL listens, on every node, to the "evicted" keyevent of
// database 0, where the workloads run (notify-keyspace-events "Ee") and records each as an
// "evicted" operation. An evicted key is gone by the server's policy, not
// lost: the checkers leave out the keys evicted (Check). The leader alone
// picks the keys and every node applies the same conditional deletes, so
// every node publishes every eviction; a subscriber cut off (its node
// killed) misses what the others still get.
type evictionWL struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	last   atomic.Int64 // history time of the last eviction any subscriber got
}

func (w *evictionWL) Name() string { return evictionName }
func (w *evictionWL) Err() error   { return nil } // it needs nothing Preflight did not check

func (w *evictionWL) Preflight(ctx context.Context, e *Env) error {
	if err := addNotifyFlags(ctx, e, "Ee"); err != nil {
		return fmt.Errorf("the eviction watcher could not set notify-keyspace-events: %v", err)
	}
	return nil
}

func (w *evictionWL) Run(ctx context.Context, e *Env) {
	subCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for _, n := range e.Topo.Nodes() {
		w.wg.Add(1)
		go func(n string) {
			defer w.wg.Done()
			w.subscribe(subCtx, e, n)
		}(n)
	}
	<-ctx.Done()
}

func (w *evictionWL) subscribe(ctx context.Context, e *Env, n string) {
	proc := e.H.NewProcess()
	rc := e.Topo.newRedis(e.Topo.Addr(n))
	defer rc.Close()
	ps := rc.Subscribe(ctx)
	defer ps.Close()
	// An error here (node down) is retried by the receive loop: go-redis
	// keeps the channel and subscribes again on reconnect. The workloads
	// use database 0; a channel, not a pattern, so a secure run's ACL
	// user (&__keyevent@0__:*) may subscribe.
	_ = ps.Subscribe(ctx, "__keyevent@0__:evicted")
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 500*time.Millisecond)
		if err != nil {
			var ne interface{ Timeout() bool }
			if ctx.Err() == nil && !(errors.As(err, &ne) && ne.Timeout()) {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		m, ok := msg.(*redis.Message)
		if !ok || !strings.HasPrefix(m.Payload, e.Prefix) {
			continue
		}
		now := e.H.Now()
		e.H.Add(Op{Workload: evictionName, Process: proc, Node: n, F: "evicted", Key: m.Payload, Type: OK, Invoke: now, Complete: now})
		w.last.Store(now)
	}
}

// Final runs after the other workloads' final reads: it waits until no
// eviction arrived for two seconds (at most 15), so an eviction that
// came before a final read is on record, then stops the subscribers.
func (w *evictionWL) Final(ctx context.Context, e *Env) {
	if w.cancel == nil {
		return
	}
	limit := time.Now().Add(15 * time.Second)
	for ctx.Err() == nil && time.Now().Before(limit) && e.H.Now() < w.last.Load()+int64(2*time.Second) {
		time.Sleep(100 * time.Millisecond)
	}
	w.cancel()
	w.wg.Wait()
}

// addNotifyFlags adds flags to the cluster's notify-keyspace-events (the
// setting goes through the log, so every node has it), keeping what
// another workload set, logged in as the default user as an operator
// would: in a secure run the workloads' user may not run CONFIG.
func addNotifyFlags(ctx context.Context, e *Env, flags string) error {
	var err error
	for ctx.Err() == nil {
		o := redisOptions(e.Topo.Addr(e.Topo.Nodes()[0]))
		e.Topo.sec.dress(o, true)
		rc := redis.NewClient(o)
		var cur map[string]string
		if cur, err = rc.ConfigGet(ctx, "notify-keyspace-events").Result(); err == nil {
			have := cur["notify-keyspace-events"]
			for _, f := range flags {
				if !strings.ContainsRune(have, f) {
					have += string(f)
				}
			}
			err = rc.ConfigSet(ctx, "notify-keyspace-events", have).Err()
		}
		rc.Close()
		if err == nil {
			return nil
		}
		if serverError(err) && !strings.HasPrefix(err.Error(), "CLUSTERDOWN") && !strings.HasPrefix(err.Error(), "TRYAGAIN") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}
