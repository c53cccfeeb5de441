package systest

import (
	"bytes"
	"context"
	"strings"
	"testing"

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
