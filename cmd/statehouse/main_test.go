package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

// proc is one statehouse process on a data dir.
type proc struct {
	t        *testing.T
	cmd      *exec.Cmd
	dataDir  string
	port     int
	peerPort int
	log      *bytes.Buffer
	done     chan error
}

func startProc(t *testing.T, dataDir string, port, peerPort int) *proc {
	t.Helper()
	p := &proc{t: t, dataDir: dataDir, port: port, peerPort: peerPort, log: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(testcluster.Binary(t), "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--peer-port", strconv.Itoa(peerPort), "--data-dir", dataDir, "--node-id", "n1")
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	p.waitWritable()
	return p
}

func (p *proc) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.port), MaxRetries: -1, ReadTimeout: 30 * time.Second})
	p.t.Cleanup(func() { c.Close() })
	return c
}

// waitWritable waits until the node has replayed its log and takes writes.
func (p *proc) waitWritable() {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.port), MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := c.Set(context.Background(), "statehouse-test:probe", "1", 0).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("node on port %d never took a write: %v\nlog:\n%s", p.port, err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *proc) stop(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if sig == syscall.SIGTERM && err != nil {
			p.t.Fatalf("exit after SIGTERM: %v\nlog:\n%s", err, p.log.String())
		}
	case <-time.After(60 * time.Second):
		p.t.Fatalf("node did not exit after %v\nlog:\n%s", sig, p.log.String())
	}
}

// TestRestartKeepsSessions writes 100k keys with and without TTLs, stops
// the node (SIGTERM, then kill -9), starts it on the same data dir and
// checks every key, its remaining TTL, and that expired keys stay gone.
func TestRestartKeepsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100k keys through a real process")
	}
	dir := t.TempDir()
	port, peer := testcluster.FreePort(t), testcluster.FreePort(t)
	ctx := context.Background()

	const n = 100_000
	// i%4: 0 no TTL, 1 long TTL, 2 short TTL (expires before the check), 3 hash-free string with KEEPTTL-free overwrite
	write := func(c *redis.Client, gen int) time.Time {
		start := time.Now()
		for base := 0; base < n; base += 1000 {
			_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
				for i := base; i < base+1000; i++ {
					k := fmt.Sprintf("s:%d:%d", gen, i)
					v := fmt.Sprintf("v%d", i)
					switch i % 4 {
					case 0, 3:
						pl.Set(ctx, k, v, 0)
					case 1:
						pl.Set(ctx, k, v, 10*time.Minute)
					case 2:
						pl.Set(ctx, k, v, 1500*time.Millisecond)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("write batch %d: %v", base, err)
			}
		}
		return start
	}
	check := func(c *redis.Client, gen int, written time.Time) {
		t.Helper()
		for base := 0; base < n; base += 1000 {
			var gets []*redis.StringCmd
			var ttls []*redis.DurationCmd
			_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
				for i := base; i < base+1000; i++ {
					k := fmt.Sprintf("s:%d:%d", gen, i)
					gets = append(gets, pl.Get(ctx, k))
					ttls = append(ttls, pl.PTTL(ctx, k))
				}
				return nil
			})
			if err != nil && err != redis.Nil {
				t.Fatalf("read batch %d: %v", base, err)
			}
			for j := range gets {
				i := base + j
				v, err := gets[j].Result()
				ttl := ttls[j].Val()
				switch i % 4 {
				case 2:
					if err != redis.Nil {
						t.Fatalf("key %d expired before the restart is back: %q", i, v)
					}
				default:
					if err != nil || v != fmt.Sprintf("v%d", i) {
						t.Fatalf("key s:%d:%d = %q, %v after restart", gen, i, v, err)
					}
				}
				if i%4 == 1 {
					// Remaining TTL: at most 10 minutes, and no less than what
					// is left since the write started.
					left := 10*time.Minute - time.Since(written)
					if ttl > 10*time.Minute || ttl < left-time.Second {
						t.Fatalf("key %d TTL %v after restart, want about %v", i, ttl, left)
					}
				}
				if (i%4 == 0 || i%4 == 3) && ttl != -1 {
					t.Fatalf("key %d without TTL has PTTL %v", i, ttl)
				}
			}
		}
	}

	p := startProc(t, dir, port, peer)
	w0 := write(p.client(), 0)
	p.stop(syscall.SIGTERM)
	time.Sleep(1600 * time.Millisecond) // the short TTLs run out while the node is down

	p = startProc(t, dir, port, peer)
	c := p.client()
	check(c, 0, w0)
	w1 := write(c, 1)
	p.stop(syscall.SIGKILL) // no snapshot, no clean close: the log alone
	time.Sleep(1600 * time.Millisecond)

	p = startProc(t, dir, port, peer)
	c = p.client()
	check(c, 0, w0)
	check(c, 1, w1)
	if got := c.DBSize(ctx).Val(); got < n/2*3/2 {
		t.Fatalf("DBSIZE %d after two restarts", got)
	}
	p.stop(syscall.SIGTERM)
}
