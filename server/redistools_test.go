package server

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/testcluster"
)

func TestRedisCLI(t *testing.T) {
	testcluster.NeedTool(t, "redis-cli")
	n := startNode(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "PONG\n"},
		{[]string{"PING", "hi there"}, "hi there\n"},
		{[]string{"ECHO", "x"}, "x\n"},
		{[]string{"SET", "greeting", "hello world"}, "OK\n"},
		{[]string{"GET", "greeting"}, "hello world\n"},
		{[]string{"GET", "missing"}, "\n"},
		{[]string{"DEL", "missing", "greeting"}, "1\n"},
		{[]string{"FOO", "bar"}, "ERR unknown command 'FOO', with args beginning with: 'bar' \n\n"},
		{[]string{"GET"}, "ERR wrong number of arguments for 'get' command\n\n"},
		{[]string{"SELECT", "16"}, "ERR DB index is out of range\n\n"},
		{[]string{"CLIENT", "SETNAME", "cli"}, "OK\n"},
		{[]string{"CLIENT", "GETNAME"}, "\n"}, // every redis-cli run is a new connection
		{[]string{"CONFIG", "GET", "appendonly"}, "appendonly\nno\n"},
		{[]string{"HELLO", "2"}, ""}, // checked below
		{[]string{"-n", "3", "SET", "k", "in3"}, "OK\n"},
		{[]string{"-n", "3", "GET", "k"}, "in3\n"},
		{[]string{"GET", "k"}, "\n"},
		{[]string{"INFO", "keyspace"}, "# Keyspace\ndb3:keys=1,expires=0,avg_ttl=0\n"},
	} {
		got := testcluster.RedisCLI(t, n.addr, "", tc.args...)
		if tc.args[0] == "HELLO" {
			if !strings.HasPrefix(got, "server\nstatehouse\nversion\n") || !strings.Contains(got, "proto\n2\n") {
				t.Fatalf("redis-cli HELLO 2: %q", got)
			}
			continue
		}
		if strings.Replace(got, "\r", "", -1) != tc.want {
			t.Fatalf("redis-cli %q = %q, want %q", tc.args, got, tc.want)
		}
	}
	// -3 makes redis-cli send HELLO 3; it reports the NOPROTO on stderr
	// and goes on in RESP2.
	if r := testcluster.RunRedisCLI(t, n.addr, "", "-3", "PING"); r.ExitCode != 0 || r.Stdout != "PONG\n" || !strings.Contains(r.Stderr, "NOPROTO") {
		t.Fatalf("redis-cli -3 PING: exit %d, stdout %q, stderr %q", r.ExitCode, r.Stdout, r.Stderr)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "COMMAND", "COUNT"); got == "" || got == "0\n" {
		t.Fatalf("redis-cli COMMAND COUNT = %q", got)
	}
	// Commands on stdin, one per line, on one connection.
	got := testcluster.RedisCLI(t, n.addr, "SET a 1\nGET a\nSELECT 2\nGET a\nSET a 2\nGET a\nMULTI\nSET b 1\nEXEC\n")
	if got != "OK\n1\nOK\n\nOK\n2\nOK\nQUEUED\nOK\n" {
		t.Fatalf("redis-cli from stdin: %q", got)
	}
}

func TestRedisCLIAuth(t *testing.T) {
	testcluster.NeedTool(t, "redis-cli")
	n := startNode(t, withPassword("s3cret"))
	if got := testcluster.RedisCLI(t, n.addr, "", "GET", "k"); got != "NOAUTH Authentication required.\n\n" {
		t.Fatalf("redis-cli without password: %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "-a", "s3cret", "--no-auth-warning", "PING"); got != "PONG\n" {
		t.Fatalf("redis-cli -a: %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "", "--user", "default", "--pass", "s3cret", "--no-auth-warning", "SET", "k", "v"); got != "OK\n" {
		t.Fatalf("redis-cli --user --pass: %q", got)
	}
	if got := testcluster.RedisCLI(t, n.addr, "AUTH s3cret\nGET k\n"); got != "OK\nv\n" {
		t.Fatalf("redis-cli AUTH from stdin: %q", got)
	}
}

// redis-benchmark asks CONFIG GET save and appendonly before it starts, and
// pipelines: a smoke test that it runs to the end. Its timings are not
// looked at.
func TestRedisBenchmark(t *testing.T) {
	bin := testcluster.NeedTool(t, "redis-benchmark")
	n := startNode(t)
	host, port, _ := strings.Cut(n.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.ToolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-h", host, "-p", port,
		"-t", "set,get,ping", "-n", "200", "-c", "4", "-P", "8", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	for _, want := range []string{"SET:", "GET:", "PING_INLINE:", "PING_MBULK:"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Fatalf("redis-benchmark output has no %q:\n%s", want, out)
		}
	}
	if bytes.Contains(out, []byte("ERR")) {
		t.Fatalf("redis-benchmark saw errors:\n%s", out)
	}
}
