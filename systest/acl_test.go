package systest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// ACL users live in the log: a user made on one node logs in on every
// node, a user limited to ~session:* and @read can neither write nor read
// elsewhere on any node, and a rule changed on one node holds on another
// the moment the change returned: a permission granted there is usable,
// one revoked there is refused, never the other way round.
func TestACLUsersAcrossTheCluster(t *testing.T) {
	skipShort(t)
	c := testcluster.Start(t, 3, testcluster.Options{})
	ctx := context.Background()
	admin := c.Nodes[0].Client()
	if err := admin.Do(ctx, "ACL", "SETUSER", "alice", "on", ">alice-pw", "~session:*", "-@all", "+@read").Err(); err != nil {
		t.Fatal(err)
	}
	alice := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		o := testcluster.ClientOptions(n.Addr())
		o.Username, o.Password = "alice", "alice-pw"
		alice[i] = redis.NewClient(o)
		defer alice[i].Close()
	}
	const noKey = "NOPERM this user has no permissions to access one of the keys used as arguments"
	for i, cl := range alice {
		if err := cl.Get(ctx, "session:1").Err(); err != redis.Nil {
			t.Errorf("node %d: alice's GET session:1: %v, want nil", i+1, err)
		}
		if err := cl.Get(ctx, "other").Err(); err == nil || err.Error() != noKey {
			t.Errorf("node %d: alice's GET other: %v", i+1, err)
		}
		if err := cl.Set(ctx, "session:1", "v", 0).Err(); err == nil || err.Error() != "NOPERM this user has no permissions to run the 'set' command" {
			t.Errorf("node %d: alice's SET session:1: %v", i+1, err)
		}
	}
	// Rules changed on one node, used at once through another.
	for round := range 30 {
		at, use := c.Nodes[round%3], alice[(round+1)%3]
		key := fmt.Sprintf("session:%d", round)
		if err := at.Client().Do(ctx, "ACL", "SETUSER", "alice", "+set").Err(); err != nil {
			t.Fatal(err)
		}
		if err := use.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatalf("round %d: SET right after +set on another node: %v", round, err)
		}
		if err := at.Client().Do(ctx, "ACL", "SETUSER", "alice", "-set").Err(); err != nil {
			t.Fatal(err)
		}
		if err := use.Set(ctx, key, "w", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("round %d: SET right after -set on another node: %v", round, err)
		}
		if v, err := use.Get(ctx, key).Result(); err != nil || v != "v" {
			t.Fatalf("round %d: GET %s: %q, %v", round, key, v, err)
		}
	}
	// Deleted on one node: logged out everywhere.
	if err := c.Nodes[2].Client().Do(ctx, "ACL", "DELUSER", "alice").Err(); err != nil {
		t.Fatal(err)
	}
	for i, cl := range alice {
		if err := cl.Get(ctx, "session:1").Err(); err == nil || err == redis.Nil {
			t.Errorf("node %d: a deleted user's GET: %v", i+1, err)
		}
	}
}
