// Command bench measures statehouse against the systems a user would pick
// instead (redis-server alone, redis-server with two replicas and WAIT,
// a 3-node etcd cluster) on the same machine in the same run, and writes
// results.md, results.json and SVG plots to --out.
//
//	go run ./bench --out bench-out            # the full matrix
//	go run ./bench --out bench-out --scaling  # plus the scaling curves
//	go run ./bench --out bench-out --quick    # everything, small, < ~2 min
//
// See bench/README.md for what each system and workload is.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	out       string
	systems   []string
	workloads []string
	clients   []int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	keys      int
	pipeline  int
	driver    string   // lean or goredis
	nodeEnv   []string // KEY=VALUE added to the statehouse nodes' environment
	session   string   // session shape: hash or string
	quick     bool
	scaling   bool
	phases    map[string]bool // matrix, value-size, sessions, catch-up

	scalingSessions   []int
	scalingValueSizes []int
	scalingClients    int
	scalingDuration   time.Duration
	valueBytes        int // bound on keys × value size in the value-size curve
	catchupWrites     int
	latencyClients    int // client count whose latency distribution is plotted

	redisBin      string
	etcdBin       string
	statehouseBin string
	keep          bool
	serverLog     string // statehouse --log-level
	profile       []int  // client counts whose statehouse runs are profiled
	seed          uint64
	replot        string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.replot != "" {
		if err := replot(cfg.replot); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\nbench: %v: stopping, killing every server started\n", s)
		cancel()
		<-sig
		os.Exit(130) // children die with us (Pdeathsig)
	}()
	res, err := run(ctx, cfg, os.Stdout)
	if res != nil && cfg.out != "" {
		if md, werr := writeOutputs(cfg, res); werr != nil {
			fmt.Fprintln(os.Stderr, "bench: writing results:", werr)
		} else {
			fmt.Printf("\n%s\nwrote %s/results.md, results.json and plots\n", md, cfg.out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// replot rewrites results.md and the plots of dir from its results.json.
func replot(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s/results.json: %w", dir, err)
	}
	_, err = writeOutputs(&config{out: dir}, &r)
	return err
}

func parseFlags(args []string, out io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	var systems, workloads, clients, sessions, vsizes string
	fs.StringVar(&cfg.out, "out", "bench-out", "directory for results.md, results.json and the plots")
	fs.StringVar(&systems, "systems", "all", "comma-separated systems: "+strings.Join(systemNames(), ", "))
	fs.StringVar(&workloads, "workloads", "all", "comma-separated workloads: set, get, mix, session")
	fs.StringVar(&clients, "clients", "1,8,50,256", "comma-separated client counts (closed-loop connections)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "unmeasured time before each run")
	fs.IntVar(&cfg.valueSize, "value-size", 256, "bytes per value (and per session's data field)")
	fs.IntVar(&cfg.keys, "keys", 100000, "key space: keys preloaded for get/mix, keys written by set and session")
	fs.IntVar(&cfg.pipeline, "pipeline", 1, "operations each client sends before waiting for the replies")
	fs.StringVar(&cfg.session, "session", shapeHash, "session shape on RESP systems: hash (HSET+EXPIRE, HGETALL) or string (SET of JSON with EX, GET)")
	fs.StringVar(&cfg.driver, "resp-client", "lean", "RESP client: lean (the harness's own) or goredis (go-redis v9)")
	fs.BoolVar(&cfg.quick, "quick", false, "everything (matrix and scaling) at a small scale, in about two minutes")
	var phases string
	fs.BoolVar(&cfg.scaling, "scaling", false, "also run the scaling curves: value size, sessions (memory, snapshot and restore), follower catch-up")
	fs.StringVar(&phases, "phases", "", "run only these phases: matrix, value-size, sessions, catch-up (default: matrix, plus the rest with --scaling or --quick)")
	fs.StringVar(&sessions, "scaling-sessions", "10000,100000,1000000", "session counts for memory and snapshot/restore (10M needs ~10 GiB and a long time: add it on a big quiet machine)")
	fs.StringVar(&vsizes, "scaling-value-sizes", "64,1024,16384,65536", "value sizes for the value-size curve")
	fs.IntVar(&cfg.scalingClients, "scaling-clients", 50, "clients for the value-size curve")
	fs.IntVar(&cfg.valueBytes, "scaling-value-bytes", 256<<20, "the value-size curve uses min(--keys, this ÷ value size) keys")
	fs.DurationVar(&cfg.scalingDuration, "scaling-duration", 0, "measured time of each value-size run (default: --duration)")
	fs.IntVar(&cfg.catchupWrites, "catchup-writes", 100000, "sessions written while a follower is down")
	fs.IntVar(&cfg.latencyClients, "latency-clients", 0, "client count whose latency distribution is plotted (default: the largest)")
	fs.StringVar(&cfg.redisBin, "redis-server", "redis-server", "redis-server binary")
	fs.StringVar(&cfg.etcdBin, "etcd", "etcd", "etcd binary")
	fs.StringVar(&cfg.statehouseBin, "statehouse", "", "statehouse binary (default: go build ./cmd/statehouse)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temp dir with data dirs and server logs")
	var nodeEnv string
	fs.StringVar(&nodeEnv, "statehouse-env", "", "space-separated KEY=VALUE pairs for the statehouse nodes' environment only (e.g. \"GOGC=200 GOMAXPROCS=1\", or a flag's STATEHOUSE_* twin)")
	fs.StringVar(&cfg.serverLog, "statehouse-log-level", "warn", "--log-level of the statehouse nodes (their logs are in the temp dir: see --keep)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the key choice")
	var profile string
	fs.StringVar(&profile, "profile", "", "client counts (e.g. 50) whose statehouse runs are profiled: pprof CPU and allocations of every node over the measured window, in DIR/profiles")
	fs.StringVar(&cfg.replot, "replot", "", "measure nothing: rewrite results.md and the plots from DIR/results.json")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, kv := range strings.Fields(nodeEnv) {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("--statehouse-env: %q is not KEY=VALUE", kv)
		}
		cfg.nodeEnv = append(cfg.nodeEnv, kv)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.quick {
		// Small defaults; flags given explicitly still win.
		quick := map[string]string{
			"clients": "1,16", "duration": "500ms", "warmup": "100ms", "keys": "2000",
			"scaling-sessions": "2000,20000", "scaling-value-sizes": "64,65536",
			"scaling-clients": "8", "scaling-duration": "300ms", "catchup-writes": "5000",
			"scaling-value-bytes": strconv.Itoa(16 << 20),
		}
		for k, v := range quick {
			if !set[k] {
				if err := fs.Set(k, v); err != nil {
					return nil, err
				}
			}
		}
		if !set["scaling"] {
			cfg.scaling = true
		}
	}
	var err error
	if cfg.systems, err = parseNames(systems, systemNames(), "system"); err != nil {
		return nil, err
	}
	var wl []string
	for _, w := range allWorkloads {
		wl = append(wl, w.name)
	}
	if cfg.workloads, err = parseNames(workloads, wl, "workload"); err != nil {
		return nil, err
	}
	if cfg.clients, err = parseInts(clients, "--clients"); err != nil {
		return nil, err
	}
	if profile != "" {
		if cfg.profile, err = parseInts(profile, "--profile"); err != nil {
			return nil, err
		}
	}
	if cfg.scalingSessions, err = parseInts(sessions, "--scaling-sessions"); err != nil {
		return nil, err
	}
	if cfg.scalingValueSizes, err = parseInts(vsizes, "--scaling-value-sizes"); err != nil {
		return nil, err
	}
	slices.Sort(cfg.scalingSessions)
	all := []string{"matrix", "value-size", "sessions", "catch-up"}
	switch {
	case phases != "":
		list, err := parseNames(phases, all, "phase")
		if err != nil {
			return nil, err
		}
		cfg.phases = map[string]bool{}
		for _, ph := range list {
			cfg.phases[ph] = true
		}
	case cfg.scaling:
		cfg.phases = map[string]bool{"matrix": true, "value-size": true, "sessions": true, "catch-up": true}
	default:
		cfg.phases = map[string]bool{"matrix": true}
	}
	if cfg.scalingDuration == 0 {
		cfg.scalingDuration = cfg.duration
	}
	if cfg.latencyClients == 0 {
		cfg.latencyClients = slices.Max(cfg.clients)
	}
	if cfg.session != shapeHash && cfg.session != shapeString {
		return nil, fmt.Errorf("--session must be hash or string, not %q", cfg.session)
	}
	if cfg.driver != "lean" && cfg.driver != "goredis" {
		return nil, fmt.Errorf("--resp-client must be lean or goredis, not %q", cfg.driver)
	}
	if cfg.valueSize < 1 || cfg.keys < 1 || cfg.pipeline < 1 || cfg.duration <= 0 {
		return nil, fmt.Errorf("--value-size, --keys, --pipeline and --duration must be positive")
	}
	return cfg, nil
}

func systemNames() []string {
	var out []string
	for _, s := range allSystems {
		out = append(out, s.name)
	}
	return out
}

// parseNames reads "a,b" or "all" against the known names, keeping the
// known order.
func parseNames(v string, known []string, what string) ([]string, error) {
	if v == "all" || v == "" {
		return known, nil
	}
	want := map[string]bool{}
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("unknown %s %q (known: %s)", what, s, strings.Join(known, ", "))
		}
		want[s] = true
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

func parseInts(v, flagName string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: %q is not a positive integer", flagName, s)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", flagName)
	}
	return out, nil
}

// run is the whole benchmark: it returns what it measured even when it
// stops early on an error, so that partial results are still written.
func run(ctx context.Context, cfg *config, log io.Writer) (*Results, error) {
	root, err := os.MkdirTemp("", "statehouse-bench-")
	if err != nil {
		return nil, err
	}
	m := newProcs(root)
	defer func() {
		m.killAll()
		if cfg.keep {
			fmt.Fprintf(log, "kept %s\n", root)
		} else {
			os.RemoveAll(root)
		}
	}()

	bins, err := findBinaries(cfg, root, log)
	if err != nil {
		return nil, err
	}
	bins.statehouseLog = cfg.serverLog
	bins.profile = len(cfg.profile) > 0
	res := newResults(cfg, bins)
	res.Meta.FsyncMicros = fsyncLatency(root)
	h := &harness{cfg: cfg, m: m, bins: bins, res: res, log: log}
	if cfg.phases["matrix"] || cfg.phases["value-size"] {
		h.deployments(ctx)
	}
	if cfg.phases["sessions"] && ctx.Err() == nil {
		h.scalingSessions(ctx)
	}
	if cfg.phases["catch-up"] && ctx.Err() == nil {
		h.catchUp(ctx)
	}
	res.finish()
	return res, ctx.Err()
}

func findBinaries(cfg *config, root string, log io.Writer) (binaries, error) {
	var b binaries
	need := map[string]bool{}
	for _, s := range cfg.systems {
		d, _ := systemByName(s)
		need[strings.SplitN(d.deploy, "-", 2)[0]] = true
	}
	if cfg.phases["sessions"] || cfg.phases["catch-up"] {
		need["redis"], need["statehouse"] = true, true
	}
	look := func(name string) (string, error) {
		p, err := exec.LookPath(name)
		if err != nil {
			return "", fmt.Errorf("%s not found (install it or pass its path): %w", name, err)
		}
		return p, nil
	}
	var err error
	if need["redis"] {
		if b.redis, err = look(cfg.redisBin); err != nil {
			return b, err
		}
	}
	if need["etcd"] {
		if b.etcd, err = look(cfg.etcdBin); err != nil {
			return b, err
		}
	}
	if need["statehouse"] {
		if cfg.statehouseBin != "" {
			b.statehouse = cfg.statehouseBin
		} else {
			t0 := time.Now()
			if b.statehouse, err = buildStatehouse(root); err != nil {
				return b, err
			}
			fmt.Fprintf(log, "built cmd/statehouse in %v\n", time.Since(t0).Round(time.Millisecond))
		}
	}
	return b, nil
}

// harness carries what every phase needs.
type harness struct {
	cfg  *config
	m    *procs
	bins binaries
	res  *Results
	log  io.Writer
}

func (h *harness) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	h.res.Failures = append(h.res.Failures, msg)
	fmt.Fprintln(h.log, "FAILED:", msg)
}

