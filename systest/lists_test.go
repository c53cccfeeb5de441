package systest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// A work queue on a list across three nodes: consumers blocked in BRPOP on
// every node, a producer pushing through every node, and the leader
// killed halfway. No element is delivered twice, and every element whose
// push was acknowledged is delivered or still queued, but for at most one
// per pop whose outcome the consumer could not know (its node died under
// it, or the reply was UNCERTAIN).
func TestBlockingQueueAcrossNodes(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	const total = 300

	var (
		mu        sync.Mutex
		delivered = map[string]int{}
		unknown   int // pops that may have taken an element the consumer never saw
	)
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	for _, n := range c.Nodes {
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
					v, err := cl.BRPop(ctx, time.Second, "queue").Result()
					switch {
					case errors.Is(err, redis.Nil): // timed out: nothing taken
					case err != nil:
						mu.Lock()
						unknown++
						mu.Unlock()
						if !n.Running() {
							return
						}
						time.Sleep(50 * time.Millisecond) // CLUSTERDOWN during the election
					default:
						mu.Lock()
						delivered[v[1]]++
						mu.Unlock()
					}
				}
			}()
		}
	}

	acked := map[string]bool{}
	leader := c.Leader()
	killed := false
	for i := range total {
		if i == total/2 {
			leader.Kill()
			killed = true
			leader = c.WaitForNewLeader(leader)
		}
		e := "e" + strconv.Itoa(i)
		for attempt := 0; ; attempt++ {
			n := c.Nodes[(i+attempt)%len(c.Nodes)]
			if !n.Running() {
				continue
			}
			err := n.Client().LPush(ctx, "queue", e).Err()
			if err == nil {
				acked[e] = true
				break
			}
			// Not acknowledged: it may or may not be in the list; pushing
			// it again could queue it twice, so it is not pushed again.
			t.Logf("LPUSH %s through %s: %v", e, n.ID, err)
			break
		}
	}
	if !killed {
		t.Fatal("the leader was never killed")
	}

	// Let the consumers drain the queue, then stop them.
	testcluster.Eventually(t, "the queue drained", func() error {
		n, err := leader.Client().LLen(ctx, "queue").Result()
		if err != nil || n != 0 {
			return fmt.Errorf("%d queued (%v)", n, err)
		}
		return nil
	})
	close(stop)
	consumers.Wait()

	mu.Lock()
	defer mu.Unlock()
	for e, k := range delivered {
		if k > 1 {
			t.Errorf("%s delivered %d times", e, k)
		}
	}
	missing := 0
	for e := range acked {
		if delivered[e] == 0 {
			missing++
		}
	}
	if missing > unknown {
		t.Fatalf("%d acknowledged elements never delivered, more than the %d pops of unknown outcome", missing, unknown)
	}
	t.Logf("%d pushed and acknowledged, %d delivered, %d missing, %d pops of unknown outcome", len(acked), len(delivered), missing, unknown)
}
