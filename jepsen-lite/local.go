package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The local backend: each node is a statehouse process in its own Linux
// network namespace, joined to the others by a bridge. The harness stays
// in the root namespace and reaches the nodes through the bridge, which has
// an address of its own; partitions are iptables DROP rules inside the
// namespaces, so they are real packet drops on real sockets.
//
// Everything it creates carries the harness's pid, so parallel runs do not
// collide and leftovers of a run that was killed can be recognised:
//
//	namespaces  jepsen-lite-<pid>-<seq>-n1 ...
//	bridge      jl<pid>-<seq>b, veths jl<pid>-<seq>n1 ...
//	host rule   iptables FORWARD accept for the bridge, comment "jepsen-lite jl<pid>-<seq>"
//	addresses   10.77.X.1 (bridge), 10.77.X.11.. (nodes); X chosen free on this host
//	data dirs   with DiskSize, a tmpfs each, named like its node's namespace
//
// Only the namespaces created here and the bridge's subnet ever see traffic.

const (
	clientPort = 6379
	peerPort   = 16379
	gossipPort = 7946       // TCP and UDP; partitions drop by address, so they cut gossip too
	chainPart  = "JL_PART"  // partition drops
	chainShape = "JL_SHAPE" // loss, and the NFQUEUE for latency
)

var localSeq atomic.Int32

type localNode struct {
	id, ns, veth, ip string
	dataDir, logPath string
	// first: one of the --nodes members the cluster forms with
	// (--bootstrap-expect); nodes added later only join.
	first bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	logf     *os.File
	paused   bool
	stopping bool // the harness is killing it: its exit is expected
}

// spawn runs f (which starts a process) on one OS thread that never
// exits. Pdeathsig belongs to the thread that forked, not to the process,
// and Go retires threads (a goroutine that ends while locked to its thread
// takes the thread with it): a node forked from such a thread would be
// killed at a random moment.
func spawn(f func()) {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for f := range spawnCh {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnCh <- func() { f(); close(done) }
	<-done
}

var (
	spawnOnce sync.Once
	spawnCh   = make(chan func())
)

type localBackend struct {
	cfg    BackendConfig
	seq    int32
	tag    string
	bridge string
	prefix string // "10.77.X."
	hostIP string
	netem  bool

	mu       sync.Mutex
	nodes    []*localNode          // the members
	all      []*localNode          // every node created, retired ones too
	byID     map[string]*localNode // all of them
	torn     bool
	madeBr   bool
	madeRule bool
	madeNS   []string
	mounted  []*localNode // data dirs on a tmpfs of their own
	delayers []*nfqDelayer
	sec      *secureFiles // a secure run's certificates and ACL file
}

func newLocal(cfg BackendConfig) *localBackend {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	seq := localSeq.Add(1) - 1
	tag := fmt.Sprintf("jl%d-%d", os.Getpid(), seq)
	b := &localBackend{cfg: cfg, seq: seq, tag: tag, bridge: tag + "b", byID: map[string]*localNode{}}
	for i := 1; i <= cfg.Nodes; i++ {
		n := b.newNode()
		n.first = true
		b.nodes = append(b.nodes, n)
	}
	return b
}

// newNode creates the next node's record (n<i>, at .1<i>); callers make it
// a member.
func (b *localBackend) newNode() *localNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := len(b.all) + 1
	id := fmt.Sprintf("n%d", i)
	n := &localNode{
		id:      id,
		ns:      fmt.Sprintf("jepsen-lite-%d-%d-%s", os.Getpid(), b.seq, id),
		veth:    fmt.Sprintf("%sn%d", b.tag, i),
		dataDir: filepath.Join(b.cfg.Dir, id, "data"),
		logPath: filepath.Join(b.cfg.Dir, id, "node.log"),
	}
	if b.prefix != "" {
		n.ip = fmt.Sprintf("%s%d", b.prefix, 10+i)
	}
	b.all = append(b.all, n)
	b.byID[id] = n
	return n
}

func (b *localBackend) Name() string { return "local" }

func ids(ns []*localNode) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.id
	}
	return out
}

func (b *localBackend) Nodes() []string { return ids(b.members()) }

func (b *localBackend) AllNodes() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ids(b.all)
}

// members returns the members at this moment.
func (b *localBackend) members() []*localNode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*localNode(nil), b.nodes...)
}