// deployments runs the matrix (and the value-size curve) on each
// deployment the chosen systems need, one deployment at a time.
func (h *harness) deployments(ctx context.Context) {
	var order []string
	bySys := map[string][]string{}
	for _, s := range h.cfg.systems {
		d, _ := systemByName(s)
		if _, ok := bySys[d.deploy]; !ok {
			order = append(order, d.deploy)
		}
		bySys[d.deploy] = append(bySys[d.deploy], s)
	}
	for _, key := range order {
		if ctx.Err() != nil {
			return
		}
		d, err := newDeployment(key, h.m, h.bins, h.cfg.nodeEnv)
		if err != nil {
			h.fail("%s: %v", key, err)
			continue
		}
		fmt.Fprintf(h.log, "\n== %s: starting\n", key)
		t0 := time.Now()
		if err := d.start(ctx); err != nil {
			h.fail("%s: start: %v", key, err)
			d.stop()
			continue
		}
		fmt.Fprintf(h.log, "   up in %v\n", time.Since(t0).Round(time.Millisecond))
		if key == "statehouse-3" && slices.Contains(bySys[key], "statehouse-3-readonly") {
			h.res.Meta.StaleReads = probeStaleReads(ctx, d.(*shDeploy), h.m)
			fmt.Fprintf(h.log, "   READONLY probe: %s\n", h.res.Meta.StaleReads)
		}
		if h.cfg.phases["matrix"] {
			h.matrix(ctx, d, bySys[key])
		}
		if h.cfg.phases["value-size"] {
			h.valueSizes(ctx, d, bySys[key])
		}
		d.stop()
		for _, msg := range h.m.takeDied() {
			h.fail("%s", msg)
		}
		fmt.Fprintf(h.log, "   %s done in %v\n", key, time.Since(t0).Round(time.Millisecond))
	}
}

