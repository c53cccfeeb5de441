package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MemoryPoint is the memory a system uses for N sessions.
type MemoryPoint struct {
	System   string `json:"system"`
	Sessions int    `json:"sessions"`
	// UsedMemory is INFO memory's used_memory (statehouse: its estimate
	// of the data, fsm/memory.go; the Go heap is INFO's heap_alloc), Base
	// the same when empty.
	UsedMemory     int64   `json:"used_memory"`
	UsedMemoryBase int64   `json:"used_memory_base"`
	PerSession     float64 `json:"used_memory_per_session"`
	// Marginal is (used_memory − the previous step's) ÷ the sessions
	// added: the cost of one more session, fixed overheads left out.
	Marginal float64 `json:"used_memory_marginal_per_session"`
	// RSS is the process's anonymous resident memory (RssAnon: what
	// the heap really holds from the OS, mmap'd files left out).
	RSS           int64   `json:"rss_anon"`
	RSSBase       int64   `json:"rss_anon_base"`
	RSSPerSession float64 `json:"rss_anon_per_session"`
	// LiveHeap is statehouse's heap marked live by its last GC (from
	// GODEBUG=gctrace=1), the fairest match for Redis's used_memory.
	LiveHeap           int64   `json:"live_heap,omitempty"`
	LiveHeapPerSession float64 `json:"live_heap_per_session,omitempty"`
}

// SnapshotPoint is the time to save N sessions and to come back from them.
type SnapshotPoint struct {
	System      string  `json:"system"`
	Sessions    int     `json:"sessions"`
	SaveSecs    float64 `json:"save_s"`
	SizeBytes   int64   `json:"size_bytes"`
	ReloadSecs  float64 `json:"debug_reload_s,omitempty"` // Redis: DEBUG RELOAD
	RestartSecs float64 `json:"restart_to_write_s"`       // kill -9, start, first write taken
	KeysAfter   int64   `json:"keys_after_restart"`
}

// CatchUpPoint is how long a stopped replica takes to catch up.
type CatchUpPoint struct {
	System     string  `json:"system"`
	Writes     int     `json:"writes"`
	LogEntries int64   `json:"log_entries,omitempty"` // statehouse: Raft entries written meanwhile
	Secs       float64 `json:"catch_up_s"`            // process start to caught up
	UpSecs     float64 `json:"up_s"`                  // process start to answering PING
	Snapshot   bool    `json:"new_snapshot"`          // statehouse: a snapshot appeared on the follower (installed from the leader, or its own)
	Note       string  `json:"note,omitempty"`
}

