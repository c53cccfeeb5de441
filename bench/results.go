package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Results is everything one run measured; results.json is this struct.
type Results struct {
	Meta       Meta            `json:"meta"`
	Runs       []Run           `json:"runs"`
	ValueSizes []Run           `json:"value_sizes,omitempty"`
	Memory     []MemoryPoint   `json:"memory,omitempty"`
	Snapshots  []SnapshotPoint `json:"snapshots,omitempty"`
	CatchUp    []CatchUpPoint  `json:"catch_up,omitempty"`
	Targets    []TargetCheck   `json:"targets"`
	Failures   []string        `json:"failures,omitempty"`
}

// Meta says what was measured, where and how.
type Meta struct {
	Started        time.Time `json:"started"`
	Finished       time.Time `json:"finished"`
	CPUs           int       `json:"cpus"`
	MemTotal       string    `json:"mem_total"`
	LoadAvgStart   float64   `json:"loadavg_start"`
	LoadAvgEnd     float64   `json:"loadavg_end"`
	FsyncMicros    int64     `json:"fsync_p50_us"` // 4 KiB write + fsync in the temp dir, median of 50
	Go             string    `json:"go"`
	Redis          string    `json:"redis,omitempty"`
	Etcd           string    `json:"etcd,omitempty"`
	Statehouse     string    `json:"statehouse,omitempty"` // git commit of the tree built
	Command        string    `json:"command"`
	Systems        []string  `json:"systems"`
	Workloads      []string  `json:"workloads"`
	Clients        []int     `json:"clients"`
	DurationSecs   float64   `json:"duration_s"`
	WarmupSecs     float64   `json:"warmup_s"`
	ValueSize      int       `json:"value_size"`
	Keys           int       `json:"keys"`
	Pipeline       int       `json:"pipeline"`
	RESPClient     string    `json:"resp_client"`
	Session        string    `json:"session_shape"`
	EtcdClients    string    `json:"etcd_clients"`
	StaleReads     string    `json:"stale_reads,omitempty"` // READONLY probe outcome
	Quick          bool      `json:"quick"`
	LatencyClients int       `json:"latency_clients"`
	NodeEnv        []string  `json:"statehouse_env,omitempty"`
}

// TargetCheck is one of the project's targets, as a ratio measured in the
// same run. Reported, never asserted.
type TargetCheck struct {
	Target  string  `json:"target"`
	Clients int     `json:"clients,omitempty"`
	Size    int     `json:"sessions,omitempty"`
	Ratio   float64 `json:"ratio"`
	Want    string  `json:"want"`
	Met     bool    `json:"met"`
}

func newResults(cfg *config, bins binaries) *Results {
	r := &Results{Meta: Meta{
		Started: time.Now(), CPUs: runtime.NumCPU(), MemTotal: memTotal(), LoadAvgStart: loadAvg(),
		Go: runtime.Version(), Command: strings.Join(os.Args, " "),
		Systems: cfg.systems, Workloads: cfg.workloads, Clients: cfg.clients,
		DurationSecs: cfg.duration.Seconds(), WarmupSecs: cfg.warmup.Seconds(),
		ValueSize: cfg.valueSize, Keys: cfg.keys, Pipeline: cfg.pipeline, RESPClient: cfg.driver, Session: cfg.session,
		EtcdClients: "min(clients, 8) clientv3.Client shared round-robin by the workers",
		Quick:       cfg.quick, LatencyClients: cfg.latencyClients, NodeEnv: cfg.nodeEnv,
	}}
	if bins.redis != "" {
		r.Meta.Redis = version(bins.redis, "--version")
	}
	if bins.etcd != "" {
		r.Meta.Etcd = version(bins.etcd, "--version")
	}
	if bins.statehouse != "" {
		if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
			r.Meta.Statehouse = strings.TrimSpace(string(out))
		}
	}
	return r
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(strings.TrimPrefix(line, "MemTotal:"))
	if len(f) == 0 {
		return ""
	}
	kb, _ := strconv.ParseFloat(f[0], 64)
	return fmtBytes(kb * 1024)
}

