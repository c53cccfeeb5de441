package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Workload drives clients against the cluster and records their history.
type Workload interface {
	Name() string
	// Run runs the clients until ctx ends.
	Run(ctx context.Context, e *Env)
	// Final runs the final reads, after every fault healed and the quiet
	// period passed. Workloads without final reads do nothing.
	Final(ctx context.Context, e *Env)
	// Err is set when the workload could not run at all (the server lacks
	// a command it needs): a harness error, not an anomaly.
	Err() error
}

// Env is what workloads share.
type Env struct {
	H        *History
	Topo     *Topology
	Prefix   string // unique per run: keys never collide with an earlier run's
	Clients  int    // per workload
	Seed     int64
	OpDelay  time.Duration
	KeyLimit int // register-like workloads: operations per key before moving to a fresh key
	Keys     int // register-like workloads: keys in use at once
}

var workloadNames = []string{"register", "cas", "counter", "set", "session", "follower-reads", "client-session", "expiry-events", "queue"}

func newWorkload(name string) (Workload, error) {
	switch name {
	case "register":
		return &registerWL{name: name, follow: true}, nil
	case "follower-reads":
		return &registerWL{name: name}, nil
	case "cas":
		return &registerWL{name: name, follow: true, cas: true}, nil
	case "counter":
		return &counterWL{}, nil
	case "set":
		return &setWL{}, nil
	case "session":
		return &sessionWL{}, nil
	case "client-session":
		return &clientSessionWL{}, nil
	case "expiry-events":
		return &expiryWL{}, nil
	case "queue":
		return &queueWL{}, nil
	}
	return nil, fmt.Errorf("unknown workload %q (%s)", name, strings.Join(workloadNames, ", "))
}

// client is one logical client of a workload.
type client struct {
	e        *Env
	workload string
	conn     *Conn
	proc     int
	rng      *rand.Rand
}

// runClients starts n clients, each running body in a loop until ctx
// ends. With follow, clients send everything to the leader; otherwise
// client i lives on member i mod N (of the members at each moment).
func (e *Env) runClients(ctx context.Context, workload string, follow bool, body func(c *client)) {
	var wg sync.WaitGroup
	for i := 0; i < e.Clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := &client{
				e: e, workload: workload, proc: e.H.NewProcess(),
				conn: newConn(e.Topo, i, follow),
				rng:  rand.New(rand.NewPCG(uint64(e.Seed), uint64(i)<<32|uint64(len(workload)))),
			}
			defer c.conn.Close()
			for ctx.Err() == nil {
				body(c)
				c.pause(ctx, e.OpDelay)
			}
		}(i)
	}
	wg.Wait()
}

func (c *client) pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(c.rng.Int64N(int64(2 * d))))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// do runs one operation and records it. fn fills in op's result; its
// error is classified unless fn set op.Type itself. Operations run with a
// background context: the run ending never cuts one short.
func (c *client) do(op Op, fn func(ctx context.Context, rc *redis.Client, op *Op) error) Op {
	rc, node := c.conn.Client()
	op.Workload, op.Process, op.Node = c.workload, c.proc, node
	op.Invoke = c.e.H.Now()
	err := fn(context.Background(), rc, &op)
	op.Complete = c.e.H.Now()
	if err != nil {
		if op.Type == "" {
			op.Type = classify(err)
		}
		op.Error = errString(err)
	} else if op.Type == "" {
		op.Type = OK
	}
	c.e.H.Add(op)
	if err != nil && !errors.Is(err, errMismatch) && !errors.Is(err, redis.TxFailedErr) {
		c.conn.Failed(err)
		if op.Type == Info {
			// As in Jepsen: a client whose operation may still be in flight
			// is replaced by a fresh process.
			c.proc = c.e.H.NewProcess()
		}
		time.Sleep(20 * time.Millisecond) // no hot loop against a dead node
	}
	return op
}

// unknownCommand reports whether the server lacks the command.
func unknownCommand(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command")
}

var errMismatch = errors.New("mismatch")

// ---- register, cas, follower-reads -----------------------------------

// registerWL reads and writes a handful of keys (GET/SET, unique values),
// each key retired after KeyLimit operations so porcupine's search stays
// small. With cas, a third of the operations are compare-and-set through
// WATCH/MULTI/EXEC. register and cas follow the leader; follower-reads
// pins clients round-robin to every node, reading with the default
// (linearizable) consistency.
type registerWL struct {
	name   string
	follow bool
	cas    bool

	mu     sync.Mutex
	slots  []regSlot
	values atomic.Int64
	last   sync.Map // key -> last value any client saw (cas guesses from it)
}

type regSlot struct {
	gen, ops int
}

