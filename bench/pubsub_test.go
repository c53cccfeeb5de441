package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// figures turns on the measurements that go test ./... skips (each takes
// a minute or two and asserts nothing): TestPubSubAndScriptFigures,
// TestTLSThroughput.
var figures = flag.Bool("figures", false, "run the measurements (TestPubSubAndScriptFigures, TestTLSThroughput) beside redis-server")

func TestMain(m *testing.M) { testcluster.Main(m) }

// TestPubSubAndScriptFigures measures, in one run, on a 3-node statehouse
// cluster and on one redis-server: PUBLISH fan-out to 1 and to 100
// subscribers spread over the nodes (messages delivered per second, and
// the latency from PUBLISH to a subscriber, p50 and p99), and EVALSHA of
// the unlock script session handlers use (phpredis, Redisson), from 50
// clients. Figures are logged, never asserted.
//
//	go test ./bench -run TestPubSubAndScriptFigures -v -count=1 -args -figures
func TestPubSubAndScriptFigures(t *testing.T) {
	if !*figures {
		t.Skip("a measurement, not a test: run it with -args -figures")
	}
	c := testcluster.Start(t, 3, testcluster.Options{})
	redisAddr := testcluster.StartRedis(t)
	var shAddrs []string
	for _, n := range c.Nodes {
		shAddrs = append(shAddrs, n.Addr())
	}
	for _, subs := range []int{1, 100} {
		for _, sys := range []struct {
			name  string
			addrs []string
		}{{"statehouse (3 nodes)", shAddrs}, {"redis-server", []string{redisAddr}}} {
			rate, p50, p99 := fanOut(t, sys.addrs, subs, 2000)
			t.Logf("PUBLISH to %3d subscribers, %-20s %8.0f deliveries/s, latency p50 %v p99 %v", subs, sys.name, rate, p50, p99)
		}
	}
	for _, sys := range []struct {
		name string
		addr string
	}{{"statehouse (3 nodes, via a follower)", c.Followers(c.Leader())[0].Addr()}, {"redis-server", redisAddr}} {
		t.Logf("EVALSHA unlock script, %-36s %8.0f ops/s", sys.name, unlockRate(t, sys.addr, 50, 5*time.Second))
	}
}

// fanOut publishes n messages from one client while subs subscribers,
// spread over addrs, receive them; each message carries its send time.
func fanOut(t *testing.T, addrs []string, subs, n int) (rate float64, p50, p99 time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat []time.Duration
	var got atomic.Int64
	ready := make(chan struct{}, subs)
	for i := range subs {
		cl := redis.NewClient(testcluster.ClientOptions(addrs[i%len(addrs)]))
		defer cl.Close()
		ps := cl.Subscribe(ctx, "fanout")
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		ready <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ps.Close()
			ch := ps.Channel(redis.WithChannelSize(n))
			var mine []time.Duration
			for range n {
				select {
				case m := <-ch:
					sent, _ := strconv.ParseInt(m.Payload, 10, 64)
					mine = append(mine, time.Since(time.Unix(0, sent)))
					got.Add(1)
				case <-ctx.Done():
					return
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	pub := redis.NewClient(testcluster.ClientOptions(addrs[0]))
	defer pub.Close()
	start := time.Now()
	for range n {
		if err := pub.Publish(ctx, "fanout", strconv.FormatInt(time.Now().UnixNano(), 10)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no message arrived")
	}
	return float64(got.Load()) / took.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// unlockRate runs SET lock + EVALSHA unlock pairs from clients for d and
// returns the unlocks per second.
func unlockRate(t *testing.T, addr string, clients int, d time.Duration) float64 {
	ctx := context.Background()
	cl := redis.NewClient(testcluster.ClientOptions(addr))
	defer cl.Close()
	script := "if redis.call('get',KEYS[1]) == ARGV[1] then return redis.call('del',KEYS[1]) else return 0 end"
	sha, err := cl.ScriptLoad(ctx, script).Result()
	if err != nil {
		t.Fatal(err)
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key, token := fmt.Sprintf("lock:%d", i), fmt.Sprintf("token-%d", i)
			for time.Now().Before(deadline) {
				if err := cl.Set(ctx, key, token, time.Minute).Err(); err != nil {
					t.Error(err)
					return
				}
				if err := cl.EvalSha(ctx, sha, []string{key}, token).Err(); err != nil {
					t.Error(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}