// finish stamps the end and works out the targets.
func (r *Results) finish() {
	r.Meta.Finished = time.Now()
	r.Meta.LoadAvgEnd = loadAvg()
	r.Targets = nil
	ratio := func(target, wl, other, want string, atLeast float64) {
		for _, c := range r.Meta.Clients {
			a, ok1 := r.find(baseline, wl, c)
			b, ok2 := r.find(other, wl, c)
			if !ok1 || !ok2 || b.OpsPerSec == 0 {
				continue
			}
			x := a.OpsPerSec / b.OpsPerSec
			r.Targets = append(r.Targets, TargetCheck{Target: target, Clients: c, Ratio: x, Want: want, Met: x >= atLeast})
		}
	}
	ratio("SET: statehouse-3 ÷ redis-wait (WAIT 2 0)", "set", "redis-wait", "≥ 1.0×", 1.0)
	ratio("SET: statehouse-3 ÷ etcd", "set", "etcd", "≥ 5×", 5.0)
	ratio("GET: statehouse-3 linearizable ÷ single redis", "get", "redis", "≥ 0.8×", 0.8)
	for _, m := range r.Memory {
		if m.System != "statehouse-1" {
			continue
		}
		for _, red := range r.Memory {
			if red.System == "redis" && red.Sessions == m.Sessions && red.PerSession > 0 {
				x := m.PerSession / red.PerSession
				r.Targets = append(r.Targets, TargetCheck{Target: "memory per session: statehouse ÷ redis (used_memory)", Size: m.Sessions, Ratio: x, Want: "≤ 1.5×", Met: x <= 1.5})
			}
		}
	}
}

func (r *Results) find(system, workload string, clients int) (Run, bool) {
	for _, x := range r.Runs {
		if x.System == system && x.Workload == workload && x.Clients == clients {
			return x, true
		}
	}
	return Run{}, false
}

// writeOutputs writes results.json, results.md and the SVG plots, and
// returns the Markdown.
func writeOutputs(cfg *config, r *Results) (string, error) {
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(cfg.out, "results.json"), append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	plots := r.plots()
	for name, svg := range plots {
		if err := os.WriteFile(filepath.Join(cfg.out, name), []byte(svg), 0o644); err != nil {
			return "", err
		}
	}
	md := r.markdown(plots)
	return md, os.WriteFile(filepath.Join(cfg.out, "results.md"), []byte(md), 0o644)
}

func fmtMicros(us int64) string {
	switch {
	case us == 0:
		return "–"
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 10_000:
		return fmt.Sprintf("%.2fms", float64(us)/1000)
	case us < 1_000_000:
		return fmt.Sprintf("%.1fms", float64(us)/1000)
	}
	return fmt.Sprintf("%.2fs", float64(us)/1e6)
}

func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

func fmtOps(x float64) string {
	switch {
	case x >= 100_000:
		return fmt.Sprintf("%.0fk", x/1000)
	case x >= 10_000:
		return fmt.Sprintf("%.1fk", x/1000)
	}
	return fmt.Sprintf("%.0f", x)
}

