package systest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// A priority queue on a sorted set across three nodes: consumers blocked in
// BZPOPMIN on the followers, the producer adding through the leader. Every
// element is delivered exactly once, to a waiter on another node than the
// writer, and the set ends empty.
func TestBlockingZsetQueueAcrossNodes(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	const total = 100
	leader := c.Leader()
	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		errs      []error
	)
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	for _, n := range c.Followers(leader) {
		for range 2 {
			consumers.Add(1)
			go func() {
				defer consumers.Done()
				cl := n.NewClient()
				defer cl.Close()
				for {
					select {
					case <-stop:
						return
					default:
					}
					v, err := cl.BZPopMin(ctx, time.Second, "pq").Result()
					mu.Lock()
					switch {
					case errors.Is(err, redis.Nil): // timed out: nothing taken
					case err != nil:
						errs = append(errs, err)
					default:
						delivered[v.Member.(string)]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	p := leader.NewClient()
	defer p.Close()
	for i := range total {
		if err := p.ZAdd(ctx, "pq", redis.Z{Score: float64(i % 7), Member: "e" + strconv.Itoa(i)}).Err(); err != nil {
			t.Fatalf("ZADD e%d: %v", i, err)
		}
	}
	testcluster.Eventually(t, "every element delivered", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(delivered) < total {
			return errors.New(strconv.Itoa(len(delivered)) + " delivered")
		}
		return nil
	})
	close(stop)
	consumers.Wait()
	if len(errs) > 0 {
		t.Fatalf("consumer errors: %v", errs)
	}
	for e, k := range delivered {
		if k != 1 {
			t.Fatalf("%s delivered %d times", e, k)
		}
	}
	if n, err := p.ZCard(ctx, "pq").Result(); err != nil || n != 0 {
		t.Fatalf("ZCARD pq after the queue drained: %d, %v", n, err)
	}
}
