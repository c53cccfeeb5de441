package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestMain(m *testing.M) { testcluster.Main(m) }

// TestRestartKeepsSessions writes 100k keys with and without TTLs, stops
// the node (SIGTERM, then kill -9), starts it on the same data dir and
// checks every key, its remaining TTL, and that expired keys stay gone.
func TestRestartKeepsSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100k keys through a real process")
	}
	ctx := context.Background()

	const (
		n        = 100_000
		shortTTL = 1500 * time.Millisecond
		longTTL  = 10 * time.Minute
	)
	// i%4: 0 and 3 no TTL, 1 long TTL, 2 short TTL (runs out before the
	// node is back). write returns when it started and when the last
	// write was acknowledged: every deadline it set is at most acked+TTL.
	write := func(c *redis.Client, gen int) (started, acked time.Time) {
		started = time.Now()
		for base := 0; base < n; base += 1000 {
			_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
				for i := base; i < base+1000; i++ {
					k := fmt.Sprintf("s:%d:%d", gen, i)
					v := fmt.Sprintf("v%d", i)
					switch i % 4 {
					case 0, 3:
						pl.Set(ctx, k, v, 0)
					case 1:
						pl.Set(ctx, k, v, longTTL)
					case 2:
						pl.Set(ctx, k, v, shortTTL)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("write batch %d: %v", base, err)
			}
		}
		return started, time.Now()
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
					// Remaining TTL: at most longTTL, and no less than what
					// is left since the write started.
					left := longTTL - time.Since(written)
					if ttl > longTTL || ttl < left-time.Second {
						t.Fatalf("key %d TTL %v after restart, want about %v", i, ttl, left)
					}
				}
				if (i%4 == 0 || i%4 == 3) && ttl != -1 {
					t.Fatalf("key %d without TTL has PTTL %v", i, ttl)
				}
			}
		}
	}

	node := testcluster.StartSingle(t, testcluster.Options{})
	w0, acked0 := write(node.Client(), 0)
	node.Term()
	// The short TTLs run out while the node is down: a passage of time,
	// counted from the last acknowledged write.
	testcluster.SleepPast(acked0.Add(shortTTL))

	node.Start()
	node.WaitWritable()
	check(node.Client(), 0, w0)
	w1, acked1 := write(node.Client(), 1)
	node.Kill() // no snapshot, no clean close: the log alone
	testcluster.SleepPast(acked1.Add(shortTTL))

	node.Start()
	node.WaitWritable()
	check(node.Client(), 0, w0)
	check(node.Client(), 1, w1)
	// DBSIZE counts live keys: three in four of each generation.
	if got, want := node.Client().DBSize(ctx).Val(), int64(2*n*3/4); got != want {
		t.Fatalf("DBSIZE %d after two restarts, want %d", got, want)
	}
	node.Term()
}

// A cluster never runs on the client password or on no secret at all
// unless told to: peers prove the cluster secret, its own setting.
func TestClusterNeedsItsOwnSecret(t *testing.T) {
	for _, args := range [][]string{
		{"--join", "10.0.0.2"},
		{"--bootstrap-expect", "3"},
		{"--initial-cluster", "a=10.0.0.1:16379,b=10.0.0.2:16379"},
		{"--requirepass", "pw", "--join", "10.0.0.2"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil || !strings.Contains(err.Error(), "--cluster-secret") {
			t.Errorf("%v: %v, want the cluster-secret error", args, err)
		}
		o, err := parseFlags(append(args, "--insecure-peers"), io.Discard)
		if err != nil || o.clusterSecret != "" {
			t.Errorf("%v --insecure-peers: %v, secret %q", args, err, o.clusterSecret)
		}
		if o, err := parseFlags(append(args, "--cluster-secret", "s"), io.Discard); err != nil || o.clusterSecret != "s" {
			t.Errorf("%v with a secret: %v", args, err)
		}
	}
	if o, err := parseFlags([]string{"--requirepass", "pw"}, io.Discard); err != nil || o.clusterSecret != "" {
		t.Errorf("a lone node: %v, secret %q (the client password must not become the cluster secret)", err, o.clusterSecret)
	}
}

// --min-free-disk 0 turns the free-space check off, as documented; it was
// refused as "not a size".
func TestMinFreeDiskZeroTurnsTheCheckOff(t *testing.T) {
	for _, c := range []struct {
		v    string
		want int64
	}{{"0", -1}, {"256mb", 256 << 20}, {"1", 1}} {
		got, err := minFreeDisk(&options{minFreeDisk: c.v})
		if err != nil || got != c.want {
			t.Errorf("--min-free-disk %s: %d, %v; want %d", c.v, got, err, c.want)
		}
	}
	if _, err := minFreeDisk(&options{minFreeDisk: "-1"}); err == nil {
		t.Error("--min-free-disk -1 taken")
	}
}

// --tls-cluster needs its files and stands in for the cluster secret on
// the peer port, not on the gossip port.
func TestTLSClusterFlags(t *testing.T) {
	certs := []string{"--tls-cert-file", "n.crt", "--tls-key-file", "n.key", "--tls-ca-cert-file", "ca.crt"}
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--tls-cluster", "maybe"}, "must be yes or no"},
		{[]string{"--tls-cluster", "yes"}, "needs --tls-cert-file and --tls-key-file"},
		{[]string{"--tls-cluster", "yes", "--tls-cert-file", "n.crt", "--tls-key-file", "n.key"}, "needs --tls-ca-cert-file"},
		{append([]string{"--tls-cluster", "yes", "--initial-cluster", "n1=a:1,n2=b:1"}, certs...), ""},
		{append([]string{"--tls-cluster", "yes", "--join", "a:7946"}, certs...), "gossip is not covered by --tls-cluster"},
		{append([]string{"--tls-cluster", "yes", "--join", "a:7946", "--gossip-key", "MDEyMzQ1Njc4OWFiY2RlZg=="}, certs...), ""},
		{[]string{"--initial-cluster", "n1=a:1,n2=b:1"}, "or --tls-cluster yes"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.err)
		}
	}
}