// ClientSecurity is how clients reach a secure run's nodes; nil otherwise.
func (b *localBackend) ClientSecurity() *ClientSecurity {
	if b.sec == nil {
		return nil
	}
	return b.sec.clients()
}

func (b *localBackend) ClientAddr(node string) string {
	n, err := b.node(node)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", n.ip, clientPort)
}

func (b *localBackend) LogPath(node string) string {
	n, err := b.node(node)
	if err != nil {
		return ""
	}
	return n.logPath
}

// run runs a command and returns its error with its output.
func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func output(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		return "", fmt.Errorf("%s: %v", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// inNS runs a command inside a node's namespace.
func (n *localNode) inNS(args ...string) error {
	return run(append([]string{"ip", "netns", "exec", n.ns}, args...)...)
}

var staleOnce sync.Once

func (b *localBackend) Setup(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return unsupported("the local backend needs root for network namespaces (running as uid %d)", os.Geteuid())
	}
	for _, tool := range []string{"ip", "iptables", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return unsupported("%s not found: apt-get install -y iproute2 iptables", tool)
		}
	}
	if len(b.tag)+3 > 15 {
		return fmt.Errorf("interface names for %s would exceed 15 characters", b.tag)
	}
	staleOnce.Do(func() { cleanupStale(b.cfg.Logf, true) })
	if err := b.pickSubnet(); err != nil {
		return err
	}
	b.hostIP = b.prefix + "1"
	for _, n := range b.members() {
		n.ip = fmt.Sprintf("%s%d", b.prefix, 10+nodeIndex(n.id))
	}
	if b.cfg.Secure {
		sec, err := newSecureFiles(filepath.Join(b.cfg.Dir, "tls"), b.tag)
		if err != nil {
			return fmt.Errorf("secure run: %w", err)
		}
		b.sec = sec
	}

	// The first namespace doubles as the probe for whether we can.
	nodes := b.members()
	for i, n := range nodes {
		if err := b.addNS(n); err != nil {
			if i == 0 {
				return unsupported("ip netns add failed: %v", err)
			}
			return err
		}
	}
	b.mu.Lock()
	b.madeBr = true
	b.mu.Unlock()
	steps := [][]string{
		{"ip", "link", "add", b.bridge, "type", "bridge"},
		{"ip", "addr", "add", b.hostIP + "/24", "dev", b.bridge},
		{"ip", "link", "set", b.bridge, "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	// With br_netfilter loaded, bridged packets between namespaces pass
	// the host's FORWARD chain, whose policy may be DROP (Docker sets it).
	if err := run("iptables", "-I", "FORWARD", "1", "-i", b.bridge, "-o", b.bridge, "-j", "ACCEPT",
		"-m", "comment", "--comment", "jepsen-lite "+b.tag); err != nil {
		b.cfg.Logf("warning: host FORWARD rule for %s: %v", b.bridge, err)
	} else {
		b.mu.Lock()
		b.madeRule = true
		b.mu.Unlock()
	}
	for i, n := range nodes {
		if err := b.wire(n); err != nil {
			var nf *noFilter
			if i == 0 && errors.As(err, &nf) {
				return unsupported("%v", err)
			}
			return err
		}
	}
	// tc netem is a kernel module some kernels lack; latency falls back
	// to a userspace NFQUEUE delay, loss to iptables' statistic match.
	if nodes[0].inNS("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms") == nil {
		b.netem = true
		nodes[0].inNS("tc", "qdisc", "del", "dev", "lo", "root")
	}
	for i, n := range nodes {
		if err := b.prepareDisk(n); err != nil {
			if i == 0 && errors.Is(err, syscall.EPERM) {
				return unsupported("%v", err)
			}
			return err
		}
		if err := b.Start(n.id, nil); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// addNS creates n's network namespace.
func (b *localBackend) addNS(n *localNode) error {
	if err := run("ip", "netns", "add", n.ns); err != nil {
		return err
	}
	b.mu.Lock()
	b.madeNS = append(b.madeNS, n.ns)
	b.mu.Unlock()
	return nil
}

// noFilter is iptables failing inside a namespace.
type noFilter struct{ err error }

func (e *noFilter) Error() string {
	return fmt.Sprintf("iptables inside a network namespace failed: %v", e.err)
}

// wire connects n's namespace to the bridge at its address and gives it
// the chains partitions and shaping use.
func (b *localBackend) wire(n *localNode) error {
	steps := [][]string{
		{"ip", "link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns},
		{"ip", "link", "set", n.veth, "master", b.bridge},
		{"ip", "link", "set", n.veth, "up"},
		{"ip", "-n", n.ns, "addr", "add", n.ip + "/24", "dev", "eth0"},
		{"ip", "-n", n.ns, "link", "set", "eth0", "up"},
		{"ip", "-n", n.ns, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			return err
		}
	}
	for _, s := range [][]string{
		{"iptables", "-N", chainPart}, {"iptables", "-N", chainShape},
		{"iptables", "-A", "INPUT", "-j", chainPart}, {"iptables", "-A", "INPUT", "-j", chainShape},
	} {
		if err := n.inNS(s...); err != nil {
			return &noFilter{err}
		}
	}
	return nil
}

// prepareDisk creates n's data dir, on a tmpfs of its own with DiskSize.
func (b *localBackend) prepareDisk(n *localNode) error {
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return err
	}
	if b.cfg.DiskSize == 0 {
		return nil
	}
	// Mounted before the node starts: ip netns exec gives it a mount
	// namespace copied from ours at that moment.
	if err := mountDisk(n.dataDir, n.ns, b.cfg.DiskSize); err != nil {
		return err
	}
	b.mu.Lock()
	b.mounted = append(b.mounted, n)
	b.mu.Unlock()
	return nil
}

// pickSubnet finds 10.77.X.0/24 unused on this host, starting from the pid.
func (b *localBackend) pickSubnet() error {
	addrs, err := output("ip", "-o", "-4", "addr", "show")
	if err != nil {
		return unsupported("ip addr: %v", err)
	}
	routes, _ := output("ip", "-4", "route", "show")
	start := (os.Getpid()*7 + int(localSeq.Load())) % 250
	for i := 0; i < 250; i++ {
		x := 1 + (start+i)%250
		p := fmt.Sprintf("10.77.%d.", x)
		if !strings.Contains(addrs, " "+p) && !strings.Contains(routes, p+"0/") {
			b.prefix = p
			return nil
		}
	}
	return fmt.Errorf("no free 10.77.X.0/24 subnet on this host")
}

// nodeIndex is i of "n<i>".
func nodeIndex(id string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(id, "n"))
	return i
}

func (b *localBackend) node(id string) (*localNode, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ok := b.byID[id]
	if !ok {
		return nil, fmt.Errorf("no node %q", id)
	}
	return n, nil
}

// args are a node's flags. With gossip every start of a node gets the
// same flags, as an operator's unit file or compose service would: --join
// to the other members, and for the first members --bootstrap-expect
// (rather than --initial-cluster, which a node replaced with an empty data
// dir would bootstrap a cluster of its own from), so that a node on an
// empty data dir never forms a cluster but waits to be added. Without
// gossip (a binary that predates it), --initial-cluster.
func (b *localBackend) args(n *localNode, extra []string) []string {
	rt := b.cfg.RaftTimeout.String()
	port := strconv.Itoa(clientPort)
	if b.sec != nil {
		port = "0" // TLS alone on the client port, which keeps its number
	}
	args := []string{
		"--node-id", n.id, "--bind", n.ip, "--port", port, "--peer-port", strconv.Itoa(peerPort),
		"--data-dir", n.dataDir, "--heartbeat-timeout", rt, "--election-timeout", rt,
		"--cluster-secret", "jepsen-lite",
		"--protected-mode", "no", // clients reach the nodes from another network namespace, without a password
	}
	if b.cfg.Gossip {
		var join []string
		for _, m := range b.members() {
			if m != n {
				join = append(join, fmt.Sprintf("%s:%d", m.ip, gossipPort))
			}
		}
		// The harness stops nodes with SIGTERM only to take them out for
		// good (remove-node, leave); every other stop is a kill -9.
		args = append(args, "--gossip-port", strconv.Itoa(gossipPort), "--leave-on-terminate")
		if len(join) > 0 {
			args = append(args, "--join", strings.Join(join, ","))
		}
		if n.first {
			args = append(args, "--bootstrap-expect", strconv.Itoa(b.cfg.Nodes))
		}
	} else {
		var initial []string
		for _, m := range b.members() {
			initial = append(initial, fmt.Sprintf("%s=%s:%d", m.id, m.ip, peerPort))
		}
		args = append(args, "--initial-cluster", strings.Join(initial, ","))
	}
	if b.sec != nil {
		sec, err := b.sec.nodeArgs(n.id, n.ip)
		if err != nil {
			b.cfg.Logf("secure run: %s's certificate: %v", n.id, err)
		}
		args = append(args, append([]string{"--tls-port", strconv.Itoa(clientPort)}, sec...)...)
	}
	args = append(args, b.cfg.NodeArgs...)
	return append(args, extra...)
}

func (b *localBackend) Start(id string, extra []string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	b.mu.Lock()
	torn := b.torn
	b.mu.Unlock()
	if torn {
		return errors.New("torn down")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("%s is already running", id)
	}
	if n.logf == nil {
		f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		n.logf = f
	}
	args := b.args(n, extra)
	fmt.Fprintf(n.logf, "=== jepsen-lite %s: start %s %s\n", time.Now().Format(time.RFC3339Nano), b.cfg.Binary, strings.Join(args, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns, b.cfg.Binary}, args...)...)
	cmd.Stdout, cmd.Stderr = n.logf, n.logf
	// Its own process group: a Ctrl-C at the terminal reaches the harness,
	// which tears down in order. Pdeathsig: if the harness dies, so do
	// the nodes (ip netns exec execs the binary in place, same pid).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	spawn(func() { err = cmd.Start() })
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	done := make(chan struct{})
	go func() {
		werr := cmd.Wait()
		n.mu.Lock()
		crashed := n.cmd == cmd && !n.stopping
		if n.cmd == cmd {
			n.cmd, n.paused = nil, false
		}
		if n.logf != nil {
			fmt.Fprintf(n.logf, "=== jepsen-lite %s: exited: %v%s\n", time.Now().Format(time.RFC3339Nano), werr,
				ternary(crashed, " (on its own)", ""))
		}
		n.mu.Unlock()
		if crashed && b.cfg.OnCrash != nil {
			b.cfg.OnCrash(n.id, fmt.Sprint(werr))
		}
		close(done)
	}()
	n.cmd, n.done, n.paused, n.stopping = cmd, done, false, false
	return nil
}

func (b *localBackend) Kill(id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	if cmd != nil {
		n.stopping = true
		fmt.Fprintf(n.logf, "=== jepsen-lite %s: kill -9\n", time.Now().Format(time.RFC3339Nano))
	}
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s did not die on SIGKILL", id)
	}
	return nil
}

func (b *localBackend) signal(id string, sig syscall.Signal, paused bool) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s is not running", id)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return err
	}
	n.paused = paused
	return nil
}