// scalingSessions loads growing numbers of sessions into one redis-server
// and one statehouse node and, at each step, reads their memory and times
// a snapshot and a restart.
func (h *harness) scalingSessions(ctx context.Context) {
	pl := newPayloads(h.cfg.valueSize, h.cfg.session)
	red := &redisDeploy{m: h.m, bin: h.bins.redis, name: "scale-redis"}
	// --no-fsync only makes the bulk load quicker: memory, snapshot and
	// restart do not depend on it. gctrace reports the live heap; it comes
	// after --statehouse-env, so a GODEBUG there does not turn it off.
	sh := &shDeploy{m: h.m, bin: h.bins.statehouse, name: "scale-statehouse", n: 1, noFsync: true, env: append(slices.Clone(h.cfg.nodeEnv), "GODEBUG=gctrace=1"), logLevel: h.bins.statehouseLog}
	type sys struct {
		name string
		d    deployment
		addr func() string
		pid  func() int
	}
	systems := []sys{
		{"redis", red, func() string { return red.addr(0) }, func() int { return red.nodes[0].pid() }},
		{"statehouse-1", sh, func() string { return sh.nodes[0].addr() }, func() int { return sh.nodes[0].p.pid() }},
	}
	for _, s := range systems {
		fmt.Fprintf(h.log, "\n== scaling: %s sessions %v\n", s.name, h.cfg.scalingSessions)
		if err := s.d.start(ctx); err != nil {
			h.fail("scaling %s: start: %v", s.name, err)
			s.d.stop()
			continue
		}
		time.Sleep(300 * time.Millisecond)
		base, err := infoFields(s.addr(), "memory", 5*time.Second)
		if err != nil {
			h.fail("scaling %s: INFO: %v", s.name, err)
			s.d.stop()
			continue
		}
		baseRSS := rssAnon(s.pid())
		loaded, prevUsed := 0, infoInt(base, "used_memory")
		for _, n := range h.cfg.scalingSessions {
			if ctx.Err() != nil {
				break
			}
			t0 := time.Now()
			if err := loadSessions(ctx, s.addr(), loaded, n, 8, batchFor(len(pl.value)), pl); err != nil {
				h.fail("scaling %s: load %d sessions: %v%s", s.name, n, err, hashHint(err))
				break
			}
			loadTime := time.Since(t0)
			prevLoaded := loaded
			loaded = n
			time.Sleep(200 * time.Millisecond)
			var live int64
			if s.d == sh {
				// The live heap (and RSS) are read after a collection.
				var ok bool
				if live, ok = forceGC(ctx, s.addr(), sh.nodes[0].p.logPath); !ok {
					fmt.Fprintf(h.log, "   (no GC seen after the load: used_memory includes garbage)\n")
				}
			}
			mem, err := infoFields(s.addr(), "memory", 5*time.Second)
			if err != nil {
				h.fail("scaling %s: INFO: %v", s.name, err)
				break
			}
			p := MemoryPoint{System: s.name, Sessions: n,
				UsedMemory: infoInt(mem, "used_memory"), UsedMemoryBase: infoInt(base, "used_memory"),
				RSS: rssAnon(s.pid()), RSSBase: baseRSS}
			p.PerSession = float64(p.UsedMemory-p.UsedMemoryBase) / float64(n)
			p.Marginal = float64(p.UsedMemory-prevUsed) / float64(n-prevLoaded)
			prevUsed = p.UsedMemory
			p.RSSPerSession = float64(p.RSS-p.RSSBase) / float64(n)
			if live > 0 {
				p.LiveHeap = live
				p.LiveHeapPerSession = float64(live) / float64(n)
			}
			h.res.Memory = append(h.res.Memory, p)
			fmt.Fprintf(h.log, "   %-13s %9d sessions loaded in %-8v used_memory %6.0f B/session (%6.0f B for each added), RssAnon %6.0f B/session%s\n",
				s.name, n, loadTime.Round(time.Millisecond), p.PerSession, p.Marginal, p.RSSPerSession, liveNote(p))

			sp, err := h.snapshotRestore(ctx, s.name, s.d, s.addr)
			if err != nil {
				h.fail("scaling %s: snapshot/restore at %d: %v", s.name, n, err)
				break
			}
			sp.Sessions = n
			h.res.Snapshots = append(h.res.Snapshots, sp)
			fmt.Fprintf(h.log, "   %-13s %9d sessions: SAVE %.3fs (%s on disk)%s, kill -9 and restart to first write %.3fs, %d keys back\n",
				s.name, n, sp.SaveSecs, fmtBytes(float64(sp.SizeBytes)), reloadNote(sp), sp.RestartSecs, sp.KeysAfter)
		}
		s.d.stop()
	}
}

// hashHint suggests the string session shape when a server lacks hashes.
func hashHint(err error) string {
	if err != nil && strings.Contains(err.Error(), "unknown command 'HSET'") {
		return " (this server has no hashes: --session string stores sessions as JSON strings)"
	}
	return ""
}

func liveNote(p MemoryPoint) string {
	if p.LiveHeap == 0 {
		return ""
	}
	return fmt.Sprintf(", live heap at last GC %6.0f B/session", p.LiveHeapPerSession)
}

func reloadNote(sp SnapshotPoint) string {
	if sp.ReloadSecs == 0 {
		return ""
	}
	return fmt.Sprintf(", DEBUG RELOAD %.3fs", sp.ReloadSecs)
}

