package main

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	shclient "github.com/statehouse/statehouse/client"
)

// ---- client-session -------------------------------------------------------

// clientSessionWL is session read-modify-write through the client package
// (the cluster-aware client web tiers use), from many goroutines sharing
// one client.Client: each operation increments the "visits" field of one
// session hash, half of them with HINCRBY (client.Write), half
// optimistically (client.Watch: WATCH, HGET, MULTI HSET n+1 EXEC; a
// watched key that changed is a failed operation), and one in five reads
// it (client.Read, on a follower). The client retries only what certainly
// did not apply, so the counter checker must find every acknowledged
// increment once and nothing more than acknowledged + unknown: a blind
// retry of an uncertain write would show as an extra increment.
type clientSessionWL struct {
	err atomic.Pointer[error]
}

func (w *clientSessionWL) Name() string      { return "client-session" }
func (w *clientSessionWL) Err() error        { return loadErr(&w.err) }
func (w *clientSessionWL) key(e *Env) string { return e.Prefix + "client-session" }

// clientRetryTimeout bounds the client's own retries of a command that
// certainly did not apply (no leader, a node down): a fault lasts longer,
// and the operation is then recorded as failed.
const clientRetryTimeout = 5 * time.Second

func (w *clientSessionWL) Run(ctx context.Context, e *Env) {
	key := w.key(e)
	var addrs []string
	for _, n := range e.Topo.Nodes() {
		addrs = append(addrs, e.Topo.Addr(n))
	}
	newCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cl, err := shclient.New(newCtx, addrs, shclient.WithRetryTimeout(clientRetryTimeout),
		shclient.WithRedisOptions(func(o *redis.Options) {
			o.DialTimeout, o.ReadTimeout, o.WriteTimeout = dialTimeout, opTimeout, opTimeout
			e.Topo.sec.dress(o, false) // TLS and the workloads' ACL user in a secure run
		}))
	cancel()
	if err != nil {
		err = fmt.Errorf("the client-session workload could not reach the cluster: %w", err)
		w.err.CompareAndSwap(nil, &err)
		return
	}
	defer cl.Close()
	e.runClients(ctx, "client-session", false, func(c *client) {
		switch {
		case c.rng.IntN(5) == 0:
			w.do(c, Op{F: "read", Key: key}, func(ctx context.Context, op *Op) (addr string, err error) {
				err = cl.Read(ctx, func(ctx context.Context, rdb *redis.Client) error {
					addr = rdb.Options().Addr
					n, err := rdb.HGet(ctx, key, "visits").Int64()
					if errors.Is(err, redis.Nil) {
						n, err = 0, nil
					}
					op.Value = i64(n)
					return err
				})
				return addr, err
			})
		case c.rng.IntN(2) == 0:
			w.do(c, Op{F: "incr", Key: key}, func(ctx context.Context, op *Op) (addr string, err error) {
				err = cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
					addr = rdb.Options().Addr
					n, err := rdb.HIncrBy(ctx, key, "visits", 1).Result()
					op.Value = i64(n)
					return err
				})
				return addr, err
			})
		default:
			w.do(c, Op{F: "incr", Key: key}, func(ctx context.Context, op *Op) (addr string, err error) {
				err = cl.Watch(ctx, func(tx *redis.Tx) error {
					addr = "leader" // a Tx does not say which node it is on
					n, err := tx.HGet(ctx, key, "visits").Int64()
					if errors.Is(err, redis.Nil) {
						n, err = 0, nil
					}
					if err != nil {
						return err
					}
					_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
						p.HSet(ctx, key, "visits", n+1)
						return nil
					})
					if err == nil {
						op.Value = i64(n + 1)
					}
					return err
				}, key)
				return addr, err
			})
		}
	})
}

// do runs one operation through the shared client and records it; a
// client whose operation may still be in flight becomes a new process.
func (w *clientSessionWL) do(c *client, op Op, fn func(ctx context.Context, op *Op) (string, error)) {
	op.Workload, op.Process = c.workload, c.proc
	op.Invoke = c.e.H.Now()
	addr, err := fn(context.Background(), &op)
	op.Complete = c.e.H.Now()
	op.Node = addr
	for _, n := range c.e.Topo.Nodes() {
		if c.e.Topo.Addr(n) == addr {
			op.Node = n
		}
	}
	if err != nil {
		op.Type, op.Error, op.Value = classify(err), errString(err), nil
		if unknownCommand(err) {
			err := fmt.Errorf("the client-session workload needs HINCRBY/HGET/WATCH, which this server lacks: %s", op.Error)
			w.err.CompareAndSwap(nil, &err)
		}
	} else {
		op.Type = OK
	}
	c.e.H.Add(op)
	if op.Type == Info {
		c.proc = c.e.H.NewProcess()
	}
}

func (w *clientSessionWL) Final(ctx context.Context, e *Env) {
	if w.Err() != nil {
		return
	}
	key := w.key(e)
	finalReads(ctx, e, "client-session", key, func(ctx context.Context, rc *redis.Client, op *Op) error {
		n, err := rc.HGet(ctx, key, "visits").Int64()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		op.Value = i64(n)
		return err
	})
}
