package systest

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
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

// Keyspace notifications come from the log: every node fires each
// expiry once, whichever node leads, also when the leader is killed
// while keys are expiring. A setting made on one node holds on all.
func TestExpiredEventsOnceOnEveryNode(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := c.Leader()
	if err := leader.Client().ConfigSet(ctx, "notify-keyspace-events", "Ex").Err(); err != nil {
		t.Fatal(err)
	}
	followers := c.Followers(leader)
	var subs []*redis.PubSub
	for _, n := range followers {
		testcluster.Eventually(t, n.ID+" has the setting", func() error {
			v, err := n.Client().ConfigGet(ctx, "notify-keyspace-events").Result()
			if err != nil || v["notify-keyspace-events"] != "xE" {
				return fmt.Errorf("%v, %v", v, err)
			}
			return nil
		})
		ps := n.NewClient().Subscribe(ctx, "__keyevent@0__:expired")
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, ps)
	}
	const keys = 300
	w := followers[0].Client()
	for i := range keys {
		if err := w.Set(ctx, fmt.Sprintf("session:%d", i), "v", time.Duration(200+i*5)*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(700 * time.Millisecond) // some expired under the first leader
	leader.Kill()
	c.WaitForNewLeader(leader)
	for i, ps := range subs {
		seen := map[string]int{}
		for len(seen) < keys {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("subscriber on %s after %d keys: %v", followers[i].ID, len(seen), err)
			}
			if seen[m.Payload]++; seen[m.Payload] > 1 {
				t.Fatalf("%s: %s expired twice", followers[i].ID, m.Payload)
			}
		}
		// Nothing more comes: each fired once.
		short, cancel := context.WithTimeout(ctx, time.Second)
		if m, err := ps.ReceiveMessage(short); err == nil {
			t.Fatalf("%s: one more event: %v", followers[i].ID, m)
		}
		cancel()
	}
}

// A full-cluster restart neither repeats nor loses expiry events: keys
// whose deadline passed while every node was down fire once on every
// node when the new leader reaps them, and the entries each node applies
// again after its snapshot give no events a second time.
func TestExpiredEventsAcrossAFullRestart(t *testing.T) {
	skipShort(t)
	// Slow elections, so every node's subscriber is there before a leader
	// reaps after the restart.
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--heartbeat-timeout", "1s", "--election-timeout", "3s"}})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := c.Leader()
	if err := leader.Client().ConfigSet(ctx, "notify-keyspace-events", "Ex").Err(); err != nil {
		t.Fatal(err)
	}
	// Some keys expire and are reaped before the restart (their events
	// must not come again), the others expire while the cluster is down.
	const early, late = 20, 30
	before := leader.NewClient().Subscribe(ctx, "__keyevent@0__:expired")
	if _, err := before.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range early {
		if err := leader.Client().Set(ctx, fmt.Sprintf("early:%d", i), "v", 100*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for range early { // reaped (committed) before the restart
		if _, err := before.ReceiveMessage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	before.Close()
	for _, n := range c.Nodes { // and applied by every node: a read waits for that
		if err := n.Client().Get(ctx, "early:0").Err(); err != redis.Nil {
			t.Fatalf("%s: %v", n.ID, err)
		}
	}
	for i := range late {
		if err := leader.Client().Set(ctx, fmt.Sprintf("late:%d", i), "v", 1500*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.Nodes {
		n.Kill() // no snapshot: every entry is applied again at the start
	}
	time.Sleep(2 * time.Second) // the late keys expire while every node is down
	var subs []*redis.PubSub
	for _, n := range c.Nodes {
		n.Start()
		var ps *redis.PubSub
		testcluster.Eventually(t, n.ID+" takes a subscriber", func() error {
			ps = n.NewClient().Subscribe(ctx, "__keyevent@0__:expired")
			if _, err := ps.Receive(ctx); err != nil {
				ps.Close()
				return err
			}
			return nil
		})
		defer ps.Close()
		subs = append(subs, ps)
	}
	for i, ps := range subs {
		seen := map[string]int{}
		for len(seen) < late {
			m, err := ps.ReceiveMessage(ctx)
			if err != nil {
				t.Fatalf("%s after %d events: %v", c.Nodes[i].ID, len(seen), err)
			}
			if strings.HasPrefix(m.Payload, "early:") {
				t.Fatalf("%s: %s's expiry fired again after the restart", c.Nodes[i].ID, m.Payload)
			}
			if seen[m.Payload]++; seen[m.Payload] > 1 {
				t.Fatalf("%s: %s expired twice", c.Nodes[i].ID, m.Payload)
			}
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		if m, err := ps.ReceiveMessage(short); err == nil {
			t.Fatalf("%s: one more event: %v", c.Nodes[i].ID, m)
		}
		cancel()
	}
}

// redis-cli subscribed on one node hears a message published on another
// node and the keyspace event of a write made on a third.
func TestRedisCLISubscriberAcrossNodes(t *testing.T) {
	skipShort(t)
	bin := testcluster.NeedTool(t, "redis-cli")
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	if err := c.Nodes[2].Client().ConfigSet(ctx, "notify-keyspace-events", "E$").Err(); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, "the setting on every node", func() error {
		for _, n := range c.Nodes {
			if v := n.Client().ConfigGet(ctx, "notify-keyspace-events").Val()["notify-keyspace-events"]; v != "$E" {
				return fmt.Errorf("%s: %q", n.ID, v)
			}
		}
		return nil
	})
	// A subscribed redis-cli runs until it is stopped.
	cmd := exec.Command(bin, "-p", strconv.Itoa(c.Nodes[0].Port), "subscribe", "news", "__keyevent@0__:set")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		r := bufio.NewReader(out)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	read := func(n int) string {
		var got []string
		for range n {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("redis-cli ended after %q", got)
				}
				got = append(got, l)
			case <-time.After(testcluster.RequestTimeout):
				t.Fatalf("redis-cli said only %q", got)
			}
		}
		return strings.Join(got, " ")
	}
	if got := read(6); got != "subscribe news 1 subscribe __keyevent@0__:set 2" {
		t.Fatalf("redis-cli subscribe: %q", got)
	}
	if err := c.Nodes[1].Client().Publish(ctx, "news", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	if got := read(3); got != "message news hello" {
		t.Fatalf("redis-cli heard %q", got)
	}
	if err := c.Nodes[2].Client().Set(ctx, "session:9", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := read(3); got != "message __keyevent@0__:set session:9" {
		t.Fatalf("redis-cli heard %q", got)
	}
}
