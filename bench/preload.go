package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// preload writes keys k:0..k:keys-1 with valueSize-byte values.
func preload(ctx context.Context, t *target, keys, valueSize int) error {
	pl := newPayloads(valueSize, shapeString)
	if t.kind == "etcd" {
		return preloadEtcd(ctx, t.etcd, keys, pl)
	}
	return loadRESP(ctx, t.write, 0, keys, 8, batchFor(valueSize), t.wait, func() itemFunc {
		var key []byte
		return func(c *respConn, i int) int {
			key = keyName("k:", i, key)
			c.send(cmdSET, key, pl.value)
			return 1
		}
	})
}

// loadSessions writes sessions s:from..s:to-1 as the session workload does.
func loadSessions(ctx context.Context, addr string, from, to, conns, batch int, pl *payloads) error {
	return loadRESP(ctx, addr, from, to, conns, batch, 0, func() itemFunc {
		p := pl.clone()
		var key []byte
		return func(c *respConn, i int) int {
			key = keyName("s:", i, key)
			return p.sendSessionWrite(c, key)
		}
	})
}

// batchFor keeps a pipelined batch near 1 MiB.
func batchFor(valueSize int) int { return max(1, min(256, (1<<20)/max(valueSize, 1))) }

// itemFunc sends the commands of item i and says how many it sent.
type itemFunc func(c *respConn, i int) int

// loadRESP splits items [from,to) over conns connections, each sending
// pipelined batches of up to batch items (every connection gets its own
// itemFunc from newItem), and ends each connection with WAIT n 0 when
// wait > 0.
func loadRESP(ctx context.Context, addr string, from, to, conns, batch, wait int, newItem func() itemFunc) error {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	per := (to - from + conns - 1) / conns
	for ci := range conns {
		lo, hi := from+ci*per, min(to, from+(ci+1)*per)
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialRESP(addr, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer c.close()
			item := newItem()
			for i := lo; i < hi && ctx.Err() == nil; i += batch {
				c.c.SetDeadline(time.Now().Add(ioTimeout))
				cmds := 0
				for j := i; j < min(hi, i+batch); j++ {
					cmds += item(c, j)
				}
				if err := c.flush(); err != nil {
					errs <- err
					return
				}
				for range cmds {
					if _, err := c.skip(); err != nil {
						errs <- fmt.Errorf("load %s: %w", addr, err)
						return
					}
				}
			}
			if wait > 0 {
				c.c.SetDeadline(time.Now().Add(ioTimeout))
				if _, err := c.do("WAIT", strconv.Itoa(wait), "0"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

func preloadEtcd(ctx context.Context, endpoints []string, keys int, pl *payloads) error {
	cli, err := newEtcdClient(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	// etcd refuses requests over 1.5 MiB (--max-request-bytes) and
	// transactions of more than 128 operations (--max-txn-ops).
	per := max(1, min(128, (1<<20)/len(pl.value)))
	value := string(pl.value)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lo := range next {
				var ops []clientv3.Op
				for i := lo; i < min(keys, lo+per); i++ {
					ops = append(ops, clientv3.OpPut("k:"+strconv.Itoa(i), value))
				}
				c, cancel := context.WithTimeout(ctx, ioTimeout)
				_, err := cli.Txn(c).Then(ops...).Commit()
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(next)
		for lo := 0; lo < keys; lo += per {
			select {
			case next <- lo:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for range next {
		}
		return fmt.Errorf("etcd preload: %w", err)
	}
	if err := etcdCompact(ctx, endpoints); err != nil {
		return err
	}
	return ctx.Err()
}

// etcdCompact drops etcd's history up to now, as an operator's
// auto-compaction would, so runs do not pile up revisions.
func etcdCompact(ctx context.Context, endpoints []string) error {
	cli, err := newEtcdClient(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := cli.Get(c, "bench:probe")
	if err != nil {
		return err
	}
	_, err = cli.Compact(c, r.Header.Revision)
	return err
}

// probeStaleReads finds out whether READONLY gives local reads in this
// build: it pauses the leader (SIGSTOP) for a moment and sees whether a
// follower still answers a READONLY GET. A linearizable read has to wait
// for the leader.
func probeStaleReads(ctx context.Context, d *shDeploy, m *procs) string {
	l, err := d.leader(ctx, 30*time.Second)
	if err != nil {
		return "probe failed: " + err.Error()
	}
	var f *shNode
	for _, nd := range d.nodes {
		if nd != l {
			f = nd
			break
		}
	}
	if f == nil {
		return "probe skipped: one node"
	}
	c, err := dialRESP(f.addr(), 5*time.Second)
	if err != nil {
		return "probe failed: " + err.Error()
	}
	defer c.close()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.do("READONLY"); err != nil {
		return "not supported: READONLY answered " + err.Error()
	}
	if _, err := c.do("GET", "bench:probe"); err != nil {
		return "probe failed: " + err.Error()
	}
	pid := l.p.pid()
	syscall.Kill(pid, syscall.SIGSTOP)
	time.Sleep(50 * time.Millisecond)
	c.c.SetDeadline(time.Now().Add(400 * time.Millisecond))
	_, err = c.do("GET", "bench:probe")
	time.Sleep(100 * time.Millisecond)
	syscall.Kill(pid, syscall.SIGCONT)
	d.leader(ctx, 30*time.Second)
	if err == nil {
		return "supported: a follower answered a READONLY GET while the leader was paused"
	}
	return "not supported in this build: a READONLY GET on a follower waited for the paused leader (" + err.Error() + "), so statehouse-3-readonly measures linearizable reads"
}
