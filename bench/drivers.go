package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ---- lean RESP ----

// respWorker holds a connection for writes and one for reads (the same
// one when both go to the same address and no READONLY is wanted).
type respWorker struct {
	w, r *respConn
	wait []byte // "2" for WAIT 2 0, nil for none
	pl   *payloads
	key  []byte
}

var (
	cmdGET     = []byte("GET")
	cmdSET     = []byte("SET")
	cmdHSET    = []byte("HSET")
	cmdEXPIRE  = []byte("EXPIRE")
	cmdHGETALL = []byte("HGETALL")
	cmdWAIT    = []byte("WAIT")
	zero       = []byte("0")
)

const ioTimeout = 30 * time.Second

func newRESPWorker(t *target, i int, pl *payloads) (*respWorker, error) {
	w := &respWorker{pl: pl}
	if t.wait > 0 {
		w.wait = []byte(strconv.Itoa(t.wait))
	}
	var err error
	if w.w, err = dialRESP(t.write, 5*time.Second); err != nil {
		return nil, err
	}
	readAddr := t.reads[i%len(t.reads)]
	if readAddr == t.write && !t.readonly {
		w.r = w.w
		return w, nil
	}
	if w.r, err = dialRESP(readAddr, 5*time.Second); err != nil {
		w.w.close()
		return nil, err
	}
	if t.readonly {
		w.r.c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := w.r.do("READONLY"); err != nil {
			w.close()
			return nil, fmt.Errorf("READONLY: %w", err)
		}
		w.r.c.SetDeadline(time.Time{})
	}
	return w, nil
}

func (w *respWorker) close() {
	w.w.close()
	if w.r != w.w {
		w.r.close()
	}
}

func (w *respWorker) sendWrite(o op) int {
	n := 1
	switch o.kind {
	case opSet:
		w.key = keyName("k:", o.key, w.key)
		w.w.send(cmdSET, w.key, w.pl.value)
	case opSession:
		w.key = keyName("s:", o.key, w.key)
		n = w.pl.sendSessionWrite(w.w, w.key)
	}
	if w.wait != nil {
		w.w.send(cmdWAIT, w.wait, zero)
		n++
	}
	return n
}

func (w *respWorker) do(ctx context.Context, ops []op) (int, error) {
	deadline := time.Now().Add(ioTimeout)
	w.w.c.SetDeadline(deadline)
	if w.r != w.w {
		w.r.c.SetDeadline(deadline)
	}
	var nw, nr int
	for _, o := range ops {
		switch o.kind {
		case opGet:
			w.key = keyName("k:", o.key, w.key)
			w.r.send(cmdGET, w.key)
			nr++
		case opSet, opSession:
			nw += w.sendWrite(o)
		}
	}
	misses, err := w.exchange(nw, nr)
	if err != nil || ops[0].kind != opSession {
		return misses, err
	}
	// Session: the writes are answered; now read every session back.
	for _, o := range ops {
		w.key = keyName("s:", o.key, w.key)
		w.pl.sendSessionRead(w.r, w.key)
	}
	return w.exchange(0, len(ops))
}

// exchange flushes both connections and reads nw replies from the write
// connection and nr from the read connection.
func (w *respWorker) exchange(nw, nr int) (misses int, err error) {
	if nw > 0 {
		if err := w.w.flush(); err != nil {
			return 0, err
		}
	}
	if nr > 0 && (w.r != w.w || nw == 0) {
		if err := w.r.flush(); err != nil {
			return 0, err
		}
	}
	var first error
	note := func(e error) error {
		var re replyError
		if errors.As(e, &re) {
			if first == nil {
				first = e
			}
			return nil
		}
		return e
	}
	for range nw {
		null, err := w.w.skip()
		if note(err) != nil {
			return misses, err
		}
		if null {
			misses++ // only a GET sharing this connection answers null
		}
	}
	for range nr {
		null, err := w.r.skip()
		if note(err) != nil {
			return misses, err
		}
		if null {
			misses++
		}
	}
	return misses, first
}

// ---- go-redis ----

// goRedisWorker does the same with go-redis v9, to measure what a
// general-purpose client costs against the lean one.
type goRedisWorker struct {
	w, r *redis.Client
	wait int
	pl   *payloads
	args []any
}