func (b *localBackend) Pause(id string) error  { return b.signal(id, syscall.SIGSTOP, true) }
func (b *localBackend) Resume(id string) error { return b.signal(id, syscall.SIGCONT, false) }

func (b *localBackend) Running(id string) bool {
	n, err := b.node(id)
	if err != nil {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cmd != nil
}

// ---- membership ----------------------------------------------------------

func (b *localBackend) AddNode() (string, error) {
	b.mu.Lock()
	torn := b.torn
	b.mu.Unlock()
	if torn {
		return "", errors.New("torn down")
	}
	if !b.cfg.Gossip {
		return "", errors.New("this statehouse has no --gossip-port: nodes cannot join")
	}
	n := b.newNode()
	if err := b.addNS(n); err != nil {
		return "", err
	}
	if err := b.wire(n); err != nil {
		return "", err
	}
	if err := b.prepareDisk(n); err != nil {
		return "", err
	}
	b.mu.Lock()
	b.nodes = append(b.nodes, n)
	b.mu.Unlock()
	return n.id, b.Start(n.id, nil)
}

func (b *localBackend) Wipe(id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if b.Running(id) {
		return fmt.Errorf("%s is running: stop it before wiping its data", id)
	}
	// The entries, not the dir: under disk-full it is a mount point.
	entries, err := os.ReadDir(n.dataDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		errs = append(errs, os.RemoveAll(filepath.Join(n.dataDir, e.Name())))
	}
	n.mu.Lock()
	if n.logf != nil {
		fmt.Fprintf(n.logf, "=== jepsen-lite %s: data dir wiped\n", time.Now().Format(time.RFC3339Nano))
	}
	n.mu.Unlock()
	return errors.Join(errs...)
}

func (b *localBackend) Stop(id string, timeout time.Duration) (string, error) {
	n, err := b.node(id)
	if err != nil {
		return "", err
	}
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	if cmd != nil {
		n.stopping = true
		fmt.Fprintf(n.logf, "=== jepsen-lite %s: SIGTERM\n", time.Now().Format(time.RFC3339Nano))
	}
	n.mu.Unlock()
	if cmd == nil {
		return "not running", nil
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGCONT) // a paused node could not act on SIGTERM
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return fmt.Sprintf("%s in %.1fs", exitStatus(cmd), time.Since(start).Seconds()), nil
	case <-time.After(timeout):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Sprintf("still running %v after SIGTERM: killed", timeout), nil
	case <-time.After(10 * time.Second):
		return "", fmt.Errorf("%s did not die on SIGKILL", id)
	}
}

