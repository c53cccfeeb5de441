package server

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A client that has not authenticated gets Redis 7's limits: ten
// arguments, 16 KiB bulks. A stranger used to get the full limits, and
// 300 MiB sent without AUTH stayed in the node's memory.
func TestUnauthenticatedLimits(t *testing.T) {
	n := startNode(t, withPassword("s3cret"))
	authed := n.raw()
	authed.expect("+OK\r\n", "AUTH", "s3cret")
	stillFine := func(t *testing.T) {
		t.Helper()
		authed.expect("+OK\r\n", "SET", "bystander", "ok")
	}

	r := n.raw()
	r.write([]byte("*2\r\n$3\r\nGET\r\n$10000000\r\n" + strings.Repeat("x", 1<<16)))
	if got := r.read(); got != "-ERR Protocol error: unauthenticated bulk length\r\n" {
		t.Fatalf("a 10 MB bulk before AUTH: %q", got)
	}
	r.expectClosed()

	r = n.raw()
	r.write([]byte("*11\r\n"))
	if got := r.read(); got != "-ERR Protocol error: unauthenticated multibulk length\r\n" {
		t.Fatalf("11 arguments before AUTH: %q", got)
	}
	r.expectClosed()

	// Small commands before AUTH get NOAUTH, as before.
	r = n.raw()
	r.expect("-NOAUTH Authentication required.\r\n", "GET", "k")

	// AUTH and a large command in one write: AUTH runs before the guard
	// judges what follows it, so the large command is a client's.
	big := strings.Repeat("v", 1<<20)
	r = n.raw()
	r.write(append(encode("AUTH", "s3cret"), encode("SET", "big", big)...))
	if got := r.read() + r.read(); got != "+OK\r\n+OK\r\n" {
		t.Fatalf("AUTH then a 1 MiB SET in one write: %q", got)
	}
	r.expect(bulk(big), "GET", "big")
	stillFine(t)

	// RESET makes the connection a stranger's again.
	r.expect("+RESET\r\n", "RESET")
	r.write([]byte("*2\r\n$3\r\nGET\r\n$20000\r\n"))
	if got := r.read(); got != "-ERR Protocol error: unauthenticated bulk length\r\n" {
		t.Fatalf("a 20 KB bulk after RESET: %q", got)
	}
	stillFine(t)
}

// Without a password every client is authenticated: the full limits.
func TestNoPasswordFullLimits(t *testing.T) {
	n := startNode(t)
	big := strings.Repeat("v", 1<<20)
	r := n.raw()
	r.expect("+OK\r\n", "SET", "big", big)
	r.expect(":1\r\n", "DEL", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "big") // 12 arguments
}

// With a password set, a client that does not authenticate in time is
// closed: idle strangers cannot hold the slots real clients need. One that
// authenticated stays.
func TestAuthTimeout(t *testing.T) {
	n := startNode(t, withPassword("s3cret"), withAuthTimeout(time.Second))
	stranger := n.raw()
	stranger.expect("-NOAUTH Authentication required.\r\n", "GET", "k")
	client := n.raw()
	client.expect("+OK\r\n", "AUTH", "s3cret")
	stranger.expectClosed() // within hangGuard; the janitor looks every second
	client.expect("+PONG\r\n", "PING")
}

// CONFIG SET timeout closes clients idle longer, as Redis's timeout does;
// a client that keeps talking stays.
func TestIdleTimeout(t *testing.T) {
	n := startNode(t)
	r := n.raw()
	r.expect("*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n", "CONFIG", "GET", "timeout")
	r.expect("-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive\r\n", "CONFIG", "SET", "timeout", "-1")
	r.expect("+OK\r\n", "CONFIG", "SET", "timeout", "2")
	idle := n.raw()
	idle.expect("+PONG\r\n", "PING")
	// r keeps talking, past the time idle is closed.
	closed := make(chan error, 1)
	go func() {
		idle.c.SetReadDeadline(time.Now().Add(hangGuard))
		_, err := idle.c.Read(make([]byte, 1)) // returns when the node closes it
		closed <- err
	}()
	for {
		r.expect("+PONG\r\n", "PING")
		select {
		case err := <-closed:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("the idle client was not closed: %v", err)
			}
			r.expect("+PONG\r\n", "PING")
			r.expect("+OK\r\n", "CONFIG", "SET", "timeout", "0")
			return
		case <-time.After(300 * time.Millisecond): // a client's pace, not a wait on the node
		}
	}
}
