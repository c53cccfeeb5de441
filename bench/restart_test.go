package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// How the restart measurement runs: rounds per system and stop signal,
// keys written before, and the bound on one restart, far above what it
// takes.
const (
	restartRounds  = 5
	restartPreload = 1000
	restartBound   = time.Minute
)

// restartDown is how long a replica stays down while writes go on. The
// statehouse leader keeps retrying it meanwhile, and hashicorp/raft backs
// off further with every failure (doubling, up to 10 s between tries), so
// how long a restarted follower waits to hear from the leader depends on
// how long it was down.
var restartDown = flag.Duration("restart-down", time.Second, "TestRestartToFirstRead: how long a replica stays down while writes go on")

// restartRead is one restart of a replica, timed from exec.
type restartRead struct {
	accept time.Duration // the client port accepts a connection
	read   time.Duration // a GET is answered with the value written while it was down
	wrong  int           // answers with another value before that
	errs   int           // error replies before that
	first  string        // the first wrong answer or error reply
	via    int64         // statehouse: reads_via_leader once it answered right
}

// TestRestartToFirstRead measures how soon a restarted replica answers a
// read with a value written while it was down: a follower of a 3-node
// statehouse cluster (a linearizable GET) after kill -9 and after SIGTERM,
// beside a Redis replica (--replicaof, no persistence) stopped the same
// ways. It logs min/median/max of restartRounds restarts each. Times are
// reported, never asserted; what it checks is that statehouse never
// answered a wrong value and that every node has every key afterwards.
//
//	go test ./bench -run TestRestartToFirstRead -v -count=1
func TestRestartToFirstRead(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts statehouse and Redis replicas 20 times (about 45 s); skipped under -short")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); the measurement compares against a Redis replica")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := t.TempDir()
	m := newProcs(root)
	defer m.killAll()
	bin, err := buildStatehouse(root)
	if err != nil {
		t.Fatal(err)
	}

	type row struct {
		system, stop string
		runs         []restartRead
	}
	var rows []row
	sh := &shDeploy{m: m, bin: bin, name: "restart-statehouse", n: 3}
	if err := sh.start(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := sh.leader(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := restartPreloadKeys(ctx, l.addr()); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		r := row{system: "statehouse follower", stop: stopName(sig)}
		for i := range restartRounds {
			rr, err := restartFollower(ctx, m, sh, sig, i)
			if err != nil {
				t.Fatalf("statehouse, %s, round %d: %v", r.stop, i+1, err)
			}
			logRound(t, "statehouse", r.stop, i, rr)
			if rr.wrong > 0 {
				t.Errorf("statehouse, %s, round %d: a linearizable GET on the restarted follower answered %d times with another value than the one written while it was down (first: %s)", r.stop, i+1, rr.wrong, rr.first)
			}
			r.runs = append(r.runs, rr)
		}
		rows = append(rows, r)
	}
	sh.stop()

	red := &redisDeploy{m: m, bin: redisBin, name: "restart-redis", replicas: 1}
	if err := red.start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := restartPreloadKeys(ctx, red.addr(0)); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		r := row{system: "Redis replica", stop: stopName(sig)}
		for i := range restartRounds {
			rr, err := restartReplica(ctx, m, red, sig, i)
			if err != nil {
				t.Fatalf("redis, %s, round %d: %v", r.stop, i+1, err)
			}
			logRound(t, "redis", r.stop, i, rr)
			r.runs = append(r.runs, rr)
		}
		rows = append(rows, r)
	}
	red.stop()
	for _, msg := range m.takeDied() {
		t.Errorf("%s", msg)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "restart → first GET answered with the value written while down (%d rounds each, down %v; min / median / max):\n", restartRounds, *restartDown)
	fmt.Fprintf(&b, "%-20s %-8s %-26s %-26s %s\n", "replica", "stopped", "port accepts", "first right GET", "before it (all rounds)")
	for _, r := range rows {
		var acc, rd []time.Duration
		wrong, errs, via := 0, 0, 0
		first := ""
		for _, x := range r.runs {
			acc, rd = append(acc, x.accept), append(rd, x.read)
			wrong, errs = wrong+x.wrong, errs+x.errs
			if x.via > 0 {
				via++
			}
			if first == "" {
				first = x.first
			}
		}
		note := fmt.Sprintf("%d wrong answers, %d errors", wrong, errs)
		if r.system != "Redis replica" {
			note += fmt.Sprintf(", read through the leader in %d of %d", via, len(r.runs))
		}
		if first != "" {
			note += " (first: " + short(first) + ")"
		}
		fmt.Fprintf(&b, "%-20s %-8s %-26s %-26s %s\n", r.system, r.stop, spread(acc), spread(rd), note)
	}
	t.Log("\n" + b.String())
}

