package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// aptPackage names the Debian package of each tool the tests use.
var aptPackage = map[string]string{
	"redis-cli":       "redis-tools",
	"redis-benchmark": "redis-tools",
	"redis-server":    "redis-server",
	"etcd":            "etcd-server",
}

// NeedTool returns the path of a command-line tool, or skips the test with
// a one-line reason when it is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if pkg, ok := aptPackage[name]; ok {
			t.Skipf("%s not installed (apt-get install %s)", name, pkg)
		}
		t.Skipf("%s not installed", name)
	}
	return path
}

// RedisCLI runs redis-cli against the node with args and returns what it
// printed. Not on a terminal, redis-cli prints replies raw, one per line,
// error replies included. It fails the test if redis-cli exits non-zero or
// prints anything on stderr, and skips it if redis-cli is not installed.
func (n *Node) RedisCLI(t testing.TB, args ...string) string {
	t.Helper()
	return RedisCLI(t, n.Addr(), "", args...)
}

// RedisCLIStdin is RedisCLI with stdin: one redis-cli connection runs the
// commands stdin holds, one per line.
func (n *Node) RedisCLIStdin(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	return RedisCLI(t, n.Addr(), stdin, args...)
}

// RedisCLI runs redis-cli against addr (host:port) with stdin and args;
// see Node.RedisCLI.
func RedisCLI(t testing.TB, addr, stdin string, args ...string) string {
	t.Helper()
	r := RunRedisCLI(t, addr, stdin, args...)
	if r.ExitCode != 0 || r.Stderr != "" {
		t.Fatalf("redis-cli %q (stdin %q): exit %d, stderr %q, stdout %q", args, stdin, r.ExitCode, r.Stderr, r.Stdout)
	}
	return r.Stdout
}

// CLIResult is what one run of a command-line tool printed and its exit
// code.
type CLIResult struct {
	Stdout, Stderr string
	ExitCode       int
}

// RunRedisCLI runs redis-cli against addr (host:port) with stdin and args
// and returns what it printed and its exit code, for tests of what
// redis-cli reports on stderr or with its exit code (-e). It fails the
// test if redis-cli cannot run or does not end within ToolTimeout, and
// skips it if redis-cli is not installed.
func RunRedisCLI(t testing.TB, addr, stdin string, args ...string) CLIResult {
	t.Helper()
	bin := NeedTool(t, "redis-cli")
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := CLIResult{Stdout: out.String(), Stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("redis-cli %q (stdin %q) did not end within %v; stdout %q, stderr %q", args, stdin, ToolTimeout, r.Stdout, r.Stderr)
	case errors.As(err, &ee):
		r.ExitCode = ee.ExitCode()
	case err != nil:
		t.Fatalf("redis-cli %q: %v", args, err)
	}
	return r
}

// CLISession is an interactive redis-cli: commands are written one at a
// time and each reply read before the next, so other clients can act in
// between (redis-cli flushes after every reply even without a terminal).
// Its stdout is a pipe of the test's own, read with a deadline on the
// test's goroutine: no goroutine is left reading when a reply never comes.
type CLISession struct {
	t      testing.TB
	in     io.WriteCloser
	pipe   *os.File // redis-cli's stdout, our end
	out    *bufio.Reader
	stderr *syncBuffer
}

// StartRedisCLI starts an interactive redis-cli against addr (host:port)
// with args; its stdin is closed and it is waited for at cleanup. It skips
// the test if redis-cli is not installed.
func StartRedisCLI(t testing.TB, addr string, args ...string) *CLISession {
	t.Helper()
	bin := NeedTool(t, "redis-cli")
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, append([]string{"-h", host, "-p", port}, args...)...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = pw, stderr
	err = cmd.Start()
	pw.Close() // redis-cli holds its own copy
	if err != nil {
		pr.Close()
		t.Fatalf("start redis-cli: %v", err)
	}
	exit := &exitState{done: make(chan struct{})}
	go func() { exit.err = cmd.Wait(); close(exit.done) }()
	t.Cleanup(func() {
		in.Close() // redis-cli ends at the end of its input
		select {
		case <-exit.done:
		case <-time.After(StopTimeout):
			cmd.Process.Kill()
			<-exit.done
			t.Errorf("redis-cli did not end within %v of its input", StopTimeout)
		}
		pr.Close()
	})
	return &CLISession{t: t, in: in, pipe: pr, out: bufio.NewReader(pr), stderr: stderr}
}

// Send writes one command and reads the given number of lines of its
// reply, waiting up to RequestTimeout for them.
func (s *CLISession) Send(cmd string, lines int) string {
	s.t.Helper()
	if _, err := io.WriteString(s.in, cmd+"\n"); err != nil {
		s.t.Fatalf("redis-cli: write %q: %v (stderr %q)", cmd, err, s.stderr)
	}
	if err := s.pipe.SetReadDeadline(time.Now().Add(RequestTimeout)); err != nil {
		s.t.Fatalf("redis-cli: stdout deadline: %v", err)
	}
	var out string
	for range lines {
		l, err := s.out.ReadString('\n')
		out += l
		if err != nil {
			s.t.Fatalf("redis-cli: reply to %q: %v (read %q, stderr %q)", cmd, err, out, s.stderr)
		}
	}
	return out
}