func (w *registerWL) Name() string                      { return w.name }
func (w *registerWL) Err() error                        { return nil }
func (w *registerWL) Final(ctx context.Context, e *Env) {}

func (w *registerWL) key(e *Env, rng *rand.Rand) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.slots == nil {
		w.slots = make([]regSlot, max(e.Keys, 1))
	}
	i := rng.IntN(len(w.slots))
	s := &w.slots[i]
	if s.ops >= e.KeyLimit {
		s.gen, s.ops = s.gen+1, 0
	}
	s.ops++
	return fmt.Sprintf("%s%s:%d:%d", e.Prefix, w.name, i, s.gen)
}

func (w *registerWL) saw(key string, v *int64) {
	if v != nil {
		w.last.Store(key, *v)
	}
}

func (w *registerWL) Run(ctx context.Context, e *Env) {
	e.runClients(ctx, w.name, w.follow, func(c *client) {
		key := w.key(e, c.rng)
		r := c.rng.IntN(6)
		switch {
		case r < 3: // read
			op := c.do(Op{F: "read", Key: key}, getInt(key))
			w.saw(key, op.Value)
		case r < 5 || !w.cas: // write
			v := w.values.Add(1)
			c.do(Op{F: "write", Key: key, Value: i64(v)}, func(ctx context.Context, rc *redis.Client, op *Op) error {
				return rc.Set(ctx, key, v, 0).Err()
			})
			w.saw(key, i64(v))
		default: // cas
			expect := int64(0)
			if l, ok := w.last.Load(key); ok {
				expect = l.(int64)
			}
			if c.rng.IntN(4) == 0 {
				expect = max(0, w.values.Load()-c.rng.Int64N(5)) // sometimes a guess that fails
			}
			v := w.values.Add(1)
			c.do(Op{F: "cas", Key: key, Expect: i64(expect), Value: i64(v)}, func(ctx context.Context, rc *redis.Client, op *Op) error {
				return casOnce(ctx, rc, key, expect, v, op)
			})
		}
	})
}

// casOnce is WATCH key; GET key; if it holds expect, MULTI SET key v EXEC.
// Errors before EXEC leave nothing applied (fail); an aborted EXEC is a
// fail; an error at EXEC is classified.
func casOnce(ctx context.Context, rc *redis.Client, key string, expect, v int64, op *Op) error {
	atExec := false
	err := rc.Watch(ctx, func(tx *redis.Tx) error {
		s, err := tx.Get(ctx, key).Result()
		var cur *int64
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			var ok bool
			if cur, ok = parseInt(s); !ok {
				op.Raw = s
			}
		}
		if cur == nil || *cur != expect {
			op.Observed = cur
			return errMismatch
		}
		atExec = true
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, v, 0)
			return nil
		})
		return err
	}, key)
	switch {
	case err == nil:
	case errors.Is(err, errMismatch):
		op.Type, op.Error = Fail, "mismatch"
		return nil
	case errors.Is(err, redis.TxFailedErr):
		op.Type = Fail // EXEC aborted: the watched key changed
	case !atExec:
		op.Type = Fail // WATCH or GET failed: nothing was sent that writes
	}
	return err
}

func ternary[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

// ---- counter ------------------------------------------------------------

// counterWL increments one key with INCR (and sometimes reads it); the
// final value is read on every node.
type counterWL struct{ err atomic.Pointer[error] }

func (w *counterWL) Name() string { return "counter" }
func (w *counterWL) Err() error   { return loadErr(&w.err) }

func (w *counterWL) key(e *Env) string { return e.Prefix + "counter" }

func (w *counterWL) Run(ctx context.Context, e *Env) {
	key := w.key(e)
	e.runClients(ctx, "counter", false, func(c *client) {
		if c.rng.IntN(5) == 0 {
			c.do(Op{F: "read", Key: key}, func(ctx context.Context, rc *redis.Client, op *Op) error {
				s, err := rc.Get(ctx, key).Result()
				if errors.Is(err, redis.Nil) {
					op.Value = i64(0)
					return nil
				}
				if err != nil {
					return err
				}
				v, ok := parseInt(s)
				op.Value, op.Raw = v, ternary(ok, "", s)
				if !ok {
					op.Type = Fail // nothing to check it against; shown in the history
				}
				return nil
			})
			return
		}
		c.do(Op{F: "incr", Key: key}, func(ctx context.Context, rc *redis.Client, op *Op) error {
			// Do, not Incr: a success reply of the wrong type is still an
			// acknowledgement, and the checker reports it.
			reply, err := rc.Do(ctx, "INCR", key).Result()
			if err != nil {
				return err
			}
			if n, ok := reply.(int64); ok {
				op.Value = i64(n)
			} else {
				op.Raw = fmt.Sprint(reply)
			}
			return nil
		})
	})
}

func (w *counterWL) Final(ctx context.Context, e *Env) {
	key := w.key(e)
	finalReads(ctx, e, "counter", key, func(ctx context.Context, rc *redis.Client, op *Op) error {
		s, err := rc.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			op.Value = i64(0)
			return nil
		}
		if err != nil {
			return err
		}
		v, ok := parseInt(s)
		if !ok {
			return fmt.Errorf("counter holds %q", s)
		}
		op.Value = v
		return nil
	})
}