func logRound(t *testing.T, system, stop string, i int, r restartRead) {
	t.Logf("%s, %s, round %d: port accepts at %v, first right GET at %v (%d wrong answers, %d errors before it; reads_via_leader %d)",
		system, stop, i+1, r.accept.Round(time.Millisecond), r.read.Round(time.Millisecond), r.wrong, r.errs, r.via)
}

func stopName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "kill -9"
	}
	return "SIGTERM"
}

// spread is "min / median / max" in milliseconds.
func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Round(time.Millisecond).Milliseconds(), 10) }
	return ms(s[0]) + " / " + ms(s[len(s)/2]) + " / " + ms(s[len(s)-1]) + " ms"
}

// restartPreloadKeys writes restart:0..restartPreload-1, which every
// restarted replica must still have.
func restartPreloadKeys(ctx context.Context, addr string) error {
	return loadRESP(ctx, addr, 0, restartPreload, 1, 250, 0, func() itemFunc {
		var key []byte
		return func(c *respConn, i int) int {
			key = keyName("restart:", i, key)
			c.send(cmdSET, key, key)
			return 1
		}
	})
}

// checkPreloaded reads every preloaded key on addr.
func checkPreloaded(addr string) error {
	args := []string{"MGET"}
	for i := range restartPreload {
		args = append(args, "restart:"+strconv.Itoa(i))
	}
	v, err := respDo(addr, 10*time.Second, args...)
	if err != nil {
		return err
	}
	vals, _ := v.([]any)
	if len(vals) != restartPreload {
		return fmt.Errorf("MGET of %d keys answered %T of %d", restartPreload, v, len(vals))
	}
	for i, got := range vals {
		if want := "restart:" + strconv.Itoa(i); got != want {
			return fmt.Errorf("after the restart %s is %v", want, got)
		}
	}
	return nil
}

// writeWhileDown writes to addr for *restartDown, a SET every 10 ms as a
// web tier would, then the value the restarted replica must read.
func writeWhileDown(ctx context.Context, addr, key, value string) error {
	end := time.Now().Add(*restartDown)
	for i := 0; time.Now().Before(end); i++ {
		if _, err := respDo(addr, 10*time.Second, "SET", "restart:down:"+strconv.Itoa(i%100), value); err != nil {
			return err
		}
		sleep(ctx, 10*time.Millisecond)
	}
	_, err := respDo(addr, 10*time.Second, "SET", key, value)
	return err
}

