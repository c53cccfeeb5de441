package systest

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// A script loaded on one node runs by its SHA-1 on every other node at
// once (the cache goes through the log); a script's writes reach every
// node; a script's calls are held to its user's ACL rules.
func TestScriptsAcrossTheCluster(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	release := "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
	sha, err := c.Nodes[0].Client().ScriptLoad(ctx, release).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		cl := n.Client()
		if err := cl.Set(ctx, "lock:cart", "owner-"+n.ID, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := cl.EvalSha(ctx, sha, []string{"lock:cart"}, "someone-else").Int(); err != nil || got != 0 {
			t.Fatalf("%s: EVALSHA with the wrong token: %d, %v", n.ID, got, err)
		}
		if got, err := cl.EvalSha(ctx, sha, []string{"lock:cart"}, "owner-"+n.ID).Int(); err != nil || got != 1 {
			t.Fatalf("%s: EVALSHA with the right token: %d, %v", n.ID, got, err)
		}
		next := c.Nodes[(i+1)%len(c.Nodes)].Client()
		if n, err := next.Exists(ctx, "lock:cart").Result(); err != nil || n != 0 {
			t.Fatalf("the released lock on the next node: %d, %v", n, err)
		}
	}
	// A user who may not SET may not SET from a script either.
	if err := c.Nodes[0].Client().Do(ctx, "ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all", "-set").Err(); err != nil {
		t.Fatal(err)
	}
	o := testcluster.ClientOptions(c.Nodes[2].Addr())
	o.Username, o.Password = "app", "pw"
	app := redis.NewClient(o)
	defer app.Close()
	err = app.Eval(ctx, "return redis.call('set', KEYS[1], 'x')", []string{"k"}).Err()
	if err == nil || !strings.Contains(err.Error(), "NOPERM this user has no permissions to run the 'set' command") {
		t.Fatalf("a script's SET by a user without SET: %v", err)
	}
	if got, err := app.Eval(ctx, "return redis.call('incr', KEYS[1])", []string{"k2"}).Int(); err != nil || got != 1 {
		t.Fatalf("a script's INCR: %d, %v", got, err)
	}
}
