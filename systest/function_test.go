package systest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// A library loaded through a follower is on every node at once (FUNCTION
// LOAD goes through the log); FCALL writes from any node, FCALL_RO reads
// on any node; every node lists the same libraries; after every node was
// killed and started again (the log replayed) the functions are there.
func TestFunctionsAcrossTheCluster(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	lib := "#!lua name=carts\n" +
		"redis.register_function('add', function(keys, args) return redis.call('hincrby', keys[1], args[1], 1) end)\n" +
		"redis.register_function{function_name='count', callback=function(keys, args) return redis.call('hget', keys[1], args[1]) end, flags={'no-writes'}}\n"
	follower := c.Followers(c.Leader())[0]
	if got, err := follower.Client().FunctionLoad(ctx, lib).Result(); err != nil || got != "carts" {
		t.Fatalf("FUNCTION LOAD through a follower: %q, %v", got, err)
	}
	for i, n := range c.Nodes {
		if got, err := n.Client().FCall(ctx, "add", []string{"cart:1"}, "apple").Int(); err != nil || got != i+1 {
			t.Fatalf("%s: FCALL add: %d, %v", n.ID, got, err)
		}
		if got, err := n.Client().FCallRO(ctx, "count", []string{"cart:1"}, "apple").Int(); err != nil || got != i+1 {
			t.Fatalf("%s: FCALL_RO count: %d, %v", n.ID, got, err)
		}
	}
	var lists []string
	for _, n := range c.Nodes {
		v, err := n.Client().Do(ctx, "FUNCTION", "LIST", "WITHCODE").Result()
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, fmt.Sprint(v))
	}
	if lists[0] != lists[1] || lists[1] != lists[2] {
		t.Fatalf("the nodes list different libraries: %q", lists)
	}
	for _, n := range c.Nodes {
		n.Kill()
	}
	for _, n := range c.Nodes {
		n.Start()
	}
	leader := c.Leader()
	leader.WaitWritable()
	for _, n := range c.Nodes {
		testcluster.Eventually(t, n.ID+" runs the function after a restart", func() error {
			got, err := n.Client().FCall(ctx, "count", []string{"cart:1"}, "apple").Int()
			if err == nil && got != 3 {
				return fmt.Errorf("count %d, want 3", got)
			}
			return err
		})
	}
}
