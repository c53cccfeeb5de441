// Command jepsen-lite tests statehouse the way Jepsen tests databases: it
// starts a cluster, runs concurrent clients that record every operation,
// injects faults (kills, pauses, partitions, latency, loss, clock skew,
// full disks), heals them, and checks the history: linearizability with
// porcupine, lost and phantom writes, session expiry. It exits 0 only when
// it found no anomaly.
//
//	go run ./jepsen-lite --workload register,set --nemesis kill,partition,pause --time-limit 90s
//
// It is a black-box user of statehouse: RESP over the network, nothing else.
// See jepsen-lite/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// Exit codes.
const (
	ExitOK           = 0
	ExitAnomaly      = 1 // the checkers found an anomaly
	ExitUsage        = 2
	ExitUnsupported  = 3 // this machine cannot run the backend (not root, no ip netns)
	ExitHarness      = 4 // the run could not be carried out (cluster did not form, build failed)
	ExitInconclusive = 5 // no anomaly, but some check could not finish
	ExitInterrupted  = 130
)

func main() { os.Exit(realMain(os.Args[1:])) }

func realMain(args []string) int {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("jepsen-lite", flag.ContinueOnError)
	workloads := fs.String("workload", "register", "workloads, comma separated, run concurrently on one cluster: "+strings.Join(workloadNames, ", "))
	nemeses := fs.String("nemesis", "none", "faults, comma separated, one at a time in a seeded random order: "+strings.Join(nemesisNames, ", "))
	nodeArgs := fs.String("node-args", "", "extra flags for every statehouse node, space separated (e.g. \"--debug-unsafe-reads\")")
	check := fs.String("check", "", "check a saved history.json again instead of running (no cluster)")
	cleanup := fs.Bool("cleanup", false, "remove namespaces, links, host rules and data dir mounts left by killed runs, then exit")
	fs.StringVar(&cfg.Backend, "backend", cfg.Backend, "where the cluster runs: local (network namespaces on this machine)")
	fs.DurationVar(&cfg.TimeLimit, "time-limit", cfg.TimeLimit, "how long the workloads run under faults")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "length of each quiet phase and each fault")
	fs.DurationVar(&cfg.Quiet, "quiet", cfg.Quiet, "quiet period after the last heal, before the final reads")
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "cluster size")
	fs.Int64Var(&cfg.Seed, "seed", 0, "random seed for the fault schedule and the clients' choices (0: from the clock; printed)")
	fs.StringVar(&cfg.Out, "out", "", "output directory (default: a new temp dir, printed)")
	fs.StringVar(&cfg.Binary, "bin", "", "statehouse binary to run (default: go build ./cmd/statehouse)")
	fs.DurationVar(&cfg.RaftTimeout, "raft-timeout", cfg.RaftTimeout, "nodes' --heartbeat-timeout and --election-timeout")
	fs.IntVar(&cfg.Clients, "concurrency", cfg.Clients, "clients per workload")
	fs.DurationVar(&cfg.OpDelay, "op-delay", cfg.OpDelay, "mean pause between one client's operations")
	fs.IntVar(&cfg.Keys, "keys", cfg.Keys, "register/cas/follower-reads: keys in use at once")
	fs.IntVar(&cfg.KeyLimit, "ops-per-key", cfg.KeyLimit, "register/cas/follower-reads: operations on a key before moving to a fresh one")
	fs.DurationVar(&cfg.Latency, "latency", cfg.Latency, "latency nemesis: delay between nodes (jitter: half of it)")
	fs.Float64Var(&cfg.Loss, "loss", cfg.Loss, "loss nemesis: share of packets between nodes dropped")
	fs.DurationVar(&cfg.ClockSkew, "clock-skew", cfg.ClockSkew, "clock nemesis: largest clock offset")
	fs.DurationVar(&cfg.CheckTime, "check-timeout", cfg.CheckTime, "porcupine's time budget per key")
	fs.BoolVar(&cfg.KeepData, "keep-data", false, "keep the nodes' data dirs even when no anomaly was found")
	fs.StringVar(&cfg.MaxMemory, "maxmemory", "", "every node's --maxmemory (e.g. 2mb); the run then records the evicted keys (keyevent notifications on every node) and checks only the keys left")
	fs.StringVar(&cfg.MaxMemoryPolicy, "maxmemory-policy", "", "every node's --maxmemory-policy (default: the cluster's, noeviction)")
	fs.BoolVar(&cfg.Secure, "secure", false, "TLS alone on the client port, mutual TLS between peers, a password, and the workloads logged in as an ACL user")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: jepsen-lite [flags]\n\nExit codes: 0 no anomaly, 1 anomaly, 2 usage, 3 cannot run here (not root / no ip netns),\n4 harness error, 5 inconclusive, 130 interrupted.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if *cleanup {
		cleanupStale(func(f string, a ...any) { fmt.Printf(f+"\n", a...) }, false)
		return ExitOK
	}
	if *check != "" {
		res, err := Recheck(*check, cfg.CheckTime)
		if err != nil {
			fmt.Fprintln(os.Stderr, "jepsen-lite:", err)
			return ExitUsage
		}
		fmt.Print(res.Table)
		return exitFor(res)
	}
	cfg.Workloads, cfg.Nemeses, cfg.NodeArgs = splitList(*workloads), splitList(*nemeses), strings.Fields(*nodeArgs)
	if err := validate(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "jepsen-lite:", err)
		return ExitUsage
	}
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano() % 1_000_000_000
	}
	cfg.Command = "go run ./jepsen-lite " + strings.Join(withSeed(args, cfg.Seed), " ")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\njepsen-lite: %v: stopping, healing and cleaning up (nodes, namespaces, bridge, rules)\n", s)
		cancel()
		<-sig
		fmt.Fprintln(os.Stderr, "jepsen-lite: still cleaning up; it takes a few seconds")
	}()

	res, err := Run(ctx, cfg, os.Stderr)
	switch {
	case IsUnsupported(err):
		fmt.Fprintln(os.Stderr, "jepsen-lite:", err)
		return ExitUnsupported
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "jepsen-lite: interrupted; cleaned up")
		return ExitInterrupted
	case err != nil:
		fmt.Fprintln(os.Stderr, "jepsen-lite:", err)
		var he *HarnessError
		if errors.As(err, &he) {
			return ExitHarness
		}
		return ExitUsage
	}
	fmt.Print(res.Table)
	fmt.Printf("re-run: %s\n", cfg.Command)
	return exitFor(res)
}

