package testcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

// FreePort returns a loopback port that was free a moment ago and that
// this process has not handed out before. It picks below the kernel's
// ephemeral range where it can, so that the source port of some outgoing
// connection cannot take the port before the server that was given it
// binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
		ports.lo, ports.hi = portRange()
	}
	for range 1000 {
		port := 0 // the kernel's choice, in the ephemeral range
		if ports.hi > ports.lo {
			port = ports.lo + rand.IntN(ports.hi-ports.lo)
		}
		if ports.given[port] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		port = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ports.given[port] {
			continue
		}
		ports.given[port] = true
		return port
	}
	t.Fatal("testcluster: no free loopback port")
	return 0
}

var ports struct {
	sync.Mutex
	given  map[int]bool // handed out by FreePort
	lo, hi int          // where FreePort picks: [lo, hi), or hi <= lo for the kernel's choice
}

// portRange is [10000, start of the ephemeral range), or an empty range
// if the ephemeral range is not known or starts too low.
func portRange() (lo, hi int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start < 11000 {
		return 0, 0
	}
	return 10000, start
}
