package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs owns every process the harness starts and the temp dir they live
// in. killAll runs at the end of a run, on failure and on Ctrl-C; children
// also get SIGKILL from the kernel if the harness itself dies (Pdeathsig).
type procs struct {
	root string // temp dir: one subdir per deployment

	mu    sync.Mutex
	live  map[*proc]struct{}
	ports map[int]bool // handed out in this run, never twice
	died  []string     // processes that exited without being stopped
}

// takeDied returns and forgets the processes that died on their own.
func (m *procs) takeDied() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.died
	m.died = nil
	return out
}

func newProcs(root string) *procs {
	return &procs{root: root, live: map[*proc]struct{}{}, ports: map[int]bool{}}
}

// proc is one child process; its output goes to a log file.
type proc struct {
	name    string
	args    []string
	env     []string
	logPath string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	started  time.Time
	stopping bool // stop was called: its exit is expected
}

// dir makes a fresh directory under the run's temp dir.
func (m *procs) dir(name string) (string, error) {
	d := filepath.Join(m.root, name)
	if err := os.RemoveAll(d); err != nil {
		return "", err
	}
	return d, os.MkdirAll(d, 0o755)
}

// freePort returns a loopback port that was free a moment ago and that
// this run has not handed out before.
func (m *procs) freePort() (int, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		m.mu.Lock()
		seen := m.ports[p]
		m.ports[p] = true
		m.mu.Unlock()
		// Keep clear of port+10000 collisions and of ports already given.
		if !seen {
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free loopback port")
}

// newProc describes a process; start runs it.
func (m *procs) newProc(name, logPath string, env []string, args ...string) *proc {
	return &proc{name: name, args: args, env: env, logPath: logPath}
}

// start runs p (again, if it was stopped), appending to its log.
func (m *procs) start(p *proc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return fmt.Errorf("%s already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.args[0], p.args[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		if !stopping {
			// Nobody asked it to stop: say so in its log and in the run.
			fmt.Fprintf(logf, "bench: %s exited on its own: %v\n", p.name, err)
			m.mu.Lock()
			m.died = append(m.died, fmt.Sprintf("%s exited on its own (%v) at %s", p.name, err, time.Now().Format("15:04:05.000")))
			m.mu.Unlock()
		}
		logf.Close()
		close(done)
	}()
	p.cmd, p.done, p.started, p.stopping = cmd, done, time.Now(), false
	m.mu.Lock()
	m.live[p] = struct{}{}
	m.mu.Unlock()
	return nil
}

// pid of the running process, 0 if it is not running.
// pidsOf gives the pid of each process (0 for one not running).
func pidsOf(ps []*proc) []int {
	out := make([]int, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.pid())
	}
	return out
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	select {
	case <-p.done:
		return 0 // exited on its own
	default:
	}
	return p.cmd.Process.Pid
}

// exited reports whether a started process has died on its own.
func (p *proc) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to go, then kills it.
func (m *procs) stop(p *proc, sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.stopping = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	m.mu.Lock()
	delete(m.live, p)
	m.mu.Unlock()
}

// kill is kill -9.
func (m *procs) kill(p *proc) { m.stop(p, syscall.SIGKILL, 10*time.Second) }

// killAll kills every live process this run started.
func (m *procs) killAll() {
	m.mu.Lock()
	var all []*proc
	for p := range m.live {
		all = append(all, p)
	}
	m.mu.Unlock()
	for _, p := range all {
		m.kill(p)
	}
}

// tail returns the last n bytes of p's log, for error messages.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// cpuTicks is the user+system CPU time of pid in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the ")" that closes the command name; utime and stime
	// are fields 14 and 15 of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// loadAvg is the 1-minute load average, to show how busy the machine was.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// waitFor polls cond every step until it returns true, ctx ends or timeout.
func waitFor(ctx context.Context, timeout, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(step):
		}
	}
}

// fsyncLatency is the median time of 50 4 KiB writes each followed by
// fsync, in dir: how fast the disk under the data dirs makes a write durable.
func fsyncLatency(dir string) int64 {
	f, err := os.CreateTemp(dir, "fsync-probe")
	if err != nil {
		return 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []int64
	for range 50 {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0
		}
		if err := f.Sync(); err != nil {
			return 0
		}
		lat = append(lat, time.Since(t0).Microseconds())
	}
	slices.Sort(lat)
	return lat[len(lat)/2]
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