func (h *harness) matrix(ctx context.Context, d deployment, systems []string) {
	if slices.Contains(h.cfg.workloads, "get") || slices.Contains(h.cfg.workloads, "mix") {
		t0 := time.Now()
		if err := h.preload(ctx, d, systems[0], h.cfg.keys, h.cfg.valueSize); err != nil {
			h.fail("%s: preload: %v", systems[0], err)
			return
		}
		fmt.Fprintf(h.log, "   preloaded %d keys in %v\n", h.cfg.keys, time.Since(t0).Round(time.Millisecond))
	}
	for _, sys := range systems {
		for _, wl := range h.cfg.workloads {
			for _, c := range h.cfg.clients {
				if ctx.Err() != nil {
					return
				}
				r, err := h.measureOne(ctx, d, sys, spec{
					workload: wl, clients: c, pipeline: h.cfg.pipeline,
					duration: h.cfg.duration, warmup: h.cfg.warmup,
					valueSize: h.cfg.valueSize, keys: h.cfg.keys, seed: h.cfg.seed, shape: h.cfg.session,
				})
				if err != nil {
					h.fail("%s %s clients=%d: %v", sys, wl, c, err)
					continue
				}
				h.res.Runs = append(h.res.Runs, r)
			}
		}
	}
}

// preload fills the key space, trying again (at most twice, on the leader
// found afresh) when the load fails, and reporting each failure.
func (h *harness) preload(ctx context.Context, d deployment, sys string, keys, size int) error {
	var err error
	for try := range 3 {
		var t *target
		if t, err = d.target(ctx, sys); err == nil {
			if err = preload(ctx, t, keys, size); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return err
		}
		if try < 2 {
			h.fail("%s: preload of %d × %d B (try %d): %v", sys, keys, size, try+1, err)
		}
	}
	return err
}

