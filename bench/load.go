package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Workloads. Each is a closed loop: a client sends a batch of `pipeline`
// operations, waits for every reply, records the batch's round trip as the
// latency of each operation in it, and sends the next batch.
var allWorkloads = []struct{ name, about string }{
	{"set", "SET key value (etcd: Put)"},
	{"get", "GET of a preloaded key (etcd: Get, linearizable)"},
	{"mix", "90% GET / 10% SET on the preloaded keys"},
	{"session", "one session round trip: a write, then a read of the same key; one operation = both round trips. `--session hash` (default): HSET of 4 fields + EXPIRE 1800 sent together, then HGETALL; `--session string`: SET of the same fields as JSON with EX 1800, then GET; etcd: Put of the JSON with a lease (one per client), then Get"},
}

func workloadKnown(name string) bool {
	for _, w := range allWorkloads {
		if w.name == name {
			return true
		}
	}
	return false
}

type opKind uint8

const (
	opGet opKind = iota
	opSet
	opSession
)

type op struct {
	kind opKind
	key  int
}

// spec is one measurement: a workload at a client count on one target.
type spec struct {
	workload  string
	clients   int
	pipeline  int
	duration  time.Duration
	warmup    time.Duration
	valueSize int
	keys      int
	seed      uint64
	shape     string // session shape

	// window, when set, is called as the measured window opens, with its
	// length (profiles are taken over it).
	window func(time.Duration)
}

// Percentile is one point of a latency distribution.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Micros     int64   `json:"us"`
}

// Run is the result of one measurement.
type Run struct {
	System       string       `json:"system"`
	Workload     string       `json:"workload"`
	Clients      int          `json:"clients"`
	Pipeline     int          `json:"pipeline"`
	ValueSize    int          `json:"value_size"`
	Keys         int          `json:"keys"`
	Seconds      float64      `json:"seconds"`
	Ops          int64        `json:"ops"`
	Errors       int64        `json:"errors"`
	Misses       int64        `json:"misses"` // reads that found no value
	FirstError   string       `json:"first_error,omitempty"`
	OpsPerSec    float64      `json:"ops_per_sec"`
	MeanMicros   float64      `json:"mean_us"`
	P50Micros    int64        `json:"p50_us"`
	P99Micros    int64        `json:"p99_us"`
	P999Micros   int64        `json:"p999_us"`
	MaxMicros    int64        `json:"max_us"`
	Latency      []Percentile `json:"latency"`
	ServerCPUPct float64      `json:"server_cpu_pct"` // CPU of all server processes, % of one core
	ClientCPUPct float64      `json:"client_cpu_pct"` // CPU of the harness process
	LoadAvg      float64      `json:"loadavg"`        // 1-minute load average after the run
	Scenario     string       `json:"scenario,omitempty"`
}

// worker is one client of a closed loop.
type worker interface {
	// do performs ops and returns how many reads found nothing.
	do(ctx context.Context, ops []op) (misses int, err error)
	close()
}

// payloads are the bytes written: a value of valueSize, and a session's
// fields (the last one carries valueSize bytes).
type payloads struct {
	value   []byte
	fields  [][]byte // name, value, name, value...
	json    string   // the same session as JSON, for etcd and the string shape
	ttlSecs int
	ttl     []byte
	shape   string // session shape on RESP: "hash" or "string"
	args    [][]byte
}

// Session shapes on RESP systems.
const (
	shapeHash   = "hash"   // HSET key f v f v f v f v + EXPIRE key ttl; HGETALL key
	shapeString = "string" // SET key <json> EX ttl; GET key
)

var cmdSETEX = []byte("EX")

// sendSessionWrite appends the commands that write session key and says
// how many they are.
func (p *payloads) sendSessionWrite(c *respConn, key []byte) int {
	if p.shape == shapeString {
		c.send(cmdSET, key, []byte(p.json), cmdSETEX, p.ttl)
		return 1
	}
	p.args = append(append(p.args[:0], cmdHSET, key), p.fields...)
	c.send(p.args...)
	c.send(cmdEXPIRE, key, p.ttl)
	return 2
}

// sendSessionRead appends the command that reads session key back.
func (p *payloads) sendSessionRead(c *respConn, key []byte) {
	if p.shape == shapeString {
		c.send(cmdGET, key)
		return
	}
	c.send(cmdHGETALL, key)
}

// clone gives a worker its own scratch.
func (p *payloads) clone() *payloads {
	q := *p
	q.args = nil
	return &q
}

func newPayloads(valueSize int, shape string) *payloads {
	v := make([]byte, valueSize)
	r := rand.New(rand.NewPCG(1, 2))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range v {
		v[i] = alnum[r.IntN(len(alnum))]
	}
	csrf := v[:min(32, len(v))]
	p := &payloads{value: v, ttlSecs: 1800, shape: shape}
	p.ttl = []byte(strconv.Itoa(p.ttlSecs))
	p.fields = [][]byte{
		[]byte("user"), []byte("u:1234567"),
		[]byte("created"), []byte("1767225600"),
		[]byte("csrf"), csrf,
		[]byte("data"), v,
	}
	p.json = fmt.Sprintf(`{"user":"u:1234567","created":"1767225600","csrf":%q,"data":%q}`, csrf, v)
	return p
}