func exitFor(res *Result) int {
	switch {
	case len(res.Check.Anomalies) > 0:
		return ExitAnomaly
	case len(res.Check.Inconclusive) > 0:
		return ExitInconclusive
	}
	return ExitOK
}

func validate(cfg *Config) error {
	if len(cfg.Workloads) == 0 {
		return errors.New("--workload: none given")
	}
	seen := map[string]bool{}
	for _, w := range cfg.Workloads {
		if seen[w] {
			return fmt.Errorf("--workload %s given twice", w)
		}
		seen[w] = true
		if _, err := newWorkload(w); err != nil {
			return err
		}
	}
	for _, n := range cfg.Nemeses {
		if n == "none" {
			continue
		}
		if _, err := newNemesis(n); err != nil {
			return err
		}
		if isMembershipNemesis(n) && cfg.Nodes < minVoters {
			return fmt.Errorf("--nemesis %s needs --nodes %d or more (it never leaves fewer voters)", n, minVoters)
		}
	}
	for _, a := range cfg.NodeArgs {
		if name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); strings.HasPrefix(a, "-") && name == "maxmemory" {
			return errors.New("--node-args: give the limit as jepsen-lite's --maxmemory, so the run records what is evicted")
		}
	}
	switch {
	case cfg.Nodes < 1 || cfg.Nodes > 99:
		return fmt.Errorf("--nodes %d: 1 to 99", cfg.Nodes)
	case cfg.TimeLimit <= 0 || cfg.Interval <= 0:
		return errors.New("--time-limit and --interval must be positive")
	case cfg.Clients < 1:
		return errors.New("--concurrency must be at least 1")
	case cfg.Loss < 0 || cfg.Loss > 1:
		return errors.New("--loss is a share: 0 to 1")
	}
	return nil
}

// withSeed returns args with --seed set, for the re-run line.
func withSeed(args []string, seed int64) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--seed" || a == "-seed" {
			i++
			continue
		}
		if strings.HasPrefix(a, "--seed=") || strings.HasPrefix(a, "-seed=") {
			continue
		}
		out = append(out, quoteArg(a))
	}
	return append(out, "--seed", fmt.Sprint(seed))
}

func quoteArg(a string) string {
	if strings.ContainsAny(a, " \t\"'") {
		return fmt.Sprintf("%q", a)
	}
	return a
}