// measureOne finds the target afresh, measures, prints one line, and
// compacts etcd's history so that the next run starts alike.
func (h *harness) measureOne(ctx context.Context, d deployment, sys string, s spec) (Run, error) {
	t, err := d.target(ctx, sys)
	if err != nil {
		return Run{}, err
	}
	var waitProfiles func() ([]string, []error)
	if p, ok := d.(profiled); ok && slices.Contains(h.cfg.profile, s.clients) {
		if targets := p.profileTargets(ctx); len(targets) > 0 {
			name := fmt.Sprintf("%s-%s-c%d-v%d", sys, s.workload, s.clients, s.valueSize)
			s.window = func(d time.Duration) {
				waitProfiles = startProfiles(ctx, targets, filepath.Join(h.cfg.out, "profiles"), name, d)
			}
		}
	}
	r, err := measure(ctx, t, s, h.cfg.driver, d.pids())
	if waitProfiles != nil {
		files, errs := waitProfiles()
		for _, e := range errs {
			h.fail("%s %s clients=%d: %v", sys, s.workload, s.clients, e)
		}
		if len(files) > 0 {
			fmt.Fprintf(h.log, "   profiles: %d files in %s\n", len(files), filepath.Join(h.cfg.out, "profiles"))
		}
	}
	if err != nil {
		return Run{}, err
	}
	r.System = sys
	for _, d := range h.m.takeDied() {
		h.fail("%s", d)
	}
	fmt.Fprintf(h.log, "   %-22s %-8s vsize=%-6d c=%-4d %10.0f ops/s  p50 %-8s p99 %-8s p99.9 %-8s srv %4.0f%% cli %4.0f%%%s\n",
		sys, s.workload, s.valueSize, s.clients, r.OpsPerSec, fmtMicros(r.P50Micros), fmtMicros(r.P99Micros), fmtMicros(r.P999Micros),
		r.ServerCPUPct, r.ClientCPUPct, errNote(r))
	if t.kind == "etcd" {
		if err := etcdCompact(ctx, t.etcd); err != nil && !strings.Contains(err.Error(), "compacted") {
			fmt.Fprintf(h.log, "   etcd compact: %v\n", err)
		}
	}
	return r, nil
}

