package server

import (
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// aclScript runs on one connection against statehouse and redis-server
// alike: users made and changed, AUTH as each, commands each may and may
// not run. Replies are compared byte for byte, except where "differs"
// starts the line: single-command rules after the categories are listed in
// command-name order by statehouse, in its hash table's order by Redis
// (-get -hset -set against -hset -get -set).
const aclScript = `
ACL SETUSER alice on >pw ~session:* -@all +@read +set
ACL SETUSER bob on >b1 >b2 %R~r:* %W~w:* +@all -@dangerous
ACL SETUSER carol
ACL SETUSER dave foo
ACL SETUSER dave +nosuch
ACL SETUSER dave +@nosuch
ACL SETUSER dave allkeys ~a
ACL SETUSER dave #abc
ACL SETUSER dave <nopw
ACL SETUSER dave &* &a
ACL GETUSER dave
ACL GETUSER alice
ACL GETUSER bob
ACL GETUSER carol
ACL LIST
ACL USERS
ACL DELUSER default
ACL DELUSER nobody carol
ACL USERS
ACL DRYRUN alice get foo
ACL DRYRUN alice get session:1
ACL DRYRUN alice hset session:1 a 1
ACL DRYRUN alice config get maxclients
ACL DRYRUN nobody get a
ACL GENPASS 0
ACL GENPASS 5000
ACL CAT nosuch
ACL GETUSER nosuch
ACL SETUSER "a b"
ACL SETUSER erin on nopass ~* +@all -get -set +@hash -hset
differs ACL GETUSER erin
ACL SETUSER erin reset
ACL LIST
ACL WHOAMI
AUTH alice wrong
AUTH alice pw
ACL WHOAMI
GET foo
GET session:1
SET session:1 v
GET session:1
SET foo v
HSET session:1 a 1
CONFIG GET maxclients
ACL LIST
AUTH bob b2
SET w:1 v
GET w:1
SET r:1 v
GET r:1
GETDEL w:1
INCR w:2
FLUSHALL
MULTI
SET w:3 v
GET w:3
EXEC
AUTH default x
ACL SETUSER alice off
AUTH alice pw
ACL SETUSER alice on resetpass nopass
AUTH alice anything
ACL SETUSER bob <b1
ACL SETUSER bob <b1
ACL GETUSER bob
ACL DELUSER alice bob
ACL USERS
`

// The ACL commands answer as redis-server 7.0 does, byte for byte.
func TestACLAgainstRedis(t *testing.T) {
	n, _ := ksNode(t)
	addr := testcluster.StartRedis(t)
	var script [][]string
	skip := map[int]bool{}
	for _, l := range strings.Split(aclScript, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if rest, ok := strings.CutPrefix(l, "differs "); ok {
				skip[len(script)], l = true, rest
			}
			script = append(script, splitWords(t, l))
		}
	}
	run := func(addr string) []string {
		rc := dialRaw(t, addr)
		out := make([]string, len(script))
		for i, args := range script {
			rc.write(encode(args...))
			out[i] = rc.read()
		}
		return out
	}
	want := run(addr)
	got := run(n.addr)
	diffs := 0
	for i, args := range script {
		if got[i] != want[i] && !skip[i] {
			diffs++
			t.Errorf("%q:\nstatehouse   %q\nredis-server %q", args, got[i], want[i])
		}
	}
	t.Logf("%d commands compared, %d differ", len(script), diffs)
}

// CONFIG SET requirepass sets the default user's password, also once ACL
// SETUSER has changed that user (it is then kept in the log).
func TestRequirepassSetsTheDefaultUsersPassword(t *testing.T) {
	n, c := ksNode(t)
	if err := c.Do(kctx, "ACL", "SETUSER", "default", "-flushall").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ConfigSet(kctx, "requirepass", "new-pw").Err(); err != nil {
		t.Fatal(err)
	}
	rc := dialRaw(t, n.addr)
	rc.write(encode("GET", "k"))
	if got := rc.read(); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("GET before AUTH: %q", got)
	}
	rc.write(encode("AUTH", "new-pw"))
	if got := rc.read(); got != "+OK\r\n" {
		t.Fatalf("AUTH with the new password: %q", got)
	}
	rc.write(encode("FLUSHALL"))
	if got := rc.read(); got != "-NOPERM this user has no permissions to run the 'flushall' command\r\n" {
		t.Fatalf("FLUSHALL after -flushall: %q", got)
	}
}
