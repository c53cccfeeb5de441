package server

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// waitBlocked waits until n clients are blocked on the node.
func waitBlocked(t *testing.T, n *testNode, want int) {
	t.Helper()
	testcluster.Eventually(t, fmt.Sprintf("%d clients blocked", want), func() error {
		if got := n.srv.blocked.blocked(); got != want {
			return fmt.Errorf("%d blocked", got)
		}
		return nil
	})
}

// A blocked client gets what another pushes; a timeout answers a null
// array; what can pop pops at once.
func TestListsBlockingServed(t *testing.T) {
	n, _ := ksNode(t)
	a, b := n.raw(), n.raw()

	a.send("BLPOP", "q1", "q2", "0")
	waitBlocked(t, n, 1)
	b.expect(":1\r\n", "RPUSH", "q2", "x")
	if got := a.read(); got != "*2\r\n$2\r\nq2\r\n$1\r\nx\r\n" {
		t.Fatalf("BLPOP served %q", got)
	}
	waitBlocked(t, n, 0)

	a.send("BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
	waitBlocked(t, n, 1)
	b.expect(":2\r\n", "RPUSH", "src", "y", "z")
	if got := a.read(); got != "$1\r\nz\r\n" {
		t.Fatalf("BLMOVE served %q", got)
	}
	b.expect("*1\r\n$1\r\nz\r\n", "LRANGE", "dst", "0", "-1")

	// Timeouts: a null array for every form, as Redis answers them.
	for _, cmd := range [][]string{
		{"BLPOP", "none", "0.05"}, {"BRPOP", "none", "none2", "0.05"}, {"BLMOVE", "none", "d", "LEFT", "LEFT", "0.05"},
		{"BRPOPLPUSH", "none", "d", "0.05"}, {"BLMPOP", "0.05", "1", "none", "LEFT"},
	} {
		a.expect("*-1\r\n", cmd...)
	}
	a.expect("*2\r\n$3\r\nsrc\r\n$1\r\ny\r\n", "BLPOP", "src", "0")
	a.expect("-ERR timeout is negative\r\n", "BLPOP", "src", "-1")
	a.expect("*2\r\n$3\r\ndst\r\n*1\r\n$1\r\nz\r\n", "BLMPOP", "0", "1", "dst", "LEFT")
	a.expect("+OK\r\n", "SET", "str", "v")
	a.expect("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "BLPOP", "none", "str", "0")
}

// In a transaction a blocking command is one attempt, as in Redis.
func TestListsBlockingInMulti(t *testing.T) {
	n, _ := ksNode(t)
	a := n.raw()
	a.expect("+OK\r\n", "MULTI")
	a.expect("+QUEUED\r\n", "BLPOP", "none", "0")
	a.expect("+QUEUED\r\n", "BLMOVE", "none", "d", "LEFT", "LEFT", "0")
	a.expect("*2\r\n*-1\r\n$-1\r\n", "EXEC")
}

// Two clients wait on one list; each pushed element goes to exactly one.
func TestListsBlockingOneElementOneWaiter(t *testing.T) {
	n, _ := ksNode(t)
	waiters := []*rawClient{n.raw(), n.raw(), n.raw()}
	for _, w := range waiters {
		w.send("BRPOP", "jobs", "0")
	}
	waitBlocked(t, n, 3)
	b := n.raw()
	got := map[string]bool{}
	for i := range waiters {
		b.do("LPUSH", "jobs", "job"+strconv.Itoa(i))
		waitBlocked(t, n, len(waiters)-i-1)
	}
	for _, w := range waiters {
		r := w.read()
		if got[r] {
			t.Fatalf("%q delivered twice", r)
		}
		got[r] = true
	}
	b.expect(":0\r\n", "LLEN", "jobs")
}

// A client that disconnects while blocked takes nothing: the element
// pushed after it left stays in the list.
func TestListsBlockingDisconnectLosesNothing(t *testing.T) {
	n, _ := ksNode(t)
	a := dialRaw(t, n.addr)
	a.send("BLPOP", "q", "0")
	waitBlocked(t, n, 1)
	a.c.Close()
	waitBlocked(t, n, 0)
	b := n.raw()
	b.expect(":1\r\n", "RPUSH", "q", "kept")
	b.expect("*1\r\n$4\r\nkept\r\n", "LRANGE", "q", "0", "-1")
}

// A blocked client is not idle: the idle timeout does not close it.
func TestListsBlockedClientNotIdle(t *testing.T) {
	n, _ := ksNode(t)
	b := n.raw()
	b.expect("+OK\r\n", "CONFIG", "SET", "timeout", "1")
	a := n.raw()
	a.expect("*-1\r\n", "BLPOP", "q", "2.5")
	a.expect("+PONG\r\n", "PING")
}

// Waiting on lists that do not exist writes nothing to the log: a
// consumer polling an idle queue costs no entries.
func TestListsBlockingIdleWritesNothing(t *testing.T) {
	n, _ := ksNode(t)
	a := n.raw()
	a.expect("+OK\r\n", "SET", "other", "v")
	before := n.fsm.Applied()
	for range 3 {
		a.expect("*-1\r\n", "BLPOP", "idle1", "idle2", "0.05")
		a.expect("*-1\r\n", "BLMOVE", "idle1", "other", "LEFT", "LEFT", "0.05")
	}
	if after := n.fsm.Applied(); after != before {
		t.Fatalf("idle waits moved the applied index from %d to %d", before, after)
	}
	// A key of another kind is an attempt, and its error.
	a.expect("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", "BLPOP", "idle1", "other", "0.05")
}

// BZPOPMIN, BZPOPMAX and BZMPOP wait as the list commands do: served by a
// ZADD from another client, a null array at their timeout, one attempt in
// MULTI; two waiters never get the same element.
func TestZsetBlockingServed(t *testing.T) {
	n, _ := ksNode(t)
	a, b := n.raw(), n.raw()
	a.send("BZPOPMIN", "z1", "z2", "0")
	waitBlocked(t, n, 1)
	b.expect(":2\r\n", "ZADD", "z2", "2", "x", "1", "y")
	if got := a.read(); got != "*3\r\n$2\r\nz2\r\n$1\r\ny\r\n$1\r\n1\r\n" {
		t.Fatalf("BZPOPMIN served %q", got)
	}
	a.send("BZMPOP", "0", "2", "none", "z2", "MAX", "COUNT", "5")
	if got := a.read(); got != "*2\r\n$2\r\nz2\r\n*1\r\n*2\r\n$1\r\nx\r\n$1\r\n2\r\n" {
		t.Fatalf("BZMPOP %q", got)
	}
	for _, cmd := range [][]string{{"BZPOPMIN", "none", "0.05"}, {"BZPOPMAX", "none", "none2", "0.05"}, {"BZMPOP", "0.05", "1", "none", "MIN"}} {
		a.expect("*-1\r\n", cmd...)
	}
	a.expect("-ERR timeout is negative\r\n", "BZPOPMAX", "z", "-1")
	a.expect("+OK\r\n", "MULTI")
	a.expect("+QUEUED\r\n", "BZPOPMAX", "none", "0")
	a.expect("*1\r\n*-1\r\n", "EXEC")

	waiters := []*rawClient{n.raw(), n.raw(), n.raw()}
	for _, w := range waiters {
		w.send("BZPOPMAX", "jobs", "0")
	}
	waitBlocked(t, n, 3)
	for i := range waiters {
		b.do("ZADD", "jobs", strconv.Itoa(i), "job"+strconv.Itoa(i))
		waitBlocked(t, n, len(waiters)-i-1)
	}
	got := map[string]bool{}
	for _, w := range waiters {
		r := w.read()
		if got[r] {
			t.Fatalf("%q delivered twice", r)
		}
		got[r] = true
	}
	b.expect(":0\r\n", "ZCARD", "jobs")
}

// BZMPOP's timeout is its first argument: it waits that long on keys that
// do not exist yet, and bad arguments answer at once.
func TestZsetBZMPOPWaits(t *testing.T) {
	n, _ := ksNode(t)
	a, b := n.raw(), n.raw()
	a.send("BZMPOP", "0", "1", "later", "MIN")
	waitBlocked(t, n, 1)
	b.expect(":1\r\n", "ZADD", "later", "1", "m")
	if got := a.read(); got != "*2\r\n$5\r\nlater\r\n*1\r\n*2\r\n$1\r\nm\r\n$1\r\n1\r\n" {
		t.Fatalf("BZMPOP served %q", got)
	}
	a.expect("-ERR syntax error\r\n", "BZMPOP", "0", "1", "none", "MIDDLE")
	a.expect("-ERR count should be greater than 0\r\n", "BZMPOP", "0", "1", "none", "MIN", "COUNT", "0")
}