func errNote(r Run) string {
	var parts []string
	if r.Errors > 0 {
		parts = append(parts, fmt.Sprintf("errors=%d (%s)", r.Errors, short(r.FirstError)))
	}
	if r.Misses > 0 && r.Workload != "set" {
		parts = append(parts, fmt.Sprintf("misses=%d", r.Misses))
	}
	if len(parts) == 0 {
		return ""
	}
	return "  " + strings.Join(parts, " ")
}

// short cuts an error message to one line of at most 100 bytes.
func short(s string) string {
	s = firstLine(s)
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

// valueSizes runs set and get at each value size with a fixed client count.
func (h *harness) valueSizes(ctx context.Context, d deployment, systems []string) {
	for _, size := range h.cfg.scalingValueSizes {
		keys := max(1, min(h.cfg.keys, h.cfg.valueBytes/size))
		if err := h.preload(ctx, d, systems[0], keys, size); err != nil {
			h.fail("%s: preload %d B values: %v", systems[0], size, err)
			continue
		}
		for _, sys := range systems {
			for _, wl := range []string{"set", "get"} {
				if ctx.Err() != nil {
					return
				}
				r, err := h.measureOne(ctx, d, sys, spec{
					workload: wl, clients: h.cfg.scalingClients, pipeline: h.cfg.pipeline,
					duration: h.cfg.scalingDuration, warmup: h.cfg.warmup,
					valueSize: size, keys: keys, seed: h.cfg.seed, shape: h.cfg.session,
				})
				if err != nil {
					h.fail("%s %s value size %d: %v", sys, wl, size, err)
					continue
				}
				r.Scenario = "value-size"
				h.res.ValueSizes = append(h.res.ValueSizes, r)
			}
		}
	}
}
