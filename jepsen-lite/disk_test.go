package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMountsTagged(t *testing.T) {
	info := `22 27 0:21 / /proc rw,relatime - proc proc rw
101 27 0:50 / /tmp/jepsen-lite-1/n1/data rw,nosuid,nodev,relatime - tmpfs jepsen-lite-4242-0-n1 rw,size=262144k,mode=755
102 27 0:51 / /tmp/with\040space/n2/data rw,relatime shared:7 - tmpfs jepsen-lite-4242-0-n2 rw,size=262144k
103 27 0:52 / /dev/shm rw - tmpfs tmpfs rw
104 27 0:53 / /tmp/other rw - ext4 jepsen-lite-4242-0-n3 rw
`
	points, pids := mountsTagged(strings.NewReader(info), staleNS)
	if want := []string{"/tmp/jepsen-lite-1/n1/data", "/tmp/with space/n2/data"}; !reflect.DeepEqual(points, want) {
		t.Errorf("points = %q, want %q", points, want)
	}
	if !reflect.DeepEqual(pids, []string{"4242", "4242"}) {
		t.Errorf("pids = %q", pids)
	}
}

// A node gets --min-free-disk only from a binary that has it, and only
// once.
func TestMinFreeDiskArgs(t *testing.T) {
	dir := t.TempDir()
	fake := func(name, help string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\ncat >&2 <<'EOF'\n"+help+"\nEOF\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newer := fake("newer", "Usage: statehouse [flags]\n  -min-free-disk string\n    \trefuse writes below this much free space (default \"64mb\")")
	older := fake("older", "Usage: statehouse [flags]\n  -proto-max-bulk-len string\n    \tlargest bulk string")
	got, _ := minFreeDiskArgs(newer, []string{"--a"})
	if want := []string{"--a", "--min-free-disk", minFreeDisk}; !reflect.DeepEqual(got, want) {
		t.Errorf("newer binary: %q, want %q", got, want)
	}
	if got, note := minFreeDiskArgs(older, []string{"--a"}); !reflect.DeepEqual(got, []string{"--a"}) {
		t.Errorf("older binary: %q (%s)", got, note)
	}
	if got, _ := minFreeDiskArgs(newer, []string{"--min-free-disk=1mb"}); len(got) != 1 {
		t.Errorf("--node-args set it already: %q", got)
	}
}

func skipUnlessRoot(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
}

// isMounted reports whether a tmpfs tagged tag is mounted.
func isMounted(t *testing.T, tag string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	points, _ := mountsTagged(f, regexp.MustCompile("^("+regexp.QuoteMeta(tag)+")"))
	return len(points) > 0
}

// fillDisk leaves nothing free, freeDisk gives it back, and unmountDisk
// keeps what the node wrote and nothing of the filler.
func TestFillDisk(t *testing.T) {
	skipUnlessRoot(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tag := fmt.Sprintf("jepsen-lite-%d-999-n1", os.Getpid())
	if err := mountDisk(dir, tag, 8<<20); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("node data"), 0o644); err != nil {
		t.Fatal(err)
	}
	size, err := fillDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	free, _ := freeBytes(dir)
	t.Logf("filler %d bytes, %d free", size, free)
	if free != 0 || size < 7<<20 {
		t.Fatalf("filler %d bytes, %d bytes still free", size, free)
	}
	if err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 4096), 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write on the full disk: %v, want ENOSPC", err)
	}
	os.Remove(filepath.Join(dir, "more"))
	if err := freeDisk(dir); err != nil {
		t.Fatal(err)
	}
	if free, _ := freeBytes(dir); free < 7<<20 {
		t.Fatalf("after freeDisk only %d bytes free", free)
	}
	if err := freeDisk(dir); err != nil {
		t.Fatalf("freeDisk without a filler: %v", err)
	}
	fillDisk(dir) // teardown removes a filler still there
	if err := unmountDisk(dir); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, tag) {
		t.Fatal("still mounted")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "kept")); string(b) != "node data" {
		t.Errorf("the node's data was not kept: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, fillerName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the filler was kept: %v", err)
	}
}

// A cluster on tmpfs data dirs: a full disk on the leader, then freed;
// teardown unmounts and keeps the data. A binary with --min-free-disk must
// answer MISCONF to writes on the full disk and take them again after.
func TestLocalDiskFull(t *testing.T) {
	skipUnlessCluster(t)
	bin := testBinary(t)
	args, note := minFreeDiskArgs(bin, nil)
	t.Log(note)
	b := newLocal(BackendConfig{Nodes: 3, Binary: bin, NodeArgs: args, RaftTimeout: 300 * time.Millisecond,
		Dir: t.TempDir(), DiskSize: diskSize, Logf: t.Logf})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := b.Setup(ctx)
	defer func() {
		if err := b.Teardown(); err != nil {
			t.Errorf("teardown: %v", err)
		}
		for _, n := range b.nodes {
			if isMounted(t, n.ns) {
				t.Errorf("%s's data dir still mounted", n.id)
			}
		}
		if _, err := os.Stat(filepath.Join(b.nodes[0].dataDir, "wal")); err != nil {
			t.Errorf("n1's data was not kept after unmounting: %v", err)
		}
	}()
	if IsUnsupported(err) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	topo := newTopology(b)
	defer topo.Close()
	if err := topo.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	leader := topo.FindLeader(ctx)
	detail, err := b.FillDisk(leader)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("filled: %s", detail)
	if free, _ := freeBytes(b.byID[leader].dataDir); free != 0 {
		t.Fatalf("%d bytes free after FillDisk", free)
	}
	misconf := len(args) > 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		c, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := topo.probe(leader).Set(c, "disk", i, 0).Err()
		cancel()
		t.Logf("write %d on %s with a full disk: %v (%s)", i, leader, err, classify(err))
		if !misconf || (err != nil && strings.HasPrefix(err.Error(), "MISCONF")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no MISCONF from %s with a full disk and --min-free-disk: %v", leader, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := b.FreeDisk(leader); err != nil {
		t.Fatal(err)
	}
	healthy, cancelH := context.WithTimeout(ctx, 30*time.Second)
	defer cancelH()
	if err := topo.WaitHealthy(healthy); err != nil {
		t.Fatalf("disk freed, yet: %v", err)
	}
}
