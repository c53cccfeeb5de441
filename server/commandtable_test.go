package server

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// Where the table knowingly differs from redis-server 7.0's COMMAND INFO.
var (
	// Flags Redis reports that mean nothing here (yet): slowlog, busy
	// scripts, async loading, replication of module commands.
	ignoredRedisFlags = map[string]bool{"skip_slowlog": true, "allow_busy": true, "no_async_loading": true, "may_replicate": true, "skip_monitor": true}
	// no_multi: statehouse refuses these front-door commands inside MULTI
	// where Redis queues them. setinfo: Redis 7.2's, not in 7.0.
	tableDifferences = map[string]string{"no_multi": "refused inside MULTI", "client|setinfo": "Redis 7.2",
		"raft": "statehouse's own", "raft|status": "statehouse's own", "raft|transfer-leader": "statehouse's own",
		"raft|remove": "statehouse's own", "object|help": "a keyspace read here: Redis flags it neither read nor write"}
)

// Every row of the command table matches what redis-server 7.0 says of
// the same command: arity, flags, key positions and ACL categories, for
// every subcommand too. The table feeds COMMAND, arity and auth checks,
// MULTI and ACL, so a row that drifts from Redis misleads all of them.
func TestCommandTableMatchesRedis(t *testing.T) {
	addr := testcluster.StartRedis(t)
	rc := redis.NewClient(testcluster.ClientOptions(addr))
	defer rc.Close()
	table := newTable()
	var rows []*fsm.Command
	for _, c := range table.Commands() {
		rows = append(rows, c)
		rows = append(rows, c.Subcommands...)
	}
	for _, c := range rows {
		name := c.FullName()
		if tableDifferences[name] != "" {
			continue
		}
		v, err := rc.Do(context.Background(), "COMMAND", "INFO", name).Slice()
		if err != nil || len(v) != 1 || v[0] == nil {
			t.Errorf("%s: redis-server does not know it (%v)", name, err)
			continue
		}
		e := v[0].([]any)
		front := c.Flags&fsm.FlagFrontDoor != 0
		var flags []string
		for _, f := range e[2].([]any) {
			if s := f.(string); !ignoredRedisFlags[s] && !(front && tableDifferences[s] != "") {
				flags = append(flags, s)
			}
		}
		var cats []string
		for _, c := range e[6].([]any) {
			cats = append(cats, c.(string))
		}
		want := fmt.Sprintf("arity %d flags [%s] keys %d %d %d categories [%s]",
			e[1], strings.Join(flags, " "), e[3], e[4], e[5], strings.Join(cats, " "))
		var ours []string
		for _, f := range c.FlagNames() {
			if !(front && tableDifferences[f] != "") {
				ours = append(ours, f)
			}
		}
		var ourCats []string
		for _, n := range c.ACLCategories().Names() {
			ourCats = append(ourCats, "@"+n)
		}
		got := fmt.Sprintf("arity %d flags [%s] keys %d %d %d categories [%s]",
			c.Arity, strings.Join(ours, " "), c.FirstKey, c.LastKey, c.Step, strings.Join(ourCats, " "))
		if got != want {
			t.Errorf("%s:\n statehouse %s\n redis      %s", name, got, want)
		}
	}
	t.Logf("%d rows checked against redis-server", len(rows))
}

// The table refuses rows that cannot be right, when it is built.
func TestCommandTableRefusesBadRows(t *testing.T) {
	ok := func(*fsm.Ctx, [][]byte) {}
	front := func(any, [][]byte) {}
	for name, rows := range map[string][]*fsm.Command{
		"duplicate":            {{Name: "x", Arity: 1, Flags: fsm.FlagFrontDoor, Conn: front}, {Name: "x", Arity: 1, Flags: fsm.FlagFrontDoor, Conn: front}},
		"upper-case name":      {{Name: "X", Arity: 1, Flags: fsm.FlagFrontDoor, Conn: front}},
		"no arity":             {{Name: "x", Flags: fsm.FlagFrontDoor, Conn: front}},
		"front without Conn":   {{Name: "x", Arity: 1, Flags: fsm.FlagFrontDoor}},
		"front with Handler":   {{Name: "x", Arity: 1, Flags: fsm.FlagFrontDoor, Conn: front, Handler: ok}},
		"keyspace without":     {{Name: "x", Arity: 1, Flags: fsm.FlagWrite}},
		"neither read/write":   {{Name: "x", Arity: 1, Handler: ok}},
		"both read and write":  {{Name: "x", Arity: 1, Flags: fsm.FlagWrite | fsm.FlagReadOnly, Handler: ok}},
		"duplicate subcommand": {{Name: "x", Arity: -2, Flags: fsm.FlagFrontDoor, Subcommands: []*fsm.Command{{Name: "a", Arity: 2, Conn: front}, {Name: "a", Arity: 2, Conn: front}}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: the table took it", name)
				}
			}()
			fsm.NewTable(rows)
		}()
	}
}
