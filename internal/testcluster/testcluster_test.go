package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// FreePort never hands out a port twice: a node once got the same port as
// its client and its peer port, and could not start.
func TestFreePortNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if ports.hi > ports.lo && (p < ports.lo || p >= ports.hi) {
			t.Fatalf("port %d outside [%d, %d)", p, ports.lo, ports.hi)
		}
	}
}

func TestPollStopsOnStop(t *testing.T) {
	final := errors.New("final")
	calls := 0
	err := Poll(time.Minute, func() error { calls++; return Stop(final) })
	if !errors.Is(err, final) || calls != 1 {
		t.Fatalf("Poll after Stop: %v after %d calls", err, calls)
	}
	calls = 0
	err = Poll(3*PollInterval, func() error { calls++; return errors.New("not yet") })
	if err == nil || calls < 2 {
		t.Fatalf("Poll without Stop: %v after %d calls", err, calls)
	}
}

// A redis-server started on a port another one holds exits; the one
// answering there must not be taken for it (tests would flush and change
// another test binary's server).
func TestStartRedisWantsItsOwnServer(t *testing.T) {
	other := StartRedis(t)
	_, port, _ := net.SplitHostPort(other)
	p, _ := strconv.Atoi(port)
	if addr, err := startRedis(t, NeedTool(t, "redis-server"), t.TempDir(), p, nil); err == nil {
		t.Fatalf("redis-server started on the port of another: returned %s, which the other answers", addr)
	}
}

// The redis-cli runners against a scratch redis-server: commands on
// stdin, an error reply turned into exit code 1 by -e, and a session that
// another client's write interrupts.
func TestRedisCLIRunners(t *testing.T) {
	addr := StartRedis(t)
	NeedTool(t, "redis-cli")
	if got := RedisCLI(t, addr, "SET k v\nGET k\n"); got != "OK\nv\n" {
		t.Errorf("redis-cli from stdin: %q", got)
	}
	r := RunRedisCLI(t, addr, "", "-e", "INCR", "k")
	if r.ExitCode != 1 || r.Stdout != "" || !strings.Contains(r.Stderr, "ERR value is not an integer") {
		t.Errorf("redis-cli -e INCR k: %+v", r)
	}
	s := StartRedisCLI(t, addr)
	s.Expect("WATCH k", "OK\n")
	RedisCLI(t, addr, "", "SET", "k", "w")
	s.Expect("MULTI", "OK\n")
	s.Expect("GET k", "QUEUED\n")
	s.Expect("EXEC", "\n") // aborted: a null
	s.Expect("GET k", "w\n")
}

// A scratch redis-server in cluster mode serves every slot.
func TestStartRedisCluster(t *testing.T) {
	addr := StartRedisCluster(t)
	c := redis.NewClient(ClientOptions(addr))
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil || len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 {
		t.Fatalf("CLUSTER SLOTS = %+v, %v", slots, err)
	}
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on the cluster's one master: %v", err)
	}
}

func TestSplitArgs(t *testing.T) {
	got, err := SplitArgs(`SET  "a b\x41\n" 'c\n' "" d`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"SET", "a bA\n", `c\n`, "", "d"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range []string{`"\x4"`, `"\xzz"`} {
		if _, err := SplitArgs(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
