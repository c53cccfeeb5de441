package cluster

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/fsm"
)

func idFile(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, idFileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The first start keeps the node's id in its data dir; later starts run
// under it without being told, and a start under another id is refused
// with both ids and the data dir named.
func TestNodeIDKeptInDataDir(t *testing.T) {
	dir := t.TempDir()
	openNode(t, dir).Shutdown()
	if got := idFile(t, dir); got != "n1\n" {
		t.Fatalf("node-id file holds %q, want %q", got, "n1\n")
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, idFileName+".*")); len(tmp) > 0 {
		t.Fatalf("temporary files left behind: %v", tmp)
	}
	for _, given := range []string{"", "n1"} {
		if id, err := NodeID(dir, given); id != "n1" || err != nil {
			t.Fatalf("NodeID(dir, %q) = %q, %v; want n1", given, id, err)
		}
	}

	_, err := NodeID(dir, "n2")
	var ie *IdentityError
	if !errors.As(err, &ie) || ie.Stored != "n1" || ie.Given != "n2" || ie.DataDir != dir {
		t.Fatalf("NodeID(dir, n2) = %v, want an IdentityError for n1 and n2", err)
	}
	for _, want := range []string{dir, `"n1"`, `"n2"`} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
	_, err = Open(Config{NodeID: "n2", DataDir: dir, PeerAddr: "127.0.0.1:0", Logger: discard()}, fsm.New())
	if !errors.As(err, &ie) || !strings.HasPrefix(err.Error(), "node identity: ") {
		t.Fatalf("open as n2 on n1's data dir: %v", err)
	}

	n := openNode(t, dir, func(c *Config) { c.NodeID = "" })
	defer n.Shutdown()
	if id := n.Status().NodeID; id != "n1" {
		t.Fatalf("node opened without an id runs as %q, want n1", id)
	}
}

// A new data dir without an id given takes the hostname if it is a tidy
// id, else a random one; an id that cannot be kept on a line is refused.
func TestNodeIDDefault(t *testing.T) {
	id, err := NodeID(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if tidyID(host) && id != host {
		t.Fatalf("default id %q, want the hostname %q", id, host)
	}
	if !tidyID(host) && !regexp.MustCompile(`^statehouse-[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("default id %q with hostname %q, want statehouse-xxxxxxxx", id, host)
	}
	if r, _ := randomNodeID(); !regexp.MustCompile(`^statehouse-[0-9a-f]{8}$`).MatchString(r) {
		t.Fatalf("random id %q", r)
	}
	for _, bad := range []string{"host name", "a=b", "n1.example.com:1", ""} {
		if tidyID(bad) {
			t.Errorf("tidyID(%q) is true", bad)
		}
	}
	if _, err := NodeID(t.TempDir(), "n1\nn2"); err == nil {
		t.Fatal("an id with a newline was taken")
	}
}

// A data dir made before ids were kept (Raft state, no node-id file) adopts
// the id it is started with, says so, and keeps it from then on. Without
// one it takes what those versions defaulted to: the hostname.
func TestOlderDataDirAdoptsItsID(t *testing.T) {
	dir := t.TempDir()
	openNode(t, dir).Shutdown()
	if err := os.Remove(filepath.Join(dir, idFileName)); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "statehouse"
	}
	if id, err := NodeID(dir, ""); id != host || err != nil {
		t.Fatalf("NodeID of an older data dir = %q, %v; want the hostname %q", id, err, host)
	}

	h := newCapture(slog.LevelInfo)
	n := openNode(t, dir, func(c *Config) { c.Logger = slog.New(h) })
	n.Shutdown()
	if _, ok := h.find(func(c captured) bool {
		return c.level == slog.LevelInfo && strings.Contains(c.msg, "made by an older statehouse") && c.attrs["node"] == "n1"
	}); !ok {
		t.Fatal("no INFO line saying the older data dir's id is now kept")
	}
	if got := idFile(t, dir); got != "n1\n" {
		t.Fatalf("node-id file holds %q after adoption, want n1", got)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
