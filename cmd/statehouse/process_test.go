package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

// proc is one statehouse process a test starts by hand, where
// testcluster's fixed flags do not fit (another node id on a data dir).
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// startProc starts the binary with args on loopback ports of its own; it
// is killed at cleanup if still running.
func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	args = append([]string{"--bind", "127.0.0.1",
		"--port", strconv.Itoa(testcluster.FreePort(t)), "--peer-port", strconv.Itoa(testcluster.FreePort(t))}, args...)
	p := &proc{cmd: exec.Command(testcluster.Binary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// exitCode waits for the process to end by itself and returns its status.
func (p *proc) exitCode(t *testing.T) int {
	t.Helper()
	err := testcluster.Poll(testcluster.StopTimeout, func() error {
		select {
		case <-p.done:
			return nil
		default:
			return errors.New("still running")
		}
	})
	if err != nil {
		t.Fatalf("statehouse %q did not exit: %v\n%s", p.cmd.Args[1:], err, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

// runBinary runs the binary to its end: stdout, stderr, exit status.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testcluster.Binary(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

func TestVersion(t *testing.T) {
	out, errOut, code := runBinary(t, "--version")
	if code != 0 || out != "statehouse "+version+"\n" || errOut != "" {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// The ordinary help leaves the DEBUG fault-injection flags out; --help-debug
// lists them, and they are still taken.
func TestHelpLeavesOutDebugFlags(t *testing.T) {
	debug := []string{"-debug-clock-offset", "-debug-unsafe-reads", "-debug-ack-before-commit"}
	out, _, code := runBinary(t, "--help")
	if code != 0 || !strings.Contains(out, "-port int") || !strings.Contains(out, "-log-format") ||
		!strings.Contains(out, "-version") || !strings.Contains(out, "-help-debug") || !strings.Contains(out, "config-file") {
		t.Fatalf("--help: exit %d:\n%s", code, out)
	}
	for _, f := range debug {
		if strings.Contains(out, f) {
			t.Errorf("--help lists %s", f)
		}
	}
	out, _, code = runBinary(t, "--help-debug")
	if code != 0 || strings.Contains(out, "-port") {
		t.Fatalf("--help-debug: exit %d:\n%s", code, out)
	}
	for _, f := range debug {
		if !strings.Contains(out, f) {
			t.Errorf("--help-debug does not list %s:\n%s", f, out)
		}
	}
	o, err := parseFlags([]string{"--debug-unsafe-reads", "--debug-clock-offset", "1s"}, nil)
	if err != nil || !o.debugUnsafeReads || o.debugClockOffset.String() != "1s" {
		t.Fatalf("debug flags not taken: %v", err)
	}
}

// A node keeps its id in its data dir: restarted without --node-id it
// runs under it; started under another id it refuses, naming both and the
// data dir.
func TestNodeIDKeptInDataDir(t *testing.T) {
	n := testcluster.StartSingle(t, testcluster.Options{})
	n.Term()

	p := startProc(t, "--data-dir", n.DataDir, "--node-id", "n2")
	if code := p.exitCode(t); code != 1 {
		t.Fatalf("started as n2 on n1's data dir: exit %d\n%s", code, p.output())
	}
	for _, want := range []string{n.DataDir, `\"n1\"`, `\"n2\"`, "level=ERROR"} {
		if !strings.Contains(p.output(), want) {
			t.Fatalf("the refusal does not say %s:\n%s", want, p.output())
		}
	}

	p = startProc(t, "--data-dir", n.DataDir)
	testcluster.Eventually(t, "the node restarted without --node-id is ready as n1", func() error {
		if strings.Contains(p.output(), `msg="ready to accept writes" node=n1`) {
			return nil
		}
		select {
		case <-p.done:
			return testcluster.Stop(fmt.Errorf("exited: %v\n%s", p.err, p.output()))
		default:
			return errors.New("not yet")
		}
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.output())
	}
}

// quiet fails the test if log has a line that is not a slog record or one
// at WARN or ERROR.
func quiet(t *testing.T, what, log string) {
	t.Helper()
	record := regexp.MustCompile(`^time=\S+ level=(\S+) `)
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		m := record.FindStringSubmatch(line)
		switch {
		case m == nil:
			t.Errorf("%s: a line that is not a log record: %q", what, line)
		case m[1] == "WARN" || m[1] == "ERROR":
			t.Errorf("%s: %s", what, line)
		}
	}
}

// A single node started fresh, stopped, started again on its data dir and
// stopped logs nothing at WARN or ERROR, and every line is a log record.
func TestQuietSingleNode(t *testing.T) {
	n := testcluster.StartSingle(t, testcluster.Options{})
	n.Term()
	n.Start()
	n.WaitWritable()
	n.Term()
	quiet(t, "single node", n.Log())
}

// A 3-node cluster starts without WARN or ERROR lines, and a stopped
// (SIGTERM) leader, then a stopped follower of the next leader, log none
// of their own while they stop. (The members left running rightly warn
// that they cannot reach the stopped ones.)
func TestQuietCluster(t *testing.T) {
	c := testcluster.Start(t, 3, testcluster.Options{})
	for _, n := range c.Nodes {
		quiet(t, n.ID+" at start", n.Log())
	}
	stop := func(n *testcluster.Node) {
		before := len(n.Log())
		n.Term()
		quiet(t, n.ID+" stopping", n.Log()[before:])
	}
	leader := c.Leader()
	stop(leader)
	next := c.WaitForNewLeader(leader)
	stop(c.Followers(next)[0])
}

// --log-format json writes every record as one JSON object a line.
func TestLogFormatJSON(t *testing.T) {
	n := testcluster.StartSingle(t, testcluster.Options{Args: []string{"--log-format", "json"}})
	n.Term()
	lines := strings.Split(strings.TrimSuffix(n.Log(), "\n"), "\n")
	for _, line := range lines {
		var rec struct{ Time, Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Time == "" || rec.Msg == "" {
			t.Fatalf("not a JSON log record (%v): %q", err, line)
		}
		if rec.Level != "INFO" {
			t.Errorf("%s", line)
		}
	}
	if !strings.Contains(n.Log(), `"msg":"statehouse listening"`) {
		t.Fatalf("no listening record:\n%s", n.Log())
	}
}
