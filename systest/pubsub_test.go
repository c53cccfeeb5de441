package systest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// A message published on any node reaches the subscribers of every node,
// each publisher's messages in the order it published them; pattern and
// shard-channel subscribers too. (Redis Cluster delivers PUBLISH to every
// node as well; statehouse sends it over the peer port.)
func TestPubSubAcrossTheCluster(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var subs []*redis.PubSub
	for _, n := range c.Nodes {
		cl := n.NewClient()
		defer cl.Close()
		ps := cl.Subscribe(ctx, "logout")
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, ps)
	}
	pat := c.Nodes[0].NewClient().PSubscribe(ctx, "log*")
	defer pat.Close()
	if _, err := pat.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	const perNode = 200
	for _, n := range c.Nodes {
		go func() {
			cl := n.NewClient()
			defer cl.Close()
			for i := range perNode {
				if err := cl.Publish(ctx, "logout", fmt.Sprintf("%s:%d", n.ID, i)).Err(); err != nil {
					t.Errorf("PUBLISH on %s: %v", n.ID, err)
					return
				}
			}
		}()
	}
	for i, ps := range append(subs, pat) {
		next := map[string]int{} // per publisher, the next message expected
		for got := 0; got < perNode*len(c.Nodes); got++ {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("subscriber %d after %d messages: %v", i, got, err)
			}
			node, n, _ := strings.Cut(m.Payload, ":")
			seq, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("payload %q", m.Payload)
			}
			if seq != next[node] {
				t.Fatalf("subscriber %d: %s's message %d arrived when %d was next", i, node, seq, next[node])
			}
			next[node]++
		}
	}
}