func keyName(prefix string, i int, buf []byte) []byte {
	buf = append(buf[:0], prefix...)
	return strconv.AppendInt(buf, int64(i), 10)
}

// measure runs one spec against a target with clients workers and returns
// its figures.
func measure(ctx context.Context, t *target, s spec, driver string, serverPids []int) (Run, error) {
	pl := newPayloads(s.valueSize, s.shape)
	var shared *etcdPool
	if t.kind == "etcd" {
		var err error
		if shared, err = newEtcdPool(t.etcd, s.clients); err != nil {
			return Run{}, err
		}
		defer shared.close()
	}
	newWorker := func(i int) (worker, error) {
		switch {
		case t.kind == "etcd":
			return shared.worker(ctx, i, pl)
		case driver == "goredis":
			return newGoRedisWorker(t, i, pl)
		}
		return newRESPWorker(t, i, pl.clone())
	}
	workers := make([]worker, s.clients)
	for i := range workers {
		var err error
		if workers[i], err = newWorker(i); err != nil {
			for _, w := range workers[:i] {
				w.close()
			}
			return Run{}, fmt.Errorf("client %d: %w", i, err)
		}
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()

	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		mu        sync.Mutex
		total     = hdrhistogram.New(1, 120_000_000, 3)
		ops       int64
		misses    int64
		errs      int64
		firstErr  string
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := hdrhistogram.New(1, 120_000_000, 3)
			r := rand.New(rand.NewPCG(s.seed, uint64(i)))
			batch := make([]op, s.pipeline)
			var n, m, e int64
			var fe string
			for !stop.Load() && runCtx.Err() == nil {
				for j := range batch {
					batch[j] = op{key: r.IntN(s.keys)}
					switch s.workload {
					case "set":
						batch[j].kind = opSet
					case "get":
						batch[j].kind = opGet
					case "mix":
						if r.IntN(10) == 0 {
							batch[j].kind = opSet
						} else {
							batch[j].kind = opGet
						}
					case "session":
						batch[j].kind = opSession
					}
				}
				start := time.Now()
				miss, err := workers[i].do(runCtx, batch)
				lat := time.Since(start).Microseconds()
				counted := measuring.Load()
				if err != nil {
					if runCtx.Err() != nil || stop.Load() {
						break
					}
					if counted {
						e++
						if fe == "" {
							fe = err.Error()
						}
					}
					var re replyError
					if !errors.As(err, &re) {
						// A broken connection: back off, then dial again
						// (the worker's slot is only touched by this
						// goroutine until wg.Wait).
						time.Sleep(50 * time.Millisecond)
						if nw, err := newWorker(i); err == nil {
							workers[i].close()
							workers[i] = nw
						}
					}
					continue
				}
				if !counted {
					continue
				}
				n += int64(len(batch))
				m += int64(miss)
				h.RecordValues(max(lat, 1), int64(len(batch)))
			}
			mu.Lock()
			total.Merge(h)
			ops += n
			misses += m
			errs += e
			if firstErr == "" {
				firstErr = fe
			}
			mu.Unlock()
		}()
	}
	sleep(ctx, s.warmup)
	cpu0, self0 := serverTicks(serverPids), selfCPU()
	t0 := time.Now()
	measuring.Store(true)
	if s.window != nil {
		s.window(s.duration)
	}
	sleep(ctx, s.duration)
	// Batches that started before the window opened count, those that end
	// after it closes do not: the two edges balance.
	measuring.Store(false)
	elapsed := time.Since(t0)
	stop.Store(true)
	cpu1, self1 := serverTicks(serverPids), selfCPU()
	// Give in-flight batches a moment to finish, then cut them off.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cancel()
		<-done
	}
	if ctx.Err() != nil {
		return Run{}, ctx.Err()
	}
	secs := elapsed.Seconds()
	run := Run{
		Workload: s.workload, Clients: s.clients, Pipeline: s.pipeline, ValueSize: s.valueSize, Keys: s.keys,
		Seconds: secs, Ops: ops, Errors: errs, Misses: misses, FirstError: firstErr,
		OpsPerSec:    float64(ops) / secs,
		ServerCPUPct: float64(tickDelta(cpu0, cpu1)) / secs, // ticks are 1/100 s: ticks/s = % of a core
		ClientCPUPct: (self1 - self0).Seconds() / secs * 100,
		LoadAvg:      loadAvg(),
	}
	if total.TotalCount() > 0 {
		run.MeanMicros = total.Mean()
		run.P50Micros = total.ValueAtQuantile(50)
		run.P99Micros = total.ValueAtQuantile(99)
		run.P999Micros = total.ValueAtQuantile(99.9)
		run.MaxMicros = total.Max()
		for _, q := range []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100} {
			run.Latency = append(run.Latency, Percentile{q, total.ValueAtQuantile(q)})
		}
	}
	return run, nil
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// serverTicks reads the CPU ticks of each process.
func serverTicks(pids []int) map[int]int64 {
	out := map[int]int64{}
	for _, p := range pids {
		if p != 0 {
			out[p] = cpuTicks(p)
		}
	}
	return out
}

// tickDelta sums the ticks spent between two readings by the processes
// alive at both.
func tickDelta(a, b map[int]int64) int64 {
	var n int64
	for pid, t0 := range a {
		if t1, ok := b[pid]; ok && t1 >= t0 {
			n += t1 - t0
		}
	}
	return n
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