// snapshotRestore times SAVE, then kills the process, starts it again on
// the same data and times until it takes a write.
func (h *harness) snapshotRestore(ctx context.Context, name string, d deployment, addr func() string) (SnapshotPoint, error) {
	sp := SnapshotPoint{System: name}
	t0 := time.Now()
	if _, err := respDo(addr(), 10*time.Minute, "SAVE"); err != nil {
		return sp, fmt.Errorf("SAVE: %w", err)
	}
	sp.SaveSecs = time.Since(t0).Seconds()
	var p *proc
	switch d := d.(type) {
	case *redisDeploy:
		p = d.nodes[0]
		sp.SizeBytes = fileSize(filepath.Join(d.dir, "r0", "dump.rdb"))
		t0 = time.Now()
		if _, err := respDo(addr(), 10*time.Minute, "DEBUG", "RELOAD"); err != nil {
			return sp, fmt.Errorf("DEBUG RELOAD: %w", err)
		}
		sp.ReloadSecs = time.Since(t0).Seconds()
	case *shDeploy:
		p = d.nodes[0].p
		sp.SizeBytes = dirSize(filepath.Join(d.nodes[0].dataDir, "snapshots"))
	}
	h.m.kill(p)
	t0 = time.Now()
	if err := h.m.start(p); err != nil {
		return sp, err
	}
	if !waitFor(ctx, 10*time.Minute, 5*time.Millisecond, func() bool {
		_, err := respDo(addr(), 2*time.Second, "SET", "bench:probe", "1")
		return err == nil
	}) {
		return sp, fmt.Errorf("no write taken after restart:\n%s", p.tail(2000))
	}
	sp.RestartSecs = time.Since(t0).Seconds()
	if v, err := respDo(addr(), 10*time.Second, "DBSIZE"); err == nil {
		if n, ok := v.(int64); ok {
			sp.KeysAfter = n - 1 // the probe key
		}
	}
	return sp, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// rssAnon is the anonymous resident memory of pid (heap, not mmap'd files).
func rssAnon(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// forceGC makes a statehouse process run a garbage collection without
// touching its data: it writes and deletes a 256 KiB junk key until the
// process's gctrace log shows a GC that ended after the call began. It
// returns the heap that GC marked live.
func forceGC(ctx context.Context, addr, logPath string) (int64, bool) {
	n0, _ := gcCount(logPath)
	c, err := dialRESP(addr, 5*time.Second)
	if err != nil {
		return 0, false
	}
	defer c.close()
	// Small steps, checked one by one, so that little is allocated
	// between the end of that GC and the INFO that follows.
	junk := make([]byte, 256<<10)
	key := []byte("bench:junk")
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if n, live := gcCount(logPath); n > n0 {
			return live, true
		}
		c.c.SetDeadline(time.Now().Add(ioTimeout))
		c.send(cmdSET, key, junk)
		c.send([]byte("DEL"), key)
		if c.flush() != nil {
			return 0, false
		}
		for range 2 {
			if _, err := c.skip(); err != nil {
				return 0, false
			}
		}
	}
	return 0, false
}

// gctrace lines: "gc 12 @1.2s 3%: ... 10->12->6 MB, 14 MB goal, ...";
// the third figure is the heap marked live.
var gcLine = regexp.MustCompile(`^gc \d+ @.*: .* (\d+)->(\d+)->(\d+) MB`)

// gcCount reads a gctrace log: how many GCs it shows and the heap the
// last one marked live.
func gcCount(logPath string) (n int, live int64) {
	f, err := os.Open(logPath)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := gcLine.FindStringSubmatch(sc.Text()); m != nil {
			mb, _ := strconv.ParseInt(m[3], 10, 64)
			n, live = n+1, mb<<20
		}
	}
	return n, live
}

