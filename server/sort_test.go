package server

import (
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// SORT's BY pattern and GET read keys the command does not name: a user
// without access to every key is refused them with Redis's own errors,
// on statehouse as on redis-server 7.0, and may still sort its own keys.
func TestSortPatternsNeedAllKeys(t *testing.T) {
	addr := testcluster.StartRedis(t)
	n, _ := ksNode(t)
	for _, a := range []string{addr, n.addr} {
		admin := redis.NewClient(&redis.Options{Addr: a})
		defer admin.Close()
		for _, cmd := range [][]any{
			{"rpush", "mine:l", "2", "1"},
			{"acl", "setuser", "sorter", "on", ">pw", "~mine:*", "+@all"},
		} {
			if err := admin.Do(kctx, cmd...).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := func(a string) []string {
		c := redis.NewClient(&redis.Options{Addr: a, Username: "sorter", Password: "pw"})
		defer c.Close()
		var out []string
		for _, cmd := range [][]any{
			{"sort", "mine:l"},
			{"sort", "mine:l", "by", "w_*"},
			{"sort", "mine:l", "by", "nosort"},
			{"sort", "mine:l", "get", "#"},
			{"sort_ro", "mine:l", "get", "o_*"},
			{"sort", "mine:l", "store", "other"},
		} {
			out = append(out, fmt.Sprint(c.Do(kctx, cmd...).Result()))
		}
		return out
	}
	want, got := run(addr), run(n.addr)
	t.Logf("redis: %q", want)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("command %d: statehouse %s, redis %s", i, got[i], want[i])
		}
	}
}