// finalReads reads key on every member, retrying each until it answers
// or ctx ends; only successful reads are recorded.
func finalReads(ctx context.Context, e *Env, workload, key string, fn func(context.Context, *redis.Client, *Op) error) {
	var wg sync.WaitGroup
	for _, n := range e.Topo.Nodes() {
		wg.Add(1)
		go func(n string) {
			defer wg.Done()
			rc := e.Topo.newRedis(e.Topo.Addr(n))
			defer rc.Close()
			proc := e.H.NewProcess()
			for ctx.Err() == nil {
				op := Op{Workload: workload, Process: proc, Node: n, F: "final-read", Key: key, Invoke: e.H.Now()}
				err := fn(ctx, rc, &op)
				op.Complete = e.H.Now()
				if err == nil {
					op.Type = OK
					e.H.Add(op)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}(n)
	}
	wg.Wait()
}

func loadErr(p *atomic.Pointer[error]) error {
	if e := p.Load(); e != nil {
		return *e
	}
	return nil
}

// ---- set ----------------------------------------------------------------

// setWL adds unique elements to one set with SADD; the final SMEMBERS on
// every node must hold every acknowledged element.
type setWL struct {
	next atomic.Int64
	err  atomic.Pointer[error]
}

func (w *setWL) Name() string      { return "set" }
func (w *setWL) Err() error        { return loadErr(&w.err) }
func (w *setWL) key(e *Env) string { return e.Prefix + "set" }

// Preflight fails at once when the server has no SADD, rather than after
// a whole run.
func (w *setWL) Preflight(ctx context.Context, e *Env) error {
	rc := e.Topo.newRedis(e.Topo.Addr(e.Topo.Nodes()[0]))
	defer rc.Close()
	for _, cmd := range [][]any{{"SADD", e.Prefix + "set-probe", "0"}, {"SMEMBERS", e.Prefix + "set-probe"}} {
		if err := rc.Do(ctx, cmd...).Err(); unknownCommand(err) {
			return fmt.Errorf("the set workload needs SADD/SMEMBERS, which this server lacks: %v", err)
		}
	}
	return nil
}

func (w *setWL) Run(ctx context.Context, e *Env) {
	key := w.key(e)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.runClients(ctx, "set", false, func(c *client) {
		el := w.next.Add(1)
		op := c.do(Op{F: "add", Key: key, Value: i64(el)}, func(ctx context.Context, rc *redis.Client, op *Op) error {
			// Do, not SAdd: a success reply of the wrong type is still an
			// acknowledgement, and the checker reports it.
			reply, err := rc.Do(ctx, "SADD", key, el).Result()
			if err == nil {
				if _, ok := reply.(int64); !ok {
					op.Raw = fmt.Sprint(reply)
				}
			}
			return err
		})
		if unknownCommand(errors.New(op.Error)) {
			err := fmt.Errorf("the set workload needs SADD/SMEMBERS, which this server lacks: %s", op.Error)
			w.err.CompareAndSwap(nil, &err)
			cancel()
		}
	})
}

func (w *setWL) Final(ctx context.Context, e *Env) {
	if w.Err() != nil {
		return
	}
	key := w.key(e)
	finalReads(ctx, e, "set", key, func(ctx context.Context, rc *redis.Client, op *Op) error {
		ms, err := rc.SMembers(ctx, key).Result()
		if err != nil {
			return err
		}
		op.Elements = []int64{}
		for _, m := range ms {
			v, ok := parseInt(m)
			if !ok {
				v = i64(-1) // nobody adds -1: the checker reports a phantom
				op.Raw += m + " "
			}
			op.Elements = append(op.Elements, *v)
		}
		return nil
	})
}

// ---- session --------------------------------------------------------------

// sessionWL writes each session key once, SET k v PX ttl, and reads the
// recent keys (and the next, not yet written) over and over: before,
// during and after their lifetime.
type sessionWL struct {
	next atomic.Int64
}

func (w *sessionWL) Name() string                      { return "session" }
func (w *sessionWL) Err() error                        { return nil }
func (w *sessionWL) Final(ctx context.Context, e *Env) {}

const (
	sessionMinTTL = 300 * time.Millisecond
	sessionMaxTTL = 2 * time.Second
	sessionWindow = 30 // reads pick among the last keys written
)

func (w *sessionWL) Run(ctx context.Context, e *Env) {
	e.runClients(ctx, "session", false, func(c *client) {
		if c.rng.IntN(4) == 0 {
			id := w.next.Add(1)
			key := fmt.Sprintf("%ssess:%d", e.Prefix, id)
			ttl := sessionMinTTL + time.Duration(c.rng.Int64N(int64(sessionMaxTTL-sessionMinTTL)))
			ttl = ttl.Truncate(time.Millisecond)
			c.do(Op{F: "write", Key: key, Value: i64(id), TTL: ttl.Milliseconds()}, func(ctx context.Context, rc *redis.Client, op *Op) error {
				return rc.Set(ctx, key, id, ttl).Err()
			})
			return
		}
		last := w.next.Load()
		id := last + 1 - c.rng.Int64N(sessionWindow+1) // last+1: not yet written
		if id < 1 {
			id = 1
		}
		key := fmt.Sprintf("%ssess:%d", e.Prefix, id)
		c.do(Op{F: "read", Key: key}, getInt(key))
	})
}

// ---- queue ------------------------------------------------------------------

// queueWL is a work queue on one list: clients on every node RPUSH unique
// elements and take them with LPOP, BLPOP (timeout 1 s) or BLMOVE to a
// second list (a "processing" list, never emptied); the final reads on
// every node (LRANGE of both) hold what nobody took and what BLMOVE moved.
type queueWL struct {
	next atomic.Int64
}

func (w *queueWL) Name() string        { return "queue" }
func (w *queueWL) Err() error          { return nil }
func (w *queueWL) key(e *Env) string   { return e.Prefix + "queue" }
func (w *queueWL) moved(e *Env) string { return e.Prefix + "queue-moved" }

func (w *queueWL) Run(ctx context.Context, e *Env) {
	key := w.key(e)
	e.runClients(ctx, "queue", false, func(c *client) {
		if c.rng.IntN(2) == 0 {
			el := w.next.Add(1)
			c.do(Op{F: "enqueue", Key: key, Value: i64(el)}, func(ctx context.Context, rc *redis.Client, op *Op) error {
				reply, err := rc.Do(ctx, "RPUSH", key, el).Result()
				if _, ok := reply.(int64); err == nil && !ok {
					op.Raw = fmt.Sprint(reply)
				}
				return err
			})
			return
		}
		f, cmd := "dequeue", []any{"LPOP", key}
		switch c.rng.IntN(3) {
		case 0:
			cmd = []any{"BLPOP", key, 1}
		case 1:
			f, cmd = "move", []any{"BLMOVE", key, w.moved(e), "LEFT", "RIGHT", 1}
		}
		c.do(Op{F: f, Key: key}, func(ctx context.Context, rc *redis.Client, op *Op) error {
			reply, err := rc.Do(ctx, cmd...).Result()
			if errors.Is(err, redis.Nil) {
				return nil // empty (LPOP) or timed out (BLPOP, BLMOVE)
			}
			if err != nil {
				return err
			}
			s, ok := reply.(string)
			if a, isArr := reply.([]any); isArr && len(a) == 2 { // BLPOP: key, element
				s, ok = a[1].(string)
			}
			v, parsed := parseInt(s)
			if !ok || !parsed {
				v, op.Raw = i64(-1), fmt.Sprint(reply) // nobody pushes -1: a phantom
			}
			op.Value = v
			return nil
		})
	})
}

func (w *queueWL) Final(ctx context.Context, e *Env) {
	key := w.key(e)
	finalReads(ctx, e, "queue", key, func(ctx context.Context, rc *redis.Client, op *Op) error {
		var q, m *redis.StringSliceCmd
		// Nothing writes either list any more: two plain reads (a MULTI
		// would go through the log, which --debug-ack-before-commit answers
		// with +OK).
		_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
			q, m = p.LRange(ctx, key, 0, -1), p.LRange(ctx, w.moved(e), 0, -1)
			return nil
		})
		if err != nil {
			return err
		}
		parse := func(l []string) []int64 {
			out := []int64{}
			for _, s := range l {
				v, ok := parseInt(s)
				if !ok {
					v = i64(-1)
					op.Raw += s + " "
				}
				out = append(out, *v)
			}
			return out
		}
		op.Elements, op.Moved = parse(q.Val()), parse(m.Val())
		return nil
	})
}
