package main

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQuick runs the whole harness, every system and every phase, on a
// tiny scale, and checks that it produced a complete report and left no
// server behind. Figures are not checked: a benchmark is not a test.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real redis, etcd and statehouse servers for about a minute; skipped under -short")
	}
	for _, bin := range []string{"redis-server", "etcd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed; the harness compares against it", bin)
		}
	}
	out := t.TempDir()
	cfg, err := parseFlags([]string{"--quick", "--out", out,
		"--clients", "1,4", "--duration", "300ms", "--warmup", "100ms", "--keys", "200",
		"--scaling-sessions", "500,2000", "--scaling-value-sizes", "64,4096",
		"--scaling-clients", "4", "--scaling-duration", "200ms", "--catchup-writes", "500",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := run(ctx, cfg, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	if kids := liveChildren(t); len(kids) > 0 {
		t.Errorf("servers still running after the run: %v", kids)
	}
	if _, err := writeOutputs(cfg, res); err != nil {
		t.Fatal(err)
	}

	for _, f := range []string{"results.md", "results.json", "throughput-set.svg", "latency-get.svg", "value-size-set.svg", "memory.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing output: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	for _, sys := range cfg.systems {
		for _, wl := range cfg.workloads {
			for _, c := range cfg.clients {
				r, ok := back.find(sys, wl, c)
				if !ok {
					t.Errorf("no run for %s %s clients=%d", sys, wl, c)
					continue
				}
				// The comparison systems must work; statehouse's own
				// figures (and errors) are what the report is for, but
				// plain SET and GET must go through.
				mustWork := strings.HasPrefix(sys, "redis") || sys == "etcd" || wl == "set" || wl == "get"
				if mustWork && (r.Ops == 0 || r.Errors > 0) {
					t.Errorf("%s %s clients=%d: %d ops, %d errors (%s)", sys, wl, c, r.Ops, r.Errors, r.FirstError)
				}
				if r.Ops > 0 && (r.P50Micros == 0 || r.P50Micros > r.P999Micros) {
					t.Errorf("%s %s clients=%d: bad percentiles p50=%d p99.9=%d", sys, wl, c, r.P50Micros, r.P999Micros)
				}
			}
		}
	}
	if len(back.ValueSizes) == 0 {
		t.Error("no value-size runs")
	}
	if !hasMemory(back.Memory, "redis") || len(back.Snapshots) == 0 {
		t.Errorf("scaling: memory %v, snapshots %v", back.Memory, back.Snapshots)
	}
	if len(back.CatchUp) == 0 {
		t.Error("no catch-up figures")
	}
	if len(back.Targets) == 0 {
		t.Error("no targets computed")
	}
	md, _ := os.ReadFile(filepath.Join(out, "results.md"))
	for _, want := range []string{"## Targets", "## set", "## session", "## Value size", "## Memory per session", "## Follower catch-up"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	for _, f := range svgs {
		checkSVG(t, f)
	}
}

func hasMemory(ms []MemoryPoint, system string) bool {
	for _, m := range ms {
		if m.System == system && m.PerSession > 0 {
			return true
		}
	}
	return false
}

// checkSVG parses an SVG as XML and refuses a repeated attribute, which
// browsers and renderers reject.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(bufio.NewReader(f))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(path), err)
			return
		}
		if se, ok := tok.(xml.StartElement); ok {
			seen := map[string]bool{}
			for _, a := range se.Attr {
				if seen[a.Name.Local] {
					t.Errorf("%s: <%s> repeats attribute %s", filepath.Base(path), se.Name.Local, a.Name.Local)
				}
				seen[a.Name.Local] = true
			}
		}
	}
}

// liveChildren lists this process's children that are still running.
func liveChildren(t *testing.T) []string {
	t.Helper()
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 2 && f[2] == self && f[0] != "Z" {
			out = append(out, string(b[:i+1]))
		}
	}
	return out
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if strings.TrimSpace(line) != "" {
			l.t.Log(line)
		}
	}
	return len(p), nil
}

