package systest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// A full disk under a running cluster, as its users meet it: writes on any
// node answer -MISCONF naming the cause while reads go on everywhere;
// INFO says so; freeing the space brings writes back without a restart;
// after kill -9 of every node nothing acknowledged is missing.
func TestFullDiskAsAClientSeesIt(t *testing.T) {
	skipShort(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	root := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=400m", "tmpfs", root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", root).Run() })
	c := testcluster.Start(t, 3, testcluster.Options{DataRoot: root, Args: []string{"--min-free-disk", "64mb"}})
	ctx := context.Background()
	for i, n := range c.Nodes {
		for j := range 20 {
			if err := n.Client().Set(ctx, fmt.Sprintf("session:%d:%d", i, j), "cart", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	leader := c.Leader() // before the disk fills: finding it takes a write
	filler := filepath.Join(root, "filler")
	exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M").Run() // stops at ENOSPC
	for _, n := range c.Nodes {
		testcluster.Eventually(t, n.ID+" answers MISCONF", func() error {
			err := n.Client().Set(ctx, "during", "x", 0).Err()
			if err == nil || !strings.HasPrefix(err.Error(), "MISCONF ") || !strings.Contains(err.Error(), "--min-free-disk") {
				return fmt.Errorf("SET: %v", err)
			}
			return nil
		})
		if got, err := n.Client().Get(ctx, "session:0:7").Result(); err != nil || got != "cart" {
			t.Errorf("%s: GET while the disk is full: %q, %v", n.ID, got, err)
		}
	}
	info, err := leader.Client().Info(ctx, "persistence").Result()
	if err != nil || !strings.Contains(info, "disk_full:1") {
		t.Errorf("INFO persistence on the leader while the disk is full: %v\n%s", err, info)
	}

	os.Remove(filler)
	for _, n := range c.Nodes {
		testcluster.Eventually(t, n.ID+" takes writes again", func() error {
			return n.Client().Set(ctx, "after:"+n.ID, "ok", 0).Err()
		})
	}
	for _, n := range c.Nodes {
		n.Kill()
	}
	for _, n := range c.Nodes {
		n.Start()
	}
	for _, n := range c.Nodes {
		n.WaitWritable()
	}
	for _, n := range c.Nodes {
		for i := range c.Nodes {
			for j := range 20 {
				if got, err := n.Client().Get(ctx, fmt.Sprintf("session:%d:%d", i, j)).Result(); err != nil || got != "cart" {
					t.Errorf("%s after kill -9: session:%d:%d = %q, %v", n.ID, i, j, got, err)
				}
			}
		}
	}
}
