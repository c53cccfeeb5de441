package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// aptPackage names the Debian package of each tool the tests use.
var aptPackage = map[string]string{
	"redis-cli":    "redis-tools",
	"redis-server": "redis-server",
	"etcd":         "etcd-server",
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
// printed (stdout and stderr). Not on a terminal, redis-cli prints replies
// raw, one per line. It fails the test if redis-cli fails, and skips it if
// redis-cli is not installed.
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
	bin := NeedTool(t, "redis-cli")
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), ToolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %q (stdin %q): %v\n%s", args, stdin, err, out)
	}
	return string(out)
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
	bin := NeedTool(t, "redis-server")
	if v, err := exec.Command(bin, "--version").Output(); err != nil || !bytes.Contains(v, []byte(" v="+RedisVersion+".")) {
		t.Skipf("want redis-server %s, have %q (%v)", RedisVersion, bytes.TrimSpace(v), err)
	}
	dir := t.TempDir()
	var err error
	for range redisTries {
		var addr string
		if addr, err = startRedis(t, bin, dir, FreePort(t)); err == nil {
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
func startRedis(t testing.TB, bin, dir string, port int) (string, error) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
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
