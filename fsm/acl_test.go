package fsm

import (
	"bytes"
	"strings"
	"testing"
)

func aclOp(args ...string) Op {
	a := make([][]byte, len(args))
	for i, s := range args {
		a[i] = []byte(s)
	}
	return Op{Args: a}
}

// A write checked at the front door against users that changed before it
// applied is checked again, against the users as the log has them at its
// index: a rule committed first holds for every write committed after it.
func TestWritesCheckedAgainstUsersAtTheirIndex(t *testing.T) {
	f := New()
	apply := func(index uint64, r Request) string {
		return string(f.Apply(index, &Entry{Now: 1000, Reqs: []Request{r}})[0])
	}
	if got := apply(1, Request{Ops: []Op{aclOp("__acl_setuser", "alice", "on", "nopass", "~session:*", "+@all")}}); got != "+OK\r\n" {
		t.Fatalf("setuser: %q", got)
	}
	rev := f.ACLRev()
	if rev != 1 {
		t.Fatalf("ACLRev %d, want 1", rev)
	}
	// Checked at rev 1, applied at rev 1: runs without a second check.
	if got := apply(2, Request{User: "alice", ACLRev: rev, Ops: []Op{aclOp("SET", "session:1", "v")}}); got != "+OK\r\n" {
		t.Fatalf("SET at the checked revision: %q", got)
	}
	// The rule changes before the next write applies.
	apply(3, Request{Ops: []Op{aclOp("__acl_setuser", "alice", "-set")}})
	got := apply(4, Request{User: "alice", ACLRev: rev, Ops: []Op{aclOp("SET", "session:2", "v"), aclOp("DEL", "session:1"), aclOp("DEL", "other")}})
	want := "-NOPERM this user has no permissions to run the 'set' command\r\n:1\r\n-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
	if got != want {
		t.Fatalf("writes after the rule changed: %q, want %q", got, want)
	}
	// A deleted user's writes are refused.
	apply(5, Request{Ops: []Op{aclOp("__acl_deluser", "alice")}})
	if got := apply(6, Request{User: "alice", ACLRev: 3, Ops: []Op{aclOp("DEL", "session:1")}}); !strings.HasPrefix(got, "-NOPERM") {
		t.Fatalf("a deleted user's write: %q", got)
	}
	// The implicit default user may do anything.
	if got := apply(7, Request{User: "default", ACLRev: 1, Ops: []Op{aclOp("SET", "k", "v")}}); got != "+OK\r\n" {
		t.Fatalf("default user's write: %q", got)
	}
}

// The users and their revision survive a snapshot; a password never
// reaches the log or the snapshot in clear.
func TestACLUsersInSnapshot(t *testing.T) {
	f := New()
	e := &Entry{Now: 1000, Reqs: []Request{{Ops: []Op{aclOp("__acl_setuser", "bob", "on", "#"+HashPassword("s3cret-pw"), "%R~r:*", "+@read")}}}}
	if got := string(f.Apply(9, e)[0]); got != "+OK\r\n" {
		t.Fatalf("setuser: %q", got)
	}
	var buf bytes.Buffer
	if _, err := f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("s3cret-pw")) {
		t.Fatal("the snapshot holds a password in clear")
	}
	g := New()
	if err := g.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	rules, _, rev := g.ACLRules()
	if rev != 9 || g.ACLRev() != 9 || strings.Join(rules["bob"], " ") != "on #"+HashPassword("s3cret-pw")+" %R~r:* +@read" {
		t.Fatalf("restored users at %d: %q", rev, rules)
	}
	u, err := CompileACLUser("bob", rules["bob"], ownTable)
	if err != nil || !u.CheckPassword([]byte("s3cret-pw")) || u.CheckPassword([]byte("wrong")) {
		t.Fatalf("restored bob: %v", err)
	}
	if !u.CanKey([]byte("r:1"), true, false) || u.CanKey([]byte("r:1"), false, true) {
		t.Fatal("restored bob's key permissions differ")
	}
}

// Rules with a password in clear are kept as its hash.
func TestPasswordRuleKeptAsHash(t *testing.T) {
	u := NewACLUser("x")
	if err := u.Apply(">pw", ownTable); err != nil {
		t.Fatal(err)
	}
	if r := u.Rules(); len(r) != 1 || r[0] != "#"+HashPassword("pw") {
		t.Fatalf("rules %q", r)
	}
}
