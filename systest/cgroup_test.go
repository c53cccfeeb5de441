package systest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// memCgroup is a memory cgroup (v1 or v2) limiting the processes put in it.
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup makes a memory cgroup of limit bytes, removed when the
// test ends (after its processes), or skips the test where that cannot be
// done (not root, no memory controller).
func newMemCgroup(t *testing.T, name string, limit int64) *memCgroup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a memory cgroup")
	}
	cg := &memCgroup{}
	switch {
	case dirExists("/sys/fs/cgroup/memory"):
		cg.dir = filepath.Join("/sys/fs/cgroup/memory", name)
	case strings.Contains(readFile("/sys/fs/cgroup/cgroup.subtree_control"), "memory"):
		cg.dir, cg.v2 = filepath.Join("/sys/fs/cgroup", name), true
	default:
		t.Skip("no memory cgroup controller to put a node in")
	}
	if err := os.Mkdir(cg.dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup: %v", err)
	}
	t.Cleanup(func() { os.Remove(cg.dir) })
	file := "memory.limit_in_bytes"
	if cg.v2 {
		file = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("set the cgroup's limit: %v", err)
	}
	return cg
}

func (cg *memCgroup) add(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(cg.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("put %d in %s: %v", pid, cg.dir, err)
	}
}

// oomKills is how many processes the kernel killed for the limit.
func (cg *memCgroup) oomKills() int {
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	for _, line := range strings.Split(readFile(filepath.Join(cg.dir, file)), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// peak is the most memory the cgroup was charged (0 if not reported).
func (cg *memCgroup) peak() int64 {
	file := "memory.max_usage_in_bytes"
	if cg.v2 {
		file = "memory.peak"
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(readFile(filepath.Join(cg.dir, file))), 10, 64)
	return n
}

func dirExists(p string) bool { st, err := os.Stat(p); return err == nil && st.IsDir() }

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

// TestMaxmemoryInAMemoryCgroup: three nodes, each in its own 512 MiB
// memory cgroup (what a container limit is), --maxmemory 128mb with
// allkeys-lru, and writers that never stop until 4 times the limit has
// been written. No node is OOM-killed, nothing is refused, and afterwards
// every node holds the same keys.
func TestMaxmemoryInAMemoryCgroup(t *testing.T) {
	skipShort(t)
	const limit, cgLimit = 128 << 20, 512 << 20
	cgs := make([]*memCgroup, 3)
	run := strconv.Itoa(os.Getpid())
	for i := range cgs {
		cgs[i] = newMemCgroup(t, fmt.Sprintf("statehouse-test-%s-n%d", run, i+1), cgLimit)
	}
	c := testcluster.Start(t, 3, testcluster.Options{Args: []string{"--maxmemory", "128mb", "--maxmemory-policy", "allkeys-lru"}})
	for i, n := range c.Nodes {
		cgs[i].add(t, n.Pid())
	}
	w := startWriters(c, 50, 4000)
	start := time.Now()
	for w.written.Load() < 4*limit && time.Since(start) < 5*time.Minute {
		for i, n := range c.Nodes {
			if !n.Running() || cgs[i].oomKills() > 0 {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	w.stop()
	for i, n := range c.Nodes {
		// The cgroup's peak counts the page cache of the log too, which
		// the kernel reclaims at the limit; RSS is the process's own.
		t.Logf("%s: RSS %d MiB, cgroup peak %d MiB of %d, OOM kills %d", n.ID,
			infoField(t, n.Client(), "memory", "used_memory_rss")>>20, cgs[i].peak()>>20, cgLimit>>20, cgs[i].oomKills())
		if k := cgs[i].oomKills(); k > 0 || !n.Running() {
			t.Errorf("%s was OOM-killed (%d kills) in a %d MiB cgroup with maxmemory %d MiB", n.ID, k, cgLimit>>20, limit>>20)
		}
	}
	t.Logf("wrote %d MiB in %v, %d writes refused", w.written.Load()>>20, time.Since(start).Round(time.Second), w.refused.Load())
	if w.written.Load() < 4*limit {
		t.Errorf("wrote only %d MiB in 5 minutes", w.written.Load()>>20)
	}
	if w.refused.Load() > 0 {
		t.Errorf("%d writes refused under allkeys-lru", w.refused.Load())
	}
	sameKeysEverywhere(t, c)
}
