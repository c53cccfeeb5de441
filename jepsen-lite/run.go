package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is one run.
type Config struct {
	Backend     string
	Workloads   []string
	Nemeses     []string
	TimeLimit   time.Duration // workloads under faults
	Interval    time.Duration // quiet and fault phases
	Quiet       time.Duration // after the last heal, before final reads
	Nodes       int
	Seed        int64
	Out         string // "" for a new temp dir
	Binary      string // "" to go build cmd/statehouse
	NodeArgs    []string
	RaftTimeout time.Duration
	Clients     int // per workload
	OpDelay     time.Duration
	Keys        int
	KeyLimit    int
	Latency     time.Duration
	Loss        float64
	ClockSkew   time.Duration
	CheckTime   time.Duration // porcupine's budget per key
	KeepData    bool
	Secure      bool // TLS on clients and peers, a password and ACL users (secure.go)
	// MaxMemory and MaxMemoryPolicy go to every node (--maxmemory,
	// --maxmemory-policy); with a limit the eviction watcher runs.
	MaxMemory       string
	MaxMemoryPolicy string
	Command         string // for the record
}

func defaultConfig() Config {
	return Config{
		Backend: "local", Workloads: []string{"register"}, TimeLimit: 60 * time.Second, Interval: 5 * time.Second,
		Quiet: 5 * time.Second, Nodes: 3, RaftTimeout: 500 * time.Millisecond, Clients: 6, OpDelay: 20 * time.Millisecond,
		Keys: 4, KeyLimit: 300, Latency: 100 * time.Millisecond, Loss: 0.2, ClockSkew: 2 * time.Second, CheckTime: 30 * time.Second,
	}
}

// Result is what a run produced.
type Result struct {
	Saved  *Saved
	Check  CheckResult
	OutDir string
	Table  string
}

// HarnessError is a run that could not be carried out (not an anomaly).
type HarnessError struct{ Err error }

func (e *HarnessError) Error() string { return e.Err.Error() }
func (e *HarnessError) Unwrap() error { return e.Err }

func harness(format string, a ...any) error { return &HarnessError{fmt.Errorf(format, a...)} }

