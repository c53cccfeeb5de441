package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

var (
	tlsRequests = flag.Int("tls-requests", 50000, "TestTLSThroughput: requests per redis-benchmark run")
	tlsRounds   = flag.Int("tls-rounds", 3, "TestTLSThroughput: rounds, each running every system and transport once")
)

// TestTLSThroughput measures GET and SET through the TLS port beside the
// plaintext one, on one statehouse node (fsync on) and on a redis-server
// with --tls-port, with redis-benchmark (50 clients, 256-byte values, a
// client certificate on every TLS connection), in one run: the rounds
// interleave the four so that a busy machine slows them alike. It logs
// the median of the rounds; figures are reported, never asserted.
//
// It is a measurement, not a test, so go test ./... skips it:
//
//	go test ./bench -run TestTLSThroughput -v -count=1 -args -figures
func TestTLSThroughput(t *testing.T) {
	if !*figures {
		t.Skip("a measurement, not a test (about 2 min): run it with -args -figures")
	}
	redisBin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	benchBin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark is not installed (apt-get install redis-tools)")
	}
	if out, _ := exec.Command(benchBin, "--help").CombinedOutput(); !strings.Contains(string(out), "--tls") {
		t.Skip("redis-benchmark was built without TLS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root := t.TempDir()
	m := newProcs(root)
	defer m.killAll()
	bin, err := buildStatehouse(root)
	if err != nil {
		t.Fatal(err)
	}
	ca := testcluster.NewCA(t, "bench CA")
	srv := ca.Issue("server", testcluster.CertOptions{})
	cli := ca.Issue("client", testcluster.CertOptions{Client: true})
	tlsFiles := []string{"--tls-cert-file", srv.CertFile, "--tls-key-file", srv.KeyFile, "--tls-ca-cert-file", ca.CertFile}

	ports := func(n int) []int {
		var out []int
		for range n {
			p, err := m.freePort()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
		return out
	}
	shPorts := ports(3)
	sh := m.newProc("tls-statehouse", filepath.Join(root, "statehouse.log"), nil, append([]string{bin,
		"--node-id", "n1", "--bind", "127.0.0.1", "--port", strconv.Itoa(shPorts[0]), "--tls-port", strconv.Itoa(shPorts[1]),
		"--peer-port", strconv.Itoa(shPorts[2]), "--data-dir", filepath.Join(root, "sh-data"), "--log-level", "warn"}, tlsFiles...)...)
	rPorts := ports(2)
	rd := m.newProc("tls-redis", filepath.Join(root, "redis.log"), nil, append([]string{redisBin,
		"--port", strconv.Itoa(rPorts[0]), "--tls-port", strconv.Itoa(rPorts[1]), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", root, "--tls-auth-clients", "yes"}, tlsFiles...)...)
	for _, p := range []struct {
		p     *proc
		port  int
		probe []string
	}{{sh, shPorts[0], []string{"SET", "bench:probe", "1"}}, {rd, rPorts[0], []string{"PING"}}} {
		if err := m.start(p.p); err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(p.port)
		ok := waitFor(ctx, time.Minute, 20*time.Millisecond, func() bool {
			_, err := respDo(addr, time.Second, p.probe...)
			return err == nil || p.p.exited()
		})
		if !ok || p.p.exited() {
			t.Fatalf("%s does not answer:\n%s", p.p.name, p.p.tail(2000))
		}
	}

	type target struct {
		system, transport string
		port              int
		tls               bool
	}
	targets := []target{
		{"statehouse, 1 node", "plaintext", shPorts[0], false},
		{"statehouse, 1 node", "TLS", shPorts[1], true},
		{"redis-server", "plaintext", rPorts[0], false},
		{"redis-server", "TLS", rPorts[1], true},
	}
	rps := map[string][]float64{} // target and test → ops/s of each round
	for round := range *tlsRounds {
		for _, tg := range targets {
			args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(tg.port), "-c", "50", "-n", strconv.Itoa(*tlsRequests),
				"-d", "256", "-r", "100000", "-t", "set,get", "--csv"}
			if tg.tls {
				args = append(args, "--tls", "--cacert", ca.CertFile, "--cert", cli.CertFile, "--key", cli.KeyFile)
			}
			out, err := exec.CommandContext(ctx, benchBin, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("redis-benchmark %q: %v\n%s", args, err, out)
			}
			recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
			if err != nil || len(recs) != 3 {
				t.Fatalf("redis-benchmark %q printed %q (%v)", args, out, err)
			}
			line := fmt.Sprintf("round %d: %s over %s:", round+1, tg.system, tg.transport)
			for _, r := range recs[1:] {
				v, err := strconv.ParseFloat(r[1], 64)
				if err != nil {
					t.Fatalf("redis-benchmark: %q: %v", r, err)
				}
				k := tg.system + "|" + tg.transport + "|" + r[0]
				rps[k] = append(rps[k], v)
				line += fmt.Sprintf(" %s %.0f/s (p50 %s ms)", r[0], v, r[4])
			}
			t.Log(line)
		}
	}
	median := func(k string) float64 {
		v := slices.Clone(rps[k])
		slices.Sort(v)
		return v[len(v)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n| system | transport | SET ops/s | GET ops/s | TLS ÷ plaintext (SET, GET) |\n|---|---|---:|---:|---:|\n")
	for _, tg := range targets {
		k := tg.system + "|" + tg.transport + "|"
		set, get := median(k+"SET"), median(k+"GET")
		ratio := ""
		if tg.tls {
			p := tg.system + "|plaintext|"
			ratio = fmt.Sprintf("%.2f×, %.2f×", set/median(p+"SET"), get/median(p+"GET"))
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %s |\n", tg.system, tg.transport, set, get, ratio)
	}
	fmt.Fprintf(&b, "\nmedian of %d rounds, %d requests each, 50 clients, 256-byte values; load average at the end %.1f\n", *tlsRounds, *tlsRequests, loadAvg())
	t.Log(b.String())
}