func TestRESPReplies(t *testing.T) {
	in := "+OK\r\n-ERR nope\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n*-1\r\n"
	c := &respConn{r: bufio.NewReader(strings.NewReader(in + in))}
	wantNull := []bool{false, false, false, false, true, false, true}
	for i, w := range wantNull {
		null, err := c.skip()
		if i == 1 {
			if _, ok := err.(replyError); !ok {
				t.Fatalf("reply %d: want a replyError, got %v", i, err)
			}
		} else if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if null != w {
			t.Errorf("reply %d: null=%v", i, null)
		}
	}
	var got []any
	for range 7 {
		v, err := c.value()
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, v)
	}
	b, _ := json.Marshal(got)
	if want := `["OK","ERR nope",42,"abc",null,["a",[1]],null]`; string(b) != want {
		t.Errorf("values: %s, want %s", b, want)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--quick", "--clients", "2,3", "--systems", "statehouse-3,redis"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.phases["catch-up"] || cfg.duration != 500*time.Millisecond || cfg.latencyClients != 3 {
		t.Errorf("quick: phases=%v duration=%v latencyClients=%d", cfg.phases, cfg.duration, cfg.latencyClients)
	}
	if strings.Join(cfg.systems, ",") != "redis,statehouse-3" {
		t.Errorf("systems in the known order: %v", cfg.systems)
	}
	cfg, err = parseFlags([]string{"--phases", "catch-up,value-size"}, io.Discard)
	if err != nil || len(cfg.phases) != 2 || !cfg.phases["value-size"] || cfg.phases["matrix"] {
		t.Errorf("--phases: %v %v", cfg.phases, err)
	}
	for _, bad := range [][]string{{"--systems", "mongo"}, {"--clients", "0"}, {"--session", "list"}, {"--workloads", "scan"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestTargets(t *testing.T) {
	r := &Results{Meta: Meta{Clients: []int{8}}, Runs: []Run{
		{System: "statehouse-3", Workload: "set", Clients: 8, OpsPerSec: 1000},
		{System: "redis-wait", Workload: "set", Clients: 8, OpsPerSec: 800},
		{System: "etcd", Workload: "set", Clients: 8, OpsPerSec: 250},
		{System: "statehouse-3", Workload: "get", Clients: 8, OpsPerSec: 700},
		{System: "redis", Workload: "get", Clients: 8, OpsPerSec: 1000},
	}, Memory: []MemoryPoint{
		{System: "redis", Sessions: 10, PerSession: 100},
		{System: "statehouse-1", Sessions: 10, PerSession: 140},
	}}
	r.finish()
	want := map[string]bool{"set/redis-wait 1.25": true, "set/etcd 4.00": false, "get/redis 0.70": false, "memory 1.40": true}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets: %+v", r.Targets)
	}
	for _, tc := range r.Targets {
		key := ""
		switch {
		case strings.Contains(tc.Target, "redis-wait"):
			key = "set/redis-wait"
		case strings.Contains(tc.Target, "etcd"):
			key = "set/etcd"
		case strings.Contains(tc.Target, "GET"):
			key = "get/redis"
		default:
			key = "memory"
		}
		key += " " + strconv.FormatFloat(tc.Ratio, 'f', 2, 64)
		met, ok := want[key]
		if !ok || met != tc.Met {
			t.Errorf("target %q ratio %.2f met %v: not expected", tc.Target, tc.Ratio, tc.Met)
		}
	}
}

func TestChartTicks(t *testing.T) {
	if got := autoTicks(0, 100, false); len(got) < 3 || got[0] != 0 || got[len(got)-1] != 100 {
		t.Errorf("linear ticks 0..100: %v", got)
	}
	if got := autoTicks(120, 98000, true); len(got) < 3 {
		t.Errorf("log ticks: %v", got)
	}
	if x := percentileX(99.9); x < 2.99 || x > 3.01 {
		t.Errorf("percentileX(99.9) = %v", x)
	}
	svg := chart{title: "t", x: axis{log: true}, y: axis{log: true}, series: []series{{name: "redis", xs: []float64{1, 8}, ys: []float64{10, 80}}}}.render()
	if !strings.Contains(svg, "<polyline") || strings.Count(svg, "<svg") != 1 {
		t.Errorf("chart: %s", svg)
	}
}