// exitStatus says how a process that exited ended.
func exitStatus(cmd *exec.Cmd) string {
	if cmd.ProcessState == nil {
		return "exited"
	}
	if cmd.ProcessState.Success() {
		return "exited 0"
	}
	return cmd.ProcessState.String()
}

func (b *localBackend) Retire(id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if b.Running(id) {
		return fmt.Errorf("%s is running: stop it before retiring it", id)
	}
	b.mu.Lock()
	for i, m := range b.nodes {
		if m == n {
			b.nodes = append(b.nodes[:i:i], b.nodes[i+1:]...)
			break
		}
	}
	b.mu.Unlock()
	n.mu.Lock()
	if n.logf != nil {
		fmt.Fprintf(n.logf, "=== jepsen-lite %s: retired (no longer a member; never started again)\n", time.Now().Format(time.RFC3339Nano))
	}
	n.mu.Unlock()
	return nil
}

// Operator runs the binary on the host: the client port is reachable
// from here through the bridge, as from an operator's machine.
func (b *localBackend) Operator(ctx context.Context, via, cmd string, args ...string) (string, error) {
	addr := b.ClientAddr(via)
	if addr == "" {
		return "", fmt.Errorf("no node %q", via)
	}
	argv := append([]string{cmd, "--addr", addr}, args...)
	out, err := exec.CommandContext(ctx, b.cfg.Binary, argv...).CombinedOutput()
	res := strings.TrimSpace(string(out))
	if err != nil {
		return res, fmt.Errorf("statehouse %s: %v: %s", strings.Join(argv, " "), err, res)
	}
	return res, nil
}

