// Package testcluster runs real statehouse processes on loopback for
// process-level tests: start a cluster or a single node, find its leader,
// kill -9, pause and restart nodes, and wait on conditions rather than
// sleep. Tests use it as a user would use statehouse: over RESP.
//
//	c := testcluster.Start(t, 3, testcluster.Options{})
//	leader := c.Leader()
//	leader.Kill()
//	next := c.WaitForNewLeader(leader)
//	leader.Start()
//	leader.WaitWritable()
//
// Every package that starts processes calls Main from its TestMain. All
// timeouts are named in wait.go.
package testcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The probe: helpers that must see a node take a write (Leader,
// WaitForNewLeader, WaitWritable) set ProbeKey in database ProbeDB, which
// tests leave alone, so tests count exactly their own keys in the others.
const (
	ProbeDB  = 15
	ProbeKey = "__testcluster:probe"
)

var (
	mainRunning bool // Main runs the package's tests
	buildOnce   sync.Once
	binDir      string
	binPath     string
	buildErr    error
)

// Main runs a package's tests and then removes what Binary built. Every
// package that starts statehouse processes calls it from TestMain:
//
//	func TestMain(m *testing.M) { testcluster.Main(m) }
func Main(m *testing.M) {
	mainRunning = true
	code := m.Run()
	if binDir != "" {
		if err := os.RemoveAll(binDir); err != nil {
			fmt.Fprintln(os.Stderr, "testcluster:", err)
		}
	}
	os.Exit(code)
}

// Binary builds cmd/statehouse once per test binary and returns its path.
// The package's TestMain must call Main, which removes the build.
func Binary(t testing.TB) string {
	t.Helper()
	if !mainRunning {
		t.Fatal("testcluster: call testcluster.Main(m) from TestMain so the statehouse binary is removed after the tests")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "statehouse-bin")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "statehouse")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/statehouse/statehouse/cmd/statehouse")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
