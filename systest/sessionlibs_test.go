package systest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// Spring Session's indexed repository, replayed command for command: it
// turns on keyspace events, keeps each session in a hash with a shorter
// "expires" key beside it, listens for that key's expired event to clean
// up and for del events, and publishes a created event. Here the session
// is created through one follower and the events are heard on the other
// follower and on the leader.
func TestSpringSessionSequence(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader := c.Leader()
	fs := c.Followers(leader)
	app := fs[0].Client()
	// Spring Session's ConfigureNotifyKeyspaceEventsAction.
	if err := app.ConfigSet(ctx, "notify-keyspace-events", "Egx").Err(); err != nil {
		t.Fatal(err)
	}
	var listeners []*redis.PubSub
	for _, n := range []*testcluster.Node{fs[1], leader} {
		ps := n.NewClient().PSubscribe(ctx, "__keyevent@*__:expired", "__keyevent@*__:del", "spring:session:event:0:created:*")
		defer ps.Close()
		for range 3 {
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
		}
		listeners = append(listeners, ps)
	}
	id := "b5f2d8e0-session"
	minute := time.Now().Add(time.Minute).Truncate(time.Minute).UnixMilli()
	pipe := app.TxPipeline()
	pipe.HSet(ctx, "spring:session:sessions:"+id, "creationTime", "1", "maxInactiveInterval", "1", "lastAccessedTime", "1", "sessionAttr:user", "alice")
	pipe.Expire(ctx, "spring:session:sessions:"+id, 10*time.Second)
	pipe.Append(ctx, "spring:session:sessions:expires:"+id, "")
	pipe.PExpire(ctx, "spring:session:sessions:expires:"+id, 800*time.Millisecond)
	pipe.SAdd(ctx, fmt.Sprintf("spring:session:expirations:%d", minute), "expires:"+id)
	pipe.Publish(ctx, "spring:session:event:0:created:"+id, "{}")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, ps := range listeners {
		want := []string{"spring:session:event:0:created:" + id, "__keyevent@0__:expired spring:session:sessions:expires:" + id}
		for _, w := range want {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("listener %d: %v", i, err)
			}
			got := m.Channel
			if strings.HasPrefix(m.Channel, "__keyevent") {
				got += " " + m.Payload
			}
			if got != w {
				t.Fatalf("listener %d heard %q, want %q", i, got, w)
			}
		}
	}
	// The application reacts to the expired event by deleting the
	// session: a del event everywhere.
	if err := app.Del(ctx, "spring:session:sessions:"+id).Err(); err != nil {
		t.Fatal(err)
	}
	for i, ps := range listeners {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil || m.Channel != "__keyevent@0__:del" || m.Payload != "spring:session:sessions:"+id {
			t.Fatalf("listener %d: %v, %v", i, m, err)
		}
	}
}

// phpredis's session locking, two requests of one session at once on two
// nodes: SET lock NX PX, the critical section, then the unlock script by
// EVALSHA, falling back to EVAL on NOSCRIPT. The requests never overlap
// and neither loses the other's write.
func TestPHPRedisSessionLocking(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unlock := "if redis.call(\"get\",KEYS[1]) == ARGV[1] then return redis.call(\"del\",KEYS[1]) else return 0 end"
	sha := "b70c2384248f88e6b75b9f89241a180f856ad852"
	if got, err := c.Nodes[0].Client().Do(ctx, "SCRIPT", "LOAD", unlock).Text(); err != nil || got != sha {
		t.Fatalf("SCRIPT LOAD: %q, %v", got, err)
	}
	var inside sync.Mutex // held while a request is in its critical section: TryLock fails on overlap
	request := func(n *testcluster.Node, token string, rounds int) error {
		cl := n.NewClient()
		defer cl.Close()
		for i := 0; i < rounds; i++ {
			for {
				ok, err := cl.SetNX(ctx, "PHPREDIS_SESSION:abc_LOCK", token, 30*time.Second).Result()
				if err != nil {
					return err
				}
				if ok {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if !inside.TryLock() {
				return errors.New("two requests held the session lock at once")
			}
			if err := cl.Incr(ctx, "PHPREDIS_SESSION:abc:views").Err(); err != nil {
				return err
			}
			inside.Unlock()
			err := cl.EvalSha(ctx, sha, []string{"PHPREDIS_SESSION:abc_LOCK"}, token).Err()
			if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
				err = cl.Eval(ctx, unlock, []string{"PHPREDIS_SESSION:abc_LOCK"}, token).Err()
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, n := range c.Nodes[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- request(n, fmt.Sprintf("request-%d", i), 50)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, err := c.Nodes[0].Client().Get(ctx, "PHPREDIS_SESSION:abc:views").Int(); err != nil || v != 100 {
		t.Fatalf("views %d, %v: want 100", v, err)
	}
}
