package systest

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// A value too large for one log entry is refused with an error and never
// reaches the log; the largest value that fits is stored, and the node
// comes back with it after kill -9 (a log record over raft-wal's 64 MiB
// used to make it refuse to start for good).
func TestLargeValuesNeverBrickANode(t *testing.T) {
	skipShort(t)
	n := testcluster.StartSingle(t, testcluster.Options{Args: []string{"--proto-max-bulk-len", "128mb"}})
	ctx := context.Background()
	c := n.Client()
	huge := bytes.Repeat([]byte{'h'}, 70<<20)
	err := c.Set(ctx, "huge", huge, 0).Err()
	if err == nil || !strings.Contains(err.Error(), "larger than a log entry may be") {
		t.Fatalf("SET of 70 MiB: %v, want the entry-size error", err)
	}
	fits := bytes.Repeat([]byte("0123456789abcdef"), (32<<20-4096)/16)
	if err := c.Set(ctx, "fits", fits, 0).Err(); err != nil {
		t.Fatalf("SET of %d bytes: %v", len(fits), err)
	}
	n.Kill()
	n.Start()
	n.WaitWritable()
	c = n.Client()
	got, err := c.Get(ctx, "fits").Bytes()
	if err != nil || !bytes.Equal(got, fits) {
		t.Fatalf("after kill -9: GET fits = %d bytes, %v; want %d bytes", len(got), err, len(fits))
	}
	if v, err := c.Exists(ctx, "huge").Result(); err != nil || v != 0 {
		t.Fatalf("the refused value exists: %d, %v", v, err)
	}
}

// With too few file descriptors for --maxclients, the node says so at
// start and serves as many clients as it can: the rest are refused with
// Redis's error, and the node goes on serving.
func TestOpenFilesLimit(t *testing.T) {
	skipShort(t)
	n := testcluster.StartSingle(t, testcluster.Options{OpenFiles: 300})
	if !strings.Contains(n.Log(), "maxclients reduced") || !strings.Contains(n.Log(), "reduced_to=172") {
		t.Fatalf("no log line about maxclients:\n%s", n.Log())
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refused := 0
	for range 250 {
		c, err := net.Dial("tcp", n.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(testcluster.RequestTimeout))
		c.Write([]byte("PING\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		switch line {
		case "+PONG\r\n":
		case "-ERR max number of clients reached\r\n":
			refused++
		default:
			t.Fatalf("client %d: %q", len(conns), line)
		}
	}
	if refused < 250-172 {
		t.Fatalf("%d of 250 clients refused, want at least %d", refused, 250-172)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	c := n.NewClient()
	defer c.Close()
	testcluster.Eventually(t, "a new client is served once others left", func() error {
		return c.Ping(context.Background()).Err()
	})
}