// pollRead starts p and times it: from exec until the port accepts, and
// until a GET of key on a fresh connection is answered with want. Each
// try dials anew (1 ms apart, so the polling costs the starting server
// little), so nothing of an earlier connection helps a later one.
func pollRead(ctx context.Context, m *procs, p *proc, addr, key, want string) (restartRead, error) {
	var r restartRead
	t0 := time.Now()
	if err := m.start(p); err != nil {
		return r, err
	}
	for {
		if time.Since(t0) > restartBound || ctx.Err() != nil {
			return r, fmt.Errorf("no GET answered %q within %v (%d wrong answers, %d errors, first %q):\n%s", want, restartBound, r.wrong, r.errs, r.first, p.tail(2000))
		}
		if p.exited() {
			return r, fmt.Errorf("%s exited:\n%s", p.name, p.tail(2000))
		}
		c, err := dialRESP(addr, time.Second)
		if err != nil {
			time.Sleep(time.Millisecond)
			continue
		}
		if r.accept == 0 {
			r.accept = time.Since(t0)
		}
		c.c.SetDeadline(time.Now().Add(restartBound))
		v, err := c.do("GET", key)
		at := time.Since(t0)
		c.close()
		var re replyError
		switch {
		case errors.As(err, &re):
			r.errs++
			if r.first == "" {
				r.first = "-" + string(re)
			}
		case err != nil:
			// Closed before it answered (the server was still starting).
		case v == any(want):
			r.read = at
			return r, nil
		default:
			r.wrong++
			if r.first == "" {
				r.first = "(nil)"
				if v != nil {
					r.first = fmt.Sprintf("%q", v)
				}
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// restartFollower stops a follower with sig, writes while it is down,
// starts it and times its first right linearizable GET. Rounds alternate
// between the two followers.
func restartFollower(ctx context.Context, m *procs, d *shDeploy, sig syscall.Signal, round int) (restartRead, error) {
	l, err := d.leader(ctx, 30*time.Second)
	if err != nil {
		return restartRead{}, err
	}
	var followers []*shNode
	for _, nd := range d.nodes {
		if nd != l {
			followers = append(followers, nd)
		}
	}
	f := followers[round%len(followers)]
	// Start each round alike: the follower has everything the leader has.
	if err := waitApplied(ctx, l, f); err != nil {
		return restartRead{}, err
	}
	m.stop(f.p, sig, 30*time.Second)
	key, want := "restart:probe", fmt.Sprintf("%s-%d", strings.ReplaceAll(stopName(sig), " ", ""), round)
	if err := writeWhileDown(ctx, l.addr(), key, want); err != nil {
		return restartRead{}, err
	}
	r, err := pollRead(ctx, m, f.p, f.addr(), key, want)
	if err != nil {
		return r, err
	}
	info, err := infoFields(f.addr(), "replication", 10*time.Second)
	if err != nil {
		return r, err
	}
	r.via = infoInt(info, "reads_via_leader")
	return r, checkPreloaded(f.addr())
}

// waitApplied waits until f has applied every entry l had applied.
func waitApplied(ctx context.Context, l, f *shNode) error {
	info, err := infoFields(l.addr(), "persistence", 10*time.Second)
	if err != nil {
		return err
	}
	target := infoInt(info, "raft_applied_index")
	if !waitFor(ctx, restartBound, 10*time.Millisecond, func() bool {
		info, err := infoFields(f.addr(), "persistence", time.Second)
		return err == nil && infoInt(info, "raft_applied_index") >= target
	}) {
		return fmt.Errorf("%s did not apply index %d within %v", f.id, target, restartBound)
	}
	return nil
}

// restartReplica is restartFollower for the Redis replica.
func restartReplica(ctx context.Context, m *procs, d *redisDeploy, sig syscall.Signal, round int) (restartRead, error) {
	master, replica := d.addr(0), d.addr(1)
	if !waitFor(ctx, restartBound, 10*time.Millisecond, func() bool {
		info, err := infoFields(master, "replication", time.Second)
		return err == nil && strings.Contains(info["slave0"], "state=online")
	}) {
		return restartRead{}, fmt.Errorf("the replica is not online:\n%s", d.nodes[1].tail(2000))
	}
	m.stop(d.nodes[1], sig, 30*time.Second)
	key, want := "restart:probe", fmt.Sprintf("%s-%d", strings.ReplaceAll(stopName(sig), " ", ""), round)
	if err := writeWhileDown(ctx, master, key, want); err != nil {
		return restartRead{}, err
	}
	r, err := pollRead(ctx, m, d.nodes[1], replica, key, want)
	if err != nil {
		return r, err
	}
	return r, checkPreloaded(replica)
}