// restore applies iptables rules in one process (iptables-restore
// --noflush): spawning is slow on a loaded machine, and faults should
// land together.
func (n *localNode) restore(rules ...string) error {
	cmd := exec.Command("ip", "netns", "exec", n.ns, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader("*filter\n" + strings.Join(rules, "\n") + "\nCOMMIT\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore in %s: %v: %s", n.ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// eachNode runs f on every node at once.
func (b *localBackend) eachNode(f func(n *localNode) error) error {
	nodes := b.members()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (b *localBackend) Partition(drops map[string][]string) error {
	for _, peers := range drops {
		for _, p := range peers {
			if _, err := b.node(p); err != nil {
				return err
			}
		}
	}
	return b.eachNode(func(n *localNode) error {
		rules := []string{"-F " + chainPart}
		for _, peer := range drops[n.id] {
			p, _ := b.node(peer)
			rules = append(rules, fmt.Sprintf("-A %s -s %s -j DROP", chainPart, p.ip))
		}
		return n.restore(rules...)
	})
}

// peerMatch selects packets from other nodes; Shape first returns early
// for the harness's address, so client traffic is never shaped.
func (b *localBackend) peerMatch() []string {
	return []string{"-s", b.prefix + "0/24"}
}

func (b *localBackend) Shape(s Shape) (string, error) {
	if err := b.HealNetwork(); err != nil {
		return "", err
	}
	var mech []string
	if b.netem {
		args := []string{"tc", "qdisc", "add", "dev", "eth0", "root", "netem"}
		if s.Delay > 0 {
			args = append(args, "delay", s.Delay.String())
			if s.Jitter > 0 {
				args = append(args, s.Jitter.String())
			}
		}
		if s.Loss > 0 {
			args = append(args, "loss", fmt.Sprintf("%.2f%%", s.Loss*100))
		}
		for _, n := range b.members() {
			if err := n.inNS(args...); err != nil {
				return "", err
			}
		}
		return "tc netem (all traffic leaving each node)", nil
	}
	for _, n := range b.members() {
		if err := n.inNS("iptables", "-A", chainShape, "-s", b.hostIP, "-j", "RETURN"); err != nil {
			return "", err
		}
	}
	if s.Loss > 0 {
		for _, n := range b.members() {
			args := append([]string{"iptables", "-A", chainShape}, b.peerMatch()...)
			args = append(args, "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.4f", s.Loss), "-j", "DROP")
			if err := n.inNS(args...); err != nil {
				return "", err
			}
		}
		mech = append(mech, "iptables statistic drop (node-to-node packets)")
	}
	if s.Delay > 0 {
		for i, n := range b.members() {
			d, err := startDelayer(n.ns, uint16(i), s.Delay, s.Jitter)
			if err != nil {
				return "", fmt.Errorf("latency on %s: %w", n.id, err)
			}
			b.mu.Lock()
			b.delayers = append(b.delayers, d)
			b.mu.Unlock()
			args := append([]string{"iptables", "-A", chainShape}, b.peerMatch()...)
			args = append(args, "-j", "NFQUEUE", "--queue-num", strconv.Itoa(i), "--queue-bypass")
			if err := n.inNS(args...); err != nil {
				return "", err
			}
		}
		mech = append(mech, "NFQUEUE userspace delay of node-to-node packets (no netem in this kernel)")
	}
	return strings.Join(mech, " + "), nil
}

// DelayInbound queues node's packets from its peers in a userspace
// delayer (NFQUEUE) after the partition chain: a packet the delayer holds
// has passed the partition rules already, so it is delivered late even
// once a Partition drops everything newer.
func (b *localBackend) DelayInbound(id string, d time.Duration) (string, error) {
	n, err := b.node(id)
	if err != nil {
		return "", err
	}
	queue := uint16(100 + nodeIndex(id))
	dl, err := startDelayer(n.ns, queue, d, 0)
	if err != nil {
		return "", fmt.Errorf("inbound delay on %s: %w", id, err)
	}
	b.mu.Lock()
	b.delayers = append(b.delayers, dl)
	b.mu.Unlock()
	clients := fmt.Sprintf("-A %s -s %s -j RETURN", chainShape, b.hostIP)
	peers := fmt.Sprintf("-A %s %s -j NFQUEUE --queue-num %d --queue-bypass", chainShape, strings.Join(b.peerMatch(), " "), queue)
	if err := n.restore(clients, peers); err != nil {
		return "", err
	}
	return "NFQUEUE userspace delay of packets from peers", nil
}

func (b *localBackend) HealNetwork() error {
	err := b.eachNode(func(n *localNode) error {
		if b.netem {
			n.inNS("tc", "qdisc", "del", "dev", "eth0", "root") // fails harmlessly when none
		}
		return n.restore("-F "+chainPart, "-F "+chainShape)
	})
	b.mu.Lock()
	ds := b.delayers
	b.delayers = nil
	b.mu.Unlock()
	for _, d := range ds {
		d.Close()
	}
	return err
}

// hasDisk reports whether node n's data dir is a tmpfs of its own.
func (b *localBackend) hasDisk(n *localNode) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.mounted {
		if m == n {
			return true
		}
	}
	return false
}

func (b *localBackend) FillDisk(id string) (string, error) {
	n, err := b.node(id)
	if err != nil {
		return "", err
	}
	if !b.hasDisk(n) {
		return "", fmt.Errorf("%s's data dir is not a filesystem of its own (DiskSize 0)", id)
	}
	size, err := fillDisk(n.dataDir)
	if err != nil {
		return "", fmt.Errorf("fill %s: %w", n.dataDir, err)
	}
	free, _ := freeBytes(n.dataDir)
	return fmt.Sprintf("%s: %d MiB filler, %d KiB free", id, size>>20, free>>10), nil
}

func (b *localBackend) FreeDisk(id string) error {
	n, err := b.node(id)
	if err != nil {
		return err
	}
	if !b.hasDisk(n) {
		return nil
	}
	return freeDisk(n.dataDir)
}

func (b *localBackend) Teardown() error {
	b.mu.Lock()
	if b.torn {
		b.mu.Unlock()
		return nil
	}
	b.torn = true
	ds := b.delayers
	b.delayers = nil
	b.mu.Unlock()
	for _, d := range ds {
		d.Close()
	}
	var errs []error
	b.mu.Lock()
	all := append([]*localNode(nil), b.all...)
	b.mu.Unlock()
	for _, n := range all {
		n.mu.Lock()
		cmd, done := n.cmd, n.done
		n.stopping = true
		n.mu.Unlock()
		if cmd != nil {
			cmd.Process.Signal(syscall.SIGKILL) // a stopped process dies on SIGKILL too
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("%s did not die", n.id))
			}
		}
		n.mu.Lock()
		if n.logf != nil {
			n.logf.Close()
			n.logf = nil
		}
		n.mu.Unlock()
	}
	// Every node is dead: nothing holds the mounts.
	b.mu.Lock()
	mounted := b.mounted
	b.mounted = nil
	b.mu.Unlock()
	for _, n := range mounted {
		if err := unmountDisk(n.dataDir); err != nil {
			errs = append(errs, err)
		}
	}
	if b.madeRule {
		if err := run("iptables", "-D", "FORWARD", "-i", b.bridge, "-o", b.bridge, "-j", "ACCEPT",
			"-m", "comment", "--comment", "jepsen-lite "+b.tag); err != nil {
			errs = append(errs, err)
		}
	}
	for _, n := range all {
		if exists("ip", "link", "show", n.veth) {
			if err := run("ip", "link", "del", n.veth); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if b.madeBr && exists("ip", "link", "show", b.bridge) {
		if err := run("ip", "link", "del", b.bridge); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range b.madeNS {
		if err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func exists(args ...string) bool { return exec.Command(args[0], args[1:]...).Run() == nil }

var (
	staleNS   = regexp.MustCompile(`^jepsen-lite-(\d+)-\d+-n\d+`)
	staleLink = regexp.MustCompile(`^\d+:\s+(jl(\d+)-\d+(?:b|n\d+))[@:]`)
	staleRule = regexp.MustCompile(`^-A FORWARD .*--comment "?jepsen-lite jl(\d+)-\d+"?`)
)

// cleanupStale removes namespaces, links, host rules and data dir mounts
// left by runs whose process is gone (a harness killed with -9). With own,
// leftovers that carry this process's pid are stale too (a dead run that
// had our pid): only at the first Setup of a process, before it created
// anything.
func cleanupStale(logf func(string, ...any), own bool) {
	dead := func(pidStr string) bool {
		pid, _ := strconv.Atoi(pidStr)
		if pid == os.Getpid() {
			return own
		}
		return pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH
	}
	if out, err := output("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if m := staleNS.FindStringSubmatch(f[0]); m != nil && dead(m[1]) {
				if pids, err := output("ip", "netns", "pids", f[0]); err == nil {
					for _, p := range strings.Fields(pids) {
						if pid, err := strconv.Atoi(p); err == nil {
							syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
				logf("removing stale namespace %s", f[0])
				run("ip", "netns", "del", f[0])
			}
		}
	}
	if out, err := output("ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if m := staleLink.FindStringSubmatch(line); m != nil && dead(m[2]) {
				logf("removing stale link %s", m[1])
				run("ip", "link", "del", m[1])
			}
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		points, pids := mountsTagged(f, staleNS)
		f.Close()
		for i, p := range points {
			if dead(pids[i]) {
				logf("unmounting stale data dir %s", p)
				if err := unmountDisk(p); err != nil {
					logf("unmounting %s: %v", p, err)
				}
			}
		}
	}
	if out, err := output("iptables", "-S", "FORWARD"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			if m := staleRule.FindStringSubmatch(line); m != nil && dead(m[1]) {
				logf("removing stale host rule: %s", line)
				args := append([]string{"iptables"}, splitRule(strings.Replace(line, "-A ", "-D ", 1))...)
				run(args...)
			}
		}
	}
}

// splitRule splits an iptables -S line, keeping quoted words together.
func splitRule(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, any := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, any = !quoted, true
		case r == ' ' && !quoted:
			if any {
				out = append(out, cur.String())
				cur.Reset()
				any = false
			}
		default:
			cur.WriteRune(r)
			any = true
		}
	}
	if any {
		out = append(out, cur.String())
	}
	return out
}