// Run carries out one run: cluster up, workloads and nemeses, heal, quiet,
// final reads, check, report, cluster down. Progress goes to logw.
func Run(ctx context.Context, cfg Config, logw io.Writer) (res *Result, err error) {
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }
	var workloads []Workload
	for _, w := range cfg.Workloads {
		wl, err := newWorkload(w)
		if err != nil {
			return nil, err
		}
		workloads = append(workloads, wl)
	}
	if cfg.MaxMemory != "" {
		workloads = append(workloads, &evictionWL{})
	}
	var nems []Nemesis
	for _, n := range cfg.Nemeses {
		if n == "none" || n == "" {
			continue
		}
		nm, err := newNemesis(n)
		if err != nil {
			return nil, err
		}
		nems = append(nems, nm)
	}
	out := cfg.Out
	if out == "" {
		if out, err = os.MkdirTemp("", "jepsen-lite-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	logf("jepsen-lite: seed %d, output in %s", cfg.Seed, out)
	bin := cfg.Binary
	if bin == "" {
		if bin, err = buildBinary(out); err != nil {
			return nil, harness("%v", err)
		}
	}
	nodeArgs, disk := slices.Clone(cfg.NodeArgs), int64(0)
	if cfg.MaxMemory != "" {
		nodeArgs = append(nodeArgs, "--maxmemory", cfg.MaxMemory)
	}
	if cfg.MaxMemoryPolicy != "" {
		nodeArgs = append(nodeArgs, "--maxmemory-policy", cfg.MaxMemoryPolicy)
	}
	if slices.Contains(cfg.Nemeses, "disk-full") {
		var note string
		disk = diskSize
		nodeArgs, note = minFreeDiskArgs(bin, nodeArgs)
		logf("disk-full: each node's data dir is a %d MiB tmpfs; %s", disk>>20, note)
	}
	// Gossip whenever the binary has it: the cluster forms as operators
	// form it, and nodes can join. Older binaries get --initial-cluster.
	gossip := supportsFlag(bin, "gossip-port")
	if !gossip {
		for _, n := range cfg.Nemeses {
			if isMembershipNemesis(n) {
				return nil, harness("nemesis %s: this statehouse has no --gossip-port, so no node can join", n)
			}
		}
		logf("this statehouse has no --gossip-port: the cluster forms with --initial-cluster")
	}
	h := NewHistory()
	b, err := newBackend(cfg.Backend, BackendConfig{Nodes: cfg.Nodes, Binary: bin, NodeArgs: nodeArgs,
		RaftTimeout: cfg.RaftTimeout, Dir: out, DiskSize: disk, Gossip: gossip, Logf: logf, Secure: cfg.Secure,
		OnCrash: func(node, status string) {
			logf("[%7.2fs] %s EXITED ON ITS OWN: %s", float64(h.Now())/1e9, node, status)
			h.AddCrash(node, status)
		}})
	if err != nil {
		return nil, err
	}
	defer func() {
		if terr := b.Teardown(); terr != nil {
			logf("teardown: %v", terr)
			if err == nil {
				err = harness("teardown: %v", terr)
			}
		}
	}()
	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = b.Setup(setupCtx)
	cancel()
	if err != nil {
		if IsUnsupported(err) {
			return nil, err
		}
		return nil, harness("backend %s: %v", b.Name(), err)
	}
	topo := newTopology(b)
	defer topo.Close()
	healthyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = topo.WaitHealthy(healthyCtx)
	cancel()
	if err != nil {
		return nil, harness("cluster did not form: %v (node logs in %s)", err, out)
	}
	logf("cluster up: %d nodes, leader %s", cfg.Nodes, topo.Leader())

	env := &Env{H: h, Topo: topo, Prefix: fmt.Sprintf("jl:%d:", cfg.Seed), Clients: cfg.Clients, Seed: cfg.Seed,
		OpDelay: cfg.OpDelay, Keys: cfg.Keys, KeyLimit: cfg.KeyLimit}
	ne := &NemEnv{B: b, Topo: topo, Rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6e656d)), Latency: cfg.Latency,
		Loss: cfg.Loss, Skew: cfg.ClockSkew, LateBy: cfg.RaftTimeout * 9 / 10, Interval: cfg.Interval, Raft: respRaft{topo}, MaxNodes: cfg.Nodes + 2,
		Logf: func(format string, a ...any) {
			logf("[%7.2fs] "+format, append([]any{float64(h.Now()) / 1e9}, a...)...)
		}}

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go topo.Watch(watchCtx)

	for _, w := range workloads {
		if p, ok := w.(interface {
			Preflight(context.Context, *Env) error
		}); ok {
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := p.Preflight(c, env)
			cancel()
			if err != nil {
				return nil, harness("%v", err)
			}
		}
	}

	// Workloads run through the faults and the quiet period after them.
	wlCtx, stopWL := context.WithTimeout(ctx, cfg.TimeLimit+cfg.Quiet)
	defer stopWL()
	var wg sync.WaitGroup
	for _, w := range workloads {
		wg.Add(1)
		go func(w Workload) {
			defer wg.Done()
			w.Run(wlCtx, env)
		}(w)
	}
	nemCtx, stopNem := context.WithTimeout(ctx, cfg.TimeLimit)
	runNemeses(nemCtx, ne, h, nems, cfg.Interval)
	stopNem()
	if err := healAll(ne); err != nil {
		logf("heal: %v", err)
	}
	logf("[%7.2fs] all faults healed; quiet period %v", float64(h.Now())/1e9, cfg.Quiet)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, w := range workloads {
		if err := w.Err(); err != nil {
			return nil, harness("%v", err)
		}
	}

	unhealthy := ""
	healthyCtx, cancel = context.WithTimeout(ctx, 30*time.Second)
	if err := topo.WaitHealthy(healthyCtx); err != nil {
		unhealthy = fmt.Sprintf("30s after every fault healed: %v", err)
	}
	cancel()
	finalCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for _, w := range workloads {
		w.Final(finalCtx, env)
	}
	cancel()
	logf("[%7.2fs] final reads done; checking", float64(h.Now())/1e9)

	all := b.Nodes()
	if m, ok := b.(Membership); ok {
		all = m.AllNodes()
	}
	saved := &Saved{Seed: cfg.Seed, Command: cfg.Command, Workloads: cfg.Workloads, Nemeses: cfg.Nemeses,
		Nodes: all, SkewBound: int64(ne.SkewBound()), Started: h.base, Ops: h.Ops(), Nemesis: h.Nemesis(),
		Unhealthy: unhealthy, Crashes: h.Crashes()}
	if slices.ContainsFunc(cfg.Nemeses, isMembershipNemesis) {
		// Say what membership the run and the leader ended with.
		saved.Members = b.Nodes()
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		if rc, err := ne.Raft.Config(c); err == nil {
			saved.RaftConfig = rc.String()
		} else {
			saved.RaftConfig = "unknown: " + err.Error()
		}
		cancel()
	}
	if err := saved.WriteJSON(filepath.Join(out, "history.json")); err != nil {
		return nil, harness("writing history: %v", err)
	}
	check := Check(saved, out, cfg.CheckTime)
	res = &Result{Saved: saved, Check: check, OutDir: out}
	res.Table = Report(saved, check, out)
	if err := os.WriteFile(filepath.Join(out, "summary.txt"), []byte(res.Table), 0o644); err != nil {
		return nil, harness("writing summary: %v", err)
	}
	if len(check.Anomalies) == 0 && !cfg.KeepData {
		for _, n := range all {
			os.RemoveAll(filepath.Join(out, n, "data"))
		}
	}
	if bin != cfg.Binary {
		os.Remove(bin)
	}
	return res, nil
}

// Recheck runs the checkers again over a saved history.
func Recheck(path string, timeout time.Duration) (*Result, error) {
	s, err := LoadSaved(path)
	if err != nil {
		return nil, err
	}
	out := filepath.Dir(path)
	check := Check(s, out, timeout)
	return &Result{Saved: s, Check: check, OutDir: out, Table: Report(s, check, out)}, nil
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

var errInterrupted = errors.New("interrupted")