func newGoRedisWorker(t *target, i int, pl *payloads) (*goRedisWorker, error) {
	opts := func(addr string, readonly bool) *redis.Options {
		o := &redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1, Protocol: 2,
			DialTimeout: 5 * time.Second, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			DisableIdentity: true}
		if readonly {
			o.OnConnect = func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }
		}
		return o
	}
	w := &goRedisWorker{wait: t.wait, pl: pl}
	w.w = redis.NewClient(opts(t.write, false))
	readAddr := t.reads[i%len(t.reads)]
	if readAddr == t.write && !t.readonly {
		w.r = w.w
	} else {
		w.r = redis.NewClient(opts(readAddr, t.readonly))
	}
	w.args = []any{"HSET", ""}
	for _, f := range pl.fields {
		w.args = append(w.args, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.r.Ping(ctx).Err(); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *goRedisWorker) close() {
	w.w.Close()
	if w.r != w.w {
		w.r.Close()
	}
}

func (w *goRedisWorker) do(ctx context.Context, ops []op) (int, error) {
	var misses int
	countMiss := func(cmds []redis.Cmder) error {
		var first error
		for _, c := range cmds {
			err := c.Err()
			if errors.Is(err, redis.Nil) {
				misses++
				continue
			}
			if m, ok := c.(*redis.MapStringStringCmd); ok && err == nil && len(m.Val()) == 0 {
				misses++
			}
			if err != nil && first == nil {
				first = replyError(err.Error())
				var re redis.Error
				if !errors.As(err, &re) {
					first = err
				}
			}
		}
		return first
	}
	writes := func(p redis.Pipeliner) error {
		for _, o := range ops {
			switch o.kind {
			case opSet:
				p.Set(ctx, "k:"+strconv.Itoa(o.key), w.pl.value, 0)
			case opSession:
				k := "s:" + strconv.Itoa(o.key)
				ttl := time.Duration(w.pl.ttlSecs) * time.Second
				if w.pl.shape == shapeString {
					p.Set(ctx, k, w.pl.json, ttl)
					break
				}
				args := append([]any(nil), w.args...)
				args[1] = k
				p.Do(ctx, args...)
				p.Expire(ctx, k, ttl)
			default:
				continue
			}
			if w.wait > 0 {
				p.Do(ctx, "WAIT", w.wait, 0)
			}
		}
		return nil
	}
	reads := func(p redis.Pipeliner) error {
		for _, o := range ops {
			switch o.kind {
			case opGet:
				p.Get(ctx, "k:"+strconv.Itoa(o.key))
			case opSession:
				if w.pl.shape == shapeString {
					p.Get(ctx, "s:"+strconv.Itoa(o.key))
					break
				}
				p.HGetAll(ctx, "s:"+strconv.Itoa(o.key))
			}
		}
		return nil
	}
	hasRead, hasWrite := false, false
	for _, o := range ops {
		hasRead = hasRead || o.kind != opSet
		hasWrite = hasWrite || o.kind != opGet
	}
	var first error
	if hasWrite {
		cmds, _ := w.w.Pipelined(ctx, writes)
		if err := countMiss(cmds); err != nil {
			var re replyError
			if !errors.As(err, &re) {
				return misses, err
			}
			first = err
		}
	}
	if hasRead {
		cmds, _ := w.r.Pipelined(ctx, reads)
		if err := countMiss(cmds); err != nil && first == nil {
			first = err
		}
	}
	return misses, first
}

// ---- etcd ----

// etcdPool shares a few etcd clients (each one gRPC connection per
// endpoint) among the workers, as a web tier's processes would, and one
// lease per worker for session keys.
type etcdPool struct {
	clients []*clientv3.Client
}

// etcdClientsFor is how many etcd clients serve n workers.
func etcdClientsFor(n int) int { return min(n, 8) }

func newEtcdPool(endpoints []string, workers int) (*etcdPool, error) {
	p := &etcdPool{}
	for range etcdClientsFor(workers) {
		c, err := newEtcdClient(endpoints)
		if err != nil {
			p.close()
			return nil, err
		}
		p.clients = append(p.clients, c)
	}
	return p, nil
}

func (p *etcdPool) close() {
	for _, c := range p.clients {
		c.Close()
	}
}

type etcdWorker struct {
	c     *clientv3.Client
	pl    *payloads
	value string
	lease clientv3.LeaseID
}

func (p *etcdPool) worker(ctx context.Context, i int, pl *payloads) (worker, error) {
	w := &etcdWorker{c: p.clients[i%len(p.clients)], pl: pl, value: string(pl.value)}
	return w, nil
}

func (w *etcdWorker) close() {}

func (w *etcdWorker) do(ctx context.Context, ops []op) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, ioTimeout)
	defer cancel()
	if ops[0].kind == opSession && w.lease == 0 {
		l, err := w.c.Grant(ctx, int64(w.pl.ttlSecs))
		if err != nil {
			return 0, err
		}
		w.lease = l.ID
	}
	if len(ops) == 1 {
		return w.one(ctx, ops[0])
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		misses int
		first  error
	)
	for _, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := w.one(ctx, o)
			mu.Lock()
			misses += m
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return misses, first
}

func (w *etcdWorker) one(ctx context.Context, o op) (int, error) {
	switch o.kind {
	case opSet:
		_, err := w.c.Put(ctx, "k:"+strconv.Itoa(o.key), w.value)
		return 0, err
	case opGet:
		r, err := w.c.Get(ctx, "k:"+strconv.Itoa(o.key))
		if err != nil {
			return 0, err
		}
		if len(r.Kvs) == 0 {
			return 1, nil
		}
		return 0, nil
	case opSession:
		k := "s:" + strconv.Itoa(o.key)
		if _, err := w.c.Put(ctx, k, w.pl.json, clientv3.WithLease(w.lease)); err != nil {
			return 0, err
		}
		r, err := w.c.Get(ctx, k)
		if err != nil {
			return 0, err
		}
		if len(r.Kvs) == 0 {
			return 1, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("unknown op %d", o.kind)
}