func (r *Results) markdown(plots map[string]string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Meta
	p("# statehouse benchmark\n\n")
	p("Run %s → %s on %d CPUs, %s RAM; load average %.2f at the start, %.2f at the end.\n",
		m.Started.Format("2006-01-02 15:04:05"), m.Finished.Format("15:04:05"), m.CPUs, m.MemTotal, m.LoadAvgStart, m.LoadAvgEnd)
	p("statehouse %s (%s), %s, %s.\n\n", orDash(m.Statehouse), m.Go, orDash(m.Redis), orDash(m.Etcd))
	if m.FsyncMicros > 0 {
		p("A 4 KiB write + fsync in the data dirs' file system takes %s (median of 50): the floor under every fsync-on write path here.\n\n", fmtMicros(m.FsyncMicros))
	}
	p("Each run: %v warm-up, then %v measured; %d keys of %d B values; pipeline depth %d; RESP client %s; sessions as %s; etcd: %s.",
		secs(m.WarmupSecs), secs(m.DurationSecs), m.Keys, m.ValueSize, m.Pipeline, m.RESPClient, m.Session, m.EtcdClients)
	if len(m.NodeEnv) > 0 {
		p(" statehouse nodes' environment: `%s`.", strings.Join(m.NodeEnv, " "))
	}
	if m.Quick {
		p(" **--quick: a smoke test, too short for conclusions.**")
	}
	p("\n\nServers and the load generator share the machine's cores, and everything is on loopback: figures compare systems within this run, not with other machines. `srv CPU` is the CPU of all the system's server processes (100%% = one core), `cli CPU` the load generator's.\n\n")
	if m.StaleReads != "" {
		p("READONLY probe: %s.\n\n", m.StaleReads)
	}
	if len(r.Failures) > 0 {
		p("## Failures\n\n")
		for _, f := range r.Failures {
			p("- %s\n", strings.ReplaceAll(short(f), "|", "\\|"))
		}
		p("\n")
	}

	p("## Targets (ratios from this run; reported, not asserted)\n\n")
	if len(r.Targets) == 0 {
		p("No target could be computed from the systems and workloads run.\n\n")
	} else {
		p("| target | at | measured | want | met |\n|---|---|---:|---|---|\n")
		for _, t := range r.Targets {
			at := fmt.Sprintf("%d clients", t.Clients)
			if t.Clients == 1 {
				at = "1 client"
			}
			if t.Size > 0 {
				at = fmt.Sprintf("%d sessions", t.Size)
			}
			met := "no"
			if t.Met {
				met = "yes"
			}
			p("| %s | %s | %.2f× | %s | %s |\n", t.Target, at, t.Ratio, t.Want, met)
		}
		p("\n")
	}

	for _, wl := range m.Workloads {
		runs := r.runsOf(wl)
		if len(runs) == 0 {
			continue
		}
		p("## %s\n\n%s\n\n", wl, workloadAbout(wl))
		p("| system | clients | ops/s | p50 | p99 | p99.9 | %s ÷ system | srv CPU | cli CPU | errors |\n", baseline)
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, x := range runs {
			rel := "–"
			if base, ok := r.find(baseline, wl, x.Clients); ok && x.OpsPerSec > 0 {
				rel = fmt.Sprintf("%.2f×", base.OpsPerSec/x.OpsPerSec)
			}
			errs := ""
			if x.Errors > 0 {
				errs = fmt.Sprintf("%d: %s", x.Errors, strings.ReplaceAll(short(x.FirstError), "|", "\\|"))
			}
			if x.Misses > 0 && wl != "set" {
				errs = strings.TrimSpace(errs + fmt.Sprintf(" %d misses", x.Misses))
			}
			p("| %s | %d | %s | %s | %s | %s | %s | %.0f%% | %.0f%% | %s |\n", x.System, x.Clients, fmtOps(x.OpsPerSec),
				fmtMicros(x.P50Micros), fmtMicros(x.P99Micros), fmtMicros(x.P999Micros), rel, x.ServerCPUPct, x.ClientCPUPct, errs)
		}
		p("\n")
		for _, name := range []string{"throughput-" + wl + ".svg", "latency-" + wl + ".svg"} {
			if _, ok := plots[name]; ok {
				p("![%s](%s)\n", name, name)
			}
		}
		p("\n")
	}

	if len(r.ValueSizes) > 0 {
		p("## Value size\n\nset and get at %d clients; the key space shrinks as values grow (min(--keys, --scaling-value-bytes ÷ size)), so that large values fit in memory on every system.\n\n", r.ValueSizes[0].Clients)
		p("| system | workload | value size | keys | ops/s | MB/s | p50 | p99 | p99.9 | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
		for _, x := range r.ValueSizes {
			errs := ""
			if x.Errors > 0 {
				errs = fmt.Sprintf("%d: %s", x.Errors, strings.ReplaceAll(short(x.FirstError), "|", "\\|"))
			}
			p("| %s | %s | %s | %d | %s | %.1f | %s | %s | %s | %s |\n", x.System, x.Workload, fmtBytes(float64(x.ValueSize)), x.Keys,
				fmtOps(x.OpsPerSec), x.OpsPerSec*float64(x.ValueSize)/1e6, fmtMicros(x.P50Micros), fmtMicros(x.P99Micros), fmtMicros(x.P999Micros), errs)
		}
		p("\n")
		for _, name := range []string{"value-size-set.svg", "value-size-get.svg"} {
			if _, ok := plots[name]; ok {
				p("![%s](%s)\n", name, name)
			}
		}
		p("\n")
	}

	if len(r.Memory) > 0 {
		p("## Memory per session\n\nSessions as the session workload writes them (%s; 4 fields, the last %d B; TTL 1800 s), loaded into one redis-server and one statehouse node. Per session = (after − empty) ÷ sessions; marginal = (after − the previous row) ÷ sessions added, which leaves fixed overheads out. used_memory is INFO memory's (statehouse: its deterministic estimate of the data, calibrated against the Go heap, read right after a forced GC; results before it had that estimate were the Go heap in use); RssAnon is the process's anonymous resident memory; live heap is what statehouse's last GC marked (GODEBUG=gctrace=1, 1 MB resolution).\n\n", m.Session, m.ValueSize)
		p("| sessions | redis used_memory | statehouse used_memory | ratio | marginal: redis | statehouse | ratio | redis RssAnon | statehouse RssAnon | ratio | statehouse live heap |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, sh := range r.Memory {
			if sh.System != "statehouse-1" {
				continue
			}
			var red MemoryPoint
			for _, x := range r.Memory {
				if x.System == "redis" && x.Sessions == sh.Sessions {
					red = x
				}
			}
			p("| %d | %.0f B | %.0f B | %s | %.0f B | %.0f B | %s | %.0f B | %.0f B | %s | %.0f B |\n", sh.Sessions, red.PerSession, sh.PerSession, ratioStr(sh.PerSession, red.PerSession),
				red.Marginal, sh.Marginal, ratioStr(sh.Marginal, red.Marginal), red.RSSPerSession, sh.RSSPerSession, ratioStr(sh.RSSPerSession, red.RSSPerSession), sh.LiveHeapPerSession)
		}
		p("\n")
		if _, ok := plots["memory.svg"]; ok {
			p("![memory.svg](memory.svg)\n\n")
		}
	}

	if len(r.Snapshots) > 0 {
		p("## Snapshot and restore\n\nSAVE (statehouse: a Raft snapshot); then kill -9, start on the same data, and time from exec until the first SET succeeds (statehouse: includes its Raft election timeout). Redis also: DEBUG RELOAD (save + reload in place).\n\n")
		p("| system | sessions | SAVE | on disk | DEBUG RELOAD | restart → first write | keys back |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, s := range r.Snapshots {
			reload := "–"
			if s.ReloadSecs > 0 {
				reload = fmt.Sprintf("%.3fs", s.ReloadSecs)
			}
			p("| %s | %d | %.3fs | %s | %s | %.3fs | %d |\n", s.System, s.Sessions, s.SaveSecs, fmtBytes(float64(s.SizeBytes)), reload, s.RestartSecs, s.KeysAfter)
		}
		p("\n")
	}

	if len(r.CatchUp) > 0 {
		p("## Follower catch-up\n\nA replica is stopped (SIGTERM), sessions are written from 32 connections, the replica is started; time from exec until it answers, and until it has everything (statehouse: raft_applied_index reaches the leader's; Redis: slave_repl_offset reaches master_repl_offset).\n\n")
		p("| system | writes while down | log entries | answering | caught up | new snapshot on follower | note |\n|---|---:|---:|---:|---:|---|---|\n")
		for _, c := range r.CatchUp {
			entries := "–"
			if c.LogEntries > 0 {
				entries = fmt.Sprint(c.LogEntries)
			}
			snap := "–"
			if c.System != "redis-wait" {
				snap = fmt.Sprint(c.Snapshot)
			}
			p("| %s | %d | %s | %.3fs | %.3fs | %s | %s |\n", c.System, c.Writes, entries, c.UpSecs, c.Secs, snap, c.Note)
		}
		p("\n")
	}

	p("## Systems\n\n")
	for _, s := range allSystems {
		if slices.Contains(m.Systems, s.name) {
			p("- **%s**: %s\n", s.name, s.about)
		}
	}
	p("\nLatency is the round trip of a batch of `pipeline` operations, counted once per operation; percentiles come from an HDR histogram (1 µs to 120 s, 3 significant digits). Errors count batches that got an error reply or failed.\n")
	return b.String()
}

func (r *Results) runsOf(wl string) []Run {
	var out []Run
	for _, sys := range allSystems {
		for _, x := range r.Runs {
			if x.Workload == wl && x.System == sys.name {
				out = append(out, x)
			}
		}
	}
	return out
}

func workloadAbout(wl string) string {
	for _, w := range allWorkloads {
		if w.name == wl {
			return w.about + "."
		}
	}
	return ""
}

func ratioStr(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
