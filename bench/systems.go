package main

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// A system is what a row of the results names: a deployment plus the way
// the load generator talks to it. Several systems can share a deployment
// (statehouse-3 and statehouse-3-readonly run against the same cluster).
type systemDef struct {
	name   string
	deploy string // key of the deployment it runs on
	about  string
}

var allSystems = []systemDef{
	{"redis", "redis", "one redis-server, no persistence (`--save '' --appendonly no`)"},
	{"redis-wait", "redis-wait", "redis-server and two replicas (`--replicaof`); every write is followed by `WAIT 2 0`"},
	{"etcd", "etcd", "3-node etcd cluster (static `--initial-cluster`), linearizable reads, client go.etcd.io/etcd/client/v3"},
	{"statehouse-1", "statehouse-1", "one statehouse node, fsync on"},
	{"statehouse-3", "statehouse-3", "3-node statehouse, fsync on; writes go to the leader, linearizable reads are spread over all three nodes (client i reads from node i mod 3, followers first), as a cluster-aware client would"},
	{"statehouse-3-leader", "statehouse-3", "the same cluster as statehouse-3; reads and writes all go to the leader, as a plain Redis client pointed at the leader would"},
	{"statehouse-3-readonly", "statehouse-3", "the same cluster as statehouse-3 and the same routing; read connections send READONLY (stale local reads)"},
	{"statehouse-3-nofsync", "statehouse-3-nofsync", "3-node statehouse with `--no-fsync`; otherwise as statehouse-3"},
}

// baseline is the system ratios are taken against.
const baseline = "statehouse-3"

func systemByName(name string) (systemDef, bool) {
	for _, s := range allSystems {
		if s.name == name {
			return s, true
		}
	}
	return systemDef{}, false
}

// target tells the load generator where and how to send commands.
type target struct {
	kind     string   // "resp" or "etcd"
	write    string   // RESP: address for writes
	reads    []string // RESP: addresses for reads; worker i uses reads[i%len]
	readonly bool     // RESP: send READONLY on read connections
	wait     int      // RESP: WAIT n 0 after every write
	etcd     []string // etcd: client endpoints
}

// deployment is a set of server processes started and stopped together.
type deployment interface {
	start(ctx context.Context) error
	stop()
	// target for a system on this deployment, found afresh (the leader
	// may have moved).
	target(ctx context.Context, system string) (*target, error)
	// pids of the server processes, for CPU accounting.
	pids() []int
}

type binaries struct {
	redis         string
	etcd          string
	statehouse    string
	statehouseLog string // --log-level for statehouse nodes
	profile       bool   // statehouse nodes serve pprof on --http-addr
}

func newDeployment(key string, m *procs, bins binaries, extraEnv []string) (deployment, error) {
	switch key {
	case "redis":
		return &redisDeploy{m: m, bin: bins.redis, name: key}, nil
	case "redis-wait":
		return &redisDeploy{m: m, bin: bins.redis, name: key, replicas: 2}, nil
	case "etcd":
		return &etcdDeploy{m: m, bin: bins.etcd, name: key, n: 3}, nil
	case "statehouse-1":
		return &shDeploy{m: m, bin: bins.statehouse, name: key, n: 1, env: extraEnv, logLevel: bins.statehouseLog, profile: bins.profile}, nil
	case "statehouse-3":
		return &shDeploy{m: m, bin: bins.statehouse, name: key, n: 3, env: extraEnv, logLevel: bins.statehouseLog, profile: bins.profile}, nil
	case "statehouse-3-nofsync":
		return &shDeploy{m: m, bin: bins.statehouse, name: key, n: 3, noFsync: true, env: extraEnv, logLevel: bins.statehouseLog, profile: bins.profile}, nil
	}
	return nil, fmt.Errorf("unknown deployment %q", key)
}

// ---- redis ----

type redisDeploy struct {
	m        *procs
	bin      string
	name     string
	replicas int

	dir   string
	nodes []*proc
	ports []int
}

func (d *redisDeploy) addr(i int) string { return "127.0.0.1:" + strconv.Itoa(d.ports[i]) }