// listDir names the entries of dir.
func listDir(dir string) []string {
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// catchUp stops a replica, writes while it is down, starts it and times
// until it has everything: a statehouse follower (raft_applied_index
// reaches the leader's) and, for comparison, a Redis replica
// (slave_repl_offset reaches the master's master_repl_offset).
func (h *harness) catchUp(ctx context.Context) {
	n := h.cfg.catchupWrites
	pl := newPayloads(h.cfg.valueSize, h.cfg.session)
	fmt.Fprintf(h.log, "\n== follower catch-up after %d session writes\n", n)

	sh := &shDeploy{m: h.m, bin: h.bins.statehouse, name: "catchup-statehouse", n: 3, env: h.cfg.nodeEnv, logLevel: h.bins.statehouseLog}
	if err := sh.start(ctx); err != nil {
		h.fail("catch-up statehouse-3: start: %v", err)
	} else if cp, err := h.catchUpStatehouse(ctx, sh, n, pl); err != nil {
		h.fail("catch-up statehouse-3: %v", err)
	} else {
		h.res.CatchUp = append(h.res.CatchUp, cp)
		fmt.Fprintf(h.log, "   statehouse-3: %d writes (%d log entries), follower up in %.3fs, caught up in %.3fs (new snapshot: %v)\n", n, cp.LogEntries, cp.UpSecs, cp.Secs, cp.Snapshot)
	}
	sh.stop()
	if ctx.Err() != nil || h.bins.redis == "" {
		return
	}
	red := &redisDeploy{m: h.m, bin: h.bins.redis, name: "catchup-redis", replicas: 2}
	if err := red.start(ctx); err != nil {
		h.fail("catch-up redis-wait: start: %v", err)
	} else if cp, err := h.catchUpRedis(ctx, red, n, pl); err != nil {
		h.fail("catch-up redis-wait: %v", err)
	} else {
		h.res.CatchUp = append(h.res.CatchUp, cp)
		fmt.Fprintf(h.log, "   redis-wait: %d writes, replica up in %.3fs, caught up in %.3fs\n", n, cp.UpSecs, cp.Secs)
	}
	red.stop()
}

func (h *harness) catchUpStatehouse(ctx context.Context, d *shDeploy, n int, pl *payloads) (CatchUpPoint, error) {
	cp := CatchUpPoint{System: "statehouse-3", Writes: n}
	l, err := d.leader(ctx, 30*time.Second)
	if err != nil {
		return cp, err
	}
	var f *shNode
	for _, nd := range d.nodes {
		if nd != l {
			f = nd
			break
		}
	}
	before, err := infoFields(l.addr(), "persistence", 5*time.Second)
	if err != nil {
		return cp, err
	}
	h.m.stop(f.p, syscall.SIGTERM, 30*time.Second) // SIGTERM: a clean stop, as for maintenance
	// Write as a web tier would: many clients, a few commands each, so
	// that the log holds many entries rather than a few huge ones.
	if err := loadSessionsSmallBatches(ctx, l.addr(), n, pl); err != nil {
		return cp, fmt.Errorf("writes: %w%s", err, hashHint(err))
	}
	after, err := infoFields(l.addr(), "persistence", 5*time.Second)
	if err != nil {
		return cp, err
	}
	target := infoInt(after, "raft_applied_index")
	cp.LogEntries = target - infoInt(before, "raft_applied_index")
	snapsBefore := listDir(filepath.Join(f.dataDir, "snapshots"))
	t0 := time.Now()
	if err := h.m.start(f.p); err != nil {
		return cp, err
	}
	if !waitFor(ctx, 10*time.Minute, 5*time.Millisecond, func() bool {
		info, err := infoFields(f.addr(), "persistence", time.Second)
		if err == nil && cp.UpSecs == 0 {
			cp.UpSecs = time.Since(t0).Seconds()
		}
		return err == nil && infoInt(info, "raft_applied_index") >= target
	}) {
		return cp, fmt.Errorf("follower did not reach index %d:\n%s", target, f.p.tail(2000))
	}
	cp.Secs = time.Since(t0).Seconds()
	for _, name := range listDir(filepath.Join(f.dataDir, "snapshots")) {
		if !slices.Contains(snapsBefore, name) {
			cp.Snapshot = true
		}
	}
	return cp, nil
}

// loadSessionsSmallBatches writes n sessions from 32 connections, 4
// sessions per round trip, as a web tier's many clients would.
func loadSessionsSmallBatches(ctx context.Context, addr string, n int, pl *payloads) error {
	return loadSessions(ctx, addr, 0, n, 32, 4, pl)
}

func (h *harness) catchUpRedis(ctx context.Context, d *redisDeploy, n int, pl *payloads) (CatchUpPoint, error) {
	cp := CatchUpPoint{System: "redis-wait", Writes: n, Note: "replica restarted without persistence: full resync"}
	r := d.nodes[2]
	h.m.stop(r, syscall.SIGTERM, 30*time.Second)
	if err := loadSessionsSmallBatches(ctx, d.addr(0), n, pl); err != nil {
		return cp, fmt.Errorf("writes: %w", err)
	}
	info, err := infoFields(d.addr(0), "replication", 5*time.Second)
	if err != nil {
		return cp, err
	}
	target := infoInt(info, "master_repl_offset")
	t0 := time.Now()
	if err := h.m.start(r); err != nil {
		return cp, err
	}
	if !waitFor(ctx, 10*time.Minute, 5*time.Millisecond, func() bool {
		info, err := infoFields(d.addr(2), "replication", time.Second)
		if err == nil && cp.UpSecs == 0 {
			cp.UpSecs = time.Since(t0).Seconds()
		}
		return err == nil && info["master_link_status"] == "up" && infoInt(info, "slave_repl_offset") >= target
	}) {
		return cp, fmt.Errorf("replica did not reach offset %d:\n%s", target, r.tail(2000))
	}
	cp.Secs = time.Since(t0).Seconds()
	return cp, nil
}