// Expect sends cmd and reports an error, and goes on, unless the reply is
// want (as many lines as want has).
func (s *CLISession) Expect(cmd, want string) {
	s.t.Helper()
	if got := s.Send(cmd, strings.Count(want, "\n")); got != want {
		s.t.Errorf("redis-cli %q = %q, want %q", cmd, got, want)
	}
}

// RedisVersion is the redis-server release the comparison tests were
// checked against; StartRedis skips with any other.
const RedisVersion = "7.0"

// redisTries is how many ports StartRedis tries before it gives up.
const redisTries = 5

// StartRedis starts a scratch redis-server of the test's own on a free
// loopback port, in a temporary dir with persistence off, and returns its
// address once the server answering there is the process it started; it
// is stopped, and waited for, at cleanup. Other test binaries on the
// machine (other packages, other checkouts) may run redis-servers at the
// same time: if the port is taken before the server binds it, the server
// exits and another port is tried. It skips the test if redis-server is
// not installed or is not release RedisVersion.
func StartRedis(t testing.TB) string {
	t.Helper()
	return startRedisTries(t, func(int) []string { return nil })
}

// StartRedisCluster starts a scratch redis-server as StartRedis does, but
// in cluster mode and as the one master of a cluster of one: it is given
// every slot (CLUSTER ADDSLOTSRANGE 0 16383), and StartRedisCluster
// returns once it reports cluster_state:ok. Tests compare statehouse's
// cluster face with it.
func StartRedisCluster(t testing.TB) string {
	t.Helper()
	addr := startRedisTries(t, func(port int) []string {
		// The bus port is given, not the default port+10000, which may
		// be taken or out of range.
		return []string{"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(FreePort(t)),
			"--cluster-config-file", "nodes-" + strconv.Itoa(port) + ".conf"}
	})
	c := redis.NewClient(ClientOptions(addr))
	defer c.Close()
	ctx := context.Background()
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("redis-server %s: CLUSTER ADDSLOTSRANGE: %v", addr, err)
	}
	EventuallyWithin(t, StartTimeout, "redis-server in cluster mode reports cluster_state:ok", func() error {
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("cluster_state:%s", st)
		}
		return nil
	})
	return addr
}

// StartRedisReplica starts a scratch redis-server as StartRedis does, as
// a replica of master (host:port, a StartRedis server), and returns its
// address once the master reports it online.
func StartRedisReplica(t testing.TB, master string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		t.Fatal(err)
	}
	addr := startRedisTries(t, func(int) []string { return []string{"--replicaof", host, port} })
	_, own, _ := net.SplitHostPort(addr)
	c := redis.NewClient(ClientOptions(master))
	defer c.Close()
	EventuallyWithin(t, StartTimeout, "the master reports its replica "+addr+" online", func() error {
		info, err := c.Info(context.Background(), "replication").Result()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(info, "\r\n") {
			if strings.HasPrefix(line, "slave") && strings.Contains(line, "port="+own+",") && strings.Contains(line, "state=online") {
				return nil
			}
		}
		return fmt.Errorf("INFO replication: %q", info)
	})
	return addr
}

// startRedisTries starts redis-server on a free port, with the flags
// extra gives for that port, trying other ports if it is taken.
func startRedisTries(t testing.TB, extra func(port int) []string) string {
	t.Helper()
	bin := NeedTool(t, "redis-server")
	if v, err := exec.Command(bin, "--version").Output(); err != nil || !bytes.Contains(v, []byte(" v="+RedisVersion+".")) {
		t.Skipf("want redis-server %s, have %q (%v)", RedisVersion, bytes.TrimSpace(v), err)
	}
	dir := t.TempDir()
	var err error
	for range redisTries {
		var addr string
		port := FreePort(t)
		if addr, err = startRedis(t, bin, dir, port, extra(port)); err == nil {
			return addr
		}
		t.Logf("redis-server: %v; trying another port", err)
	}
	t.Fatalf("redis-server did not start on any of %d ports: %v", redisTries, err)
	return ""
}

// startRedis starts redis-server on port and returns its address once it
// answers there as itself (INFO server names its process id). If it exits
// first, most likely because the port was taken, it returns the error; if
// it never answers, it fails the test.
func startRedis(t testing.TB, bin, dir string, port int, extra []string) (string, error) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	log := &syncBuffer{}
	args := append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exit := &exitState{done: make(chan struct{})}
	go func() { exit.err = cmd.Wait(); close(exit.done) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGKILL) // persistence is off: nothing to save
		<-exit.done
	}
	ours := strconv.Itoa(cmd.Process.Pid)
	c := redis.NewClient(ClientOptions(addr))
	defer c.Close()
	err := Poll(StartTimeout, func() error {
		select {
		case <-exit.done:
			return Stop(fmt.Errorf("exited before it answered on %s (%v):\n%s", addr, exit.err, log))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
		defer cancel()
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		if pid := infoField(info, "process_id"); pid != ours {
			return fmt.Errorf("%s is answered by process %q, not by the redis-server started (%s)", addr, pid, ours)
		}
		return nil
	})
	if err != nil {
		stop()
		if errors.As(err, new(stopError)) {
			return "", err
		}
		t.Fatalf("redis-server on %s does not answer within %v: %v\n%s", addr, StartTimeout, err, log)
	}
	t.Cleanup(stop)
	return addr, nil
}