func (d *redisDeploy) start(ctx context.Context) error {
	dir, err := d.m.dir(d.name)
	if err != nil {
		return err
	}
	d.dir = dir
	d.nodes, d.ports = nil, nil
	for i := 0; i <= d.replicas; i++ {
		port, err := d.m.freePort()
		if err != nil {
			return err
		}
		nd := filepath.Join(dir, fmt.Sprintf("r%d", i))
		if _, err := d.m.dir(filepath.Join(d.name, fmt.Sprintf("r%d", i))); err != nil {
			return err
		}
		args := []string{d.bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", nd, "--dbfilename", "dump.rdb",
			"--repl-diskless-sync-delay", "0", "--enable-debug-command", "local"}
		if i > 0 {
			args = append(args, "--replicaof", "127.0.0.1", strconv.Itoa(d.ports[0]))
		}
		d.ports = append(d.ports, port)
		d.nodes = append(d.nodes, d.m.newProc(fmt.Sprintf("%s/r%d", d.name, i), nd+".log", nil, args...))
	}
	for i, p := range d.nodes {
		if err := d.m.start(p); err != nil {
			return err
		}
		if !waitFor(ctx, 15*time.Second, 10*time.Millisecond, func() bool {
			_, err := respDo(d.addr(i), time.Second, "PING")
			return err == nil
		}) {
			return fmt.Errorf("%s did not answer PING:\n%s", p.name, p.tail(2000))
		}
	}
	if d.replicas > 0 && !waitFor(ctx, 30*time.Second, 20*time.Millisecond, func() bool {
		info, err := infoFields(d.addr(0), "replication", time.Second)
		if err != nil || infoInt(info, "connected_slaves") != int64(d.replicas) {
			return false
		}
		for i := range d.replicas {
			if !strings.Contains(info[fmt.Sprintf("slave%d", i)], "state=online") {
				return false
			}
		}
		return true
	}) {
		return fmt.Errorf("%s: replicas did not come online:\n%s", d.name, d.nodes[1].tail(2000))
	}
	return nil
}

func (d *redisDeploy) stop() {
	for _, p := range d.nodes {
		d.m.kill(p)
	}
}

func (d *redisDeploy) target(ctx context.Context, system string) (*target, error) {
	t := &target{kind: "resp", write: d.addr(0), reads: []string{d.addr(0)}}
	if d.replicas > 0 {
		t.wait = d.replicas
	}
	return t, nil
}

func (d *redisDeploy) pids() []int { return pidsOf(d.nodes) }

// ---- etcd ----

type etcdDeploy struct {
	m    *procs
	bin  string
	name string
	n    int

	nodes   []*proc
	clients []string
}

func (d *etcdDeploy) start(ctx context.Context) error {
	dir, err := d.m.dir(d.name)
	if err != nil {
		return err
	}
	d.nodes, d.clients = nil, nil
	var peers, initial []string
	for i := range d.n {
		cp, err := d.m.freePort()
		if err != nil {
			return err
		}
		pp, err := d.m.freePort()
		if err != nil {
			return err
		}
		d.clients = append(d.clients, fmt.Sprintf("http://127.0.0.1:%d", cp))
		peers = append(peers, fmt.Sprintf("http://127.0.0.1:%d", pp))
		initial = append(initial, fmt.Sprintf("e%d=%s", i+1, peers[i]))
	}
	for i := range d.n {
		name := fmt.Sprintf("e%d", i+1)
		args := []string{d.bin, "--name", name, "--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", d.clients[i], "--advertise-client-urls", d.clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "statehouse-bench",
			"--quota-backend-bytes", strconv.Itoa(8 << 30),
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"}
		p := d.m.newProc(d.name+"/"+name, filepath.Join(dir, name+".log"), nil, args...)
		d.nodes = append(d.nodes, p)
		if err := d.m.start(p); err != nil {
			return err
		}
	}
	cli, err := newEtcdClient(d.clients)
	if err != nil {
		return err
	}
	defer cli.Close()
	if !waitFor(ctx, 30*time.Second, 50*time.Millisecond, func() bool {
		c, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := cli.Put(c, "bench:probe", "1")
		return err == nil
	}) {
		return fmt.Errorf("etcd cluster did not take a write:\n%s", d.nodes[0].tail(2000))
	}
	return nil
}

func newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		// Values up to 64 KiB in batches of 128: raise gRPC's 2 MiB default.
		MaxCallSendMsgSize: 64 << 20,
		MaxCallRecvMsgSize: 64 << 20,
	})
}

func (d *etcdDeploy) stop() {
	for _, p := range d.nodes {
		d.m.kill(p)
	}
}

func (d *etcdDeploy) target(ctx context.Context, system string) (*target, error) {
	return &target{kind: "etcd", etcd: d.clients}, nil
}

func (d *etcdDeploy) pids() []int { return pidsOf(d.nodes) }

// ---- statehouse ----

type shDeploy struct {
	m        *procs
	bin      string
	name     string
	n        int
	noFsync  bool
	env      []string
	logLevel string // --log-level (default warn)
	profile  bool   // serve pprof on --http-addr

	nodes []*shNode
}

type shNode struct {
	id       string
	port     int
	httpPort int // --http-addr port, 0 when not profiling
	dataDir  string
	p        *proc
}

func (n *shNode) addr() string { return "127.0.0.1:" + strconv.Itoa(n.port) }

