package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/client"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// cutProxy is a TCP proxy in front of one server that, once, breaks the
// client's connection right after the server has answered the first
// request containing trigger (a RESP-encoded command name): the server
// ran it, the client never hears so. The server's side of that
// connection is kept open and drained, so nothing the server read is
// lost.
type cutProxy struct {
	ln      net.Listener
	backend string
	trigger []byte
	cut     atomic.Bool // the one cut is done (or under way)
	cuts    atomic.Int32
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn // closed by the test's cleanup
}

func startCutProxy(t *testing.T, backend, command string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend,
		trigger: []byte("\r\n$" + strconv.Itoa(len(command)) + "\r\n" + command + "\r\n")}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) Addr() string { return p.ln.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		conns.Add(2)
		var armed atomic.Bool
		done := make(chan struct{})
		go func() { // client → server
			defer conns.Done()
			buf := make([]byte, 64<<10)
			var tail []byte // the end of what came before: a trigger may span two reads
			for {
				n, err := c.Read(buf)
				if n > 0 {
					seen := append(tail, bytes.ToLower(buf[:n])...)
					if bytes.Contains(seen, p.trigger) && p.cut.CompareAndSwap(false, true) {
						armed.Store(true)
					}
					tail = append([]byte(nil), seen[max(0, len(seen)-len(p.trigger)):]...)
					if _, werr := s.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			select {
			case <-done: // cut: the server's side is drained below
			default:
				s.Close()
			}
		}()
		go func() { // server → client
			defer conns.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && armed.Load() {
					// The server answered the request that held the
					// trigger: it ran. The client never hears so.
					p.cuts.Add(1) // before the client can see the cut
					close(done)
					c.Close()
					io.Copy(io.Discard, s)
					s.Close()
					return
				}
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
			s.Close()
		}()
	}
}

// An optimistic transaction whose connection breaks after EXEC was sent
// (and ran) may have applied: Watch must report it uncertain and never
// run the transaction again. Running it again would read the count the
// first EXEC wrote and add one more: one increment applied twice, once
// acknowledged. WATCH, a read, sent before the EXEC, does not make the
// attempt safe to repeat, and fn sends its commands with its own context.
// Against a redis-server and a statehouse node (whose announced address
// the client is told to reach through the proxy).
func TestWatchNotRetriedAfterExecSent(t *testing.T) {
	skipShort(t)
	t.Run("redis-server", func(t *testing.T) {
		testWatchCut(t, testcluster.StartRedis(t), false)
	})
	t.Run("statehouse", func(t *testing.T) {
		testWatchCut(t, testcluster.StartSingle(t, testcluster.Options{}).Addr(), true)
	})
}

func testWatchCut(t *testing.T, backend string, viaAddrMap bool) {
	p := startCutProxy(t, backend, "exec")
	var opts []client.Option
	if viaAddrMap {
		opts = append(opts, client.WithAddrMap(func(string) string { return p.Addr() }))
	}
	cl := newClient(t, []string{p.Addr()}, opts...)
	ctx := context.Background()
	direct := redis.NewClient(&redis.Options{Addr: backend, MaxRetries: -1})
	defer direct.Close()

	runs := 0
	err := cl.Watch(ctx, func(tx *redis.Tx) error {
		runs++
		n, err := tx.HGet(ctx, "session", "visits").Int64()
		if errors.Is(err, redis.Nil) {
			n, err = 0, nil
		}
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.HSet(ctx, "session", "visits", n+1)
			return nil
		})
		return err
	}, "session")
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections; want 1 (the call returned %v)", p.cuts.Load(), err)
	}
	visits, gerr := direct.HGet(ctx, "session", "visits").Int64()
	if gerr != nil {
		t.Fatalf("the cut EXEC did not apply (HGET: %v): the test proves nothing", gerr)
	}
	if !errors.Is(err, client.ErrUncertain) || runs != 1 || visits != 1 {
		t.Fatalf("Watch whose EXEC's connection broke: err %v, fn ran %d times, visits %d; "+
			"want ErrUncertain, 1 run, visits 1", err, runs, visits)
	}
}

// A Write whose INCR's connection breaks after the server ran it is
// uncertain and not sent again.
func TestWriteNotRetriedAfterWriteSent(t *testing.T) {
	skipShort(t)
	backend := testcluster.StartRedis(t)
	p := startCutProxy(t, backend, "incr")
	cl := newClient(t, []string{p.Addr()})
	ctx := context.Background()
	direct := redis.NewClient(&redis.Options{Addr: backend, MaxRetries: -1})
	defer direct.Close()

	runs := 0
	err := cl.Write(ctx, func(ctx context.Context, rdb *redis.Client) error {
		runs++
		if err := rdb.Get(ctx, "counter").Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return rdb.Incr(ctx, "counter").Err()
	})
	if p.cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections; want 1 (the call returned %v)", p.cuts.Load(), err)
	}
	v, gerr := direct.Get(ctx, "counter").Int64()
	if gerr != nil {
		t.Fatalf("the cut INCR did not apply (GET: %v): the test proves nothing", gerr)
	}
	if !errors.Is(err, client.ErrUncertain) || runs != 1 || v != 1 {
		t.Fatalf("Write whose INCR's connection broke: err %v, fn ran %d times, counter %d; "+
			"want ErrUncertain, 1 run, counter 1", err, runs, v)
	}
}