func (d *shDeploy) start(ctx context.Context) error {
	dir, err := d.m.dir(d.name)
	if err != nil {
		return err
	}
	d.nodes = nil
	var initial []string
	peerPorts := make([]int, d.n)
	for i := range d.n {
		port, err := d.m.freePort()
		if err != nil {
			return err
		}
		if peerPorts[i], err = d.m.freePort(); err != nil {
			return err
		}
		id := fmt.Sprintf("n%d", i+1)
		d.nodes = append(d.nodes, &shNode{id: id, port: port, dataDir: filepath.Join(dir, id)})
		initial = append(initial, fmt.Sprintf("%s=127.0.0.1:%d", id, peerPorts[i]))
	}
	for i, nd := range d.nodes {
		args := []string{d.bin, "--node-id", nd.id, "--bind", "127.0.0.1",
			"--port", strconv.Itoa(nd.port), "--peer-port", strconv.Itoa(peerPorts[i]),
			"--data-dir", nd.dataDir, "--log-level", cmp.Or(d.logLevel, "warn")}
		if d.n > 1 {
			args = append(args, "--initial-cluster", strings.Join(initial, ","), "--cluster-secret", "statehouse-bench")
		}
		if d.noFsync {
			args = append(args, "--no-fsync")
		}
		if d.profile {
			if nd.httpPort, err = d.m.freePort(); err != nil {
				return err
			}
			args = append(args, "--http-addr", "127.0.0.1:"+strconv.Itoa(nd.httpPort), "--http-pprof")
		}
		nd.p = d.m.newProc(d.name+"/"+nd.id, filepath.Join(dir, nd.id+".log"), d.env, args...)
		if err := d.m.start(nd.p); err != nil {
			return err
		}
	}
	_, err = d.leader(ctx, 60*time.Second)
	return err
}

// leader waits until exactly one running node says it is master and takes
// a write.
func (d *shDeploy) leader(ctx context.Context, timeout time.Duration) (*shNode, error) {
	var found *shNode
	ok := waitFor(ctx, timeout, 20*time.Millisecond, func() bool {
		var leaders []*shNode
		for _, nd := range d.nodes {
			if nd.p.pid() == 0 {
				continue
			}
			info, err := infoFields(nd.addr(), "replication", time.Second)
			if err == nil && info["role"] == "master" {
				leaders = append(leaders, nd)
			}
		}
		if len(leaders) != 1 {
			return false
		}
		if _, err := respDo(leaders[0].addr(), 5*time.Second, "SET", "bench:probe", "1"); err != nil {
			return false
		}
		found = leaders[0]
		return true
	})
	if !ok {
		var logs strings.Builder
		for _, nd := range d.nodes {
			fmt.Fprintf(&logs, "--- %s ---\n%s\n", nd.id, nd.p.tail(1500))
		}
		return nil, fmt.Errorf("%s: no leader within %v\n%s", d.name, timeout, logs.String())
	}
	return found, nil
}

func (d *shDeploy) stop() {
	for _, nd := range d.nodes {
		d.m.kill(nd.p)
	}
}

func (d *shDeploy) target(ctx context.Context, system string) (*target, error) {
	l, err := d.leader(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	t := &target{kind: "resp", write: l.addr(), readonly: strings.HasSuffix(system, "-readonly")}
	if strings.HasSuffix(system, "-leader") {
		t.reads = []string{l.addr()}
		return t, nil
	}
	for _, nd := range d.nodes {
		if nd != l {
			t.reads = append(t.reads, nd.addr())
		}
	}
	t.reads = append(t.reads, l.addr())
	return t, nil
}

// profileTargets names each node by its role now (leader, follower-nX) and
// gives its pprof base URL; none unless the nodes were started to profile.
func (d *shDeploy) profileTargets(ctx context.Context) []profileTarget {
	if !d.profile {
		return nil
	}
	l, err := d.leader(ctx, 10*time.Second)
	if err != nil {
		return nil
	}
	var out []profileTarget
	for _, nd := range d.nodes {
		role := "follower-" + nd.id
		if nd == l {
			role = "leader"
		}
		out = append(out, profileTarget{role: role, url: "http://127.0.0.1:" + strconv.Itoa(nd.httpPort) + "/debug/pprof/"})
	}
	return out
}

func (d *shDeploy) pids() []int {
	var out []int
	for _, nd := range d.nodes {
		out = append(out, nd.p.pid())
	}
	return out
}

// ---- binaries ----

// buildStatehouse builds cmd/statehouse of this module into dir.
func buildStatehouse(dir string) (string, error) {
	bin := filepath.Join(dir, "statehouse")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/statehouse/statehouse/cmd/statehouse")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build cmd/statehouse (run the harness from the statehouse checkout, or pass --statehouse BINARY): %v\n%s", err, out)
	}
	return bin, nil
}

// version runs bin with args and returns the first line it prints.
func version(bin string, args ...string) string {
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}
