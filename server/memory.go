package server

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// The memory limit's front door: CONFIG's maxmemory settings (proposed
// through the log), MEMORY, INFO memory's figures, Go's soft memory limit,
// and the leader's record of access for LRU/LFU eviction. The limit
// itself is enforced by the fsm (fsm/memory.go) and eviction is the
// leader's (cluster/evict.go).

// proposeMemConfig sets one of the cluster's memory settings through the log.
func (s *Server) proposeMemConfig(name, v string) error {
	reply, _, err := s.propose(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte(fsm.MemConfigCommand), []byte(name), []byte(v)}}}})
	if err != nil {
		return err
	}
	if len(reply) > 0 && reply[0] == '-' {
		return errors.New(strings.TrimSpace(string(reply[1:])))
	}
	return nil
}

// memLimitHeadroom is what Go's soft memory limit allows beyond
// maxmemory: half of it again plus 64 MiB, for the garbage a GC cycle
// leaves, the Raft log cache, client buffers and a snapshot being
// written. The GC works harder as the heap nears it, well before the
// kernel would kill the process; the data itself is held to maxmemory
// by the fsm.
func memLimitHeadroom(max int64) int64 { return max/2 + 64<<20 }

// followMemConfig moves Go's soft memory limit with maxmemory, unless the
// operator set GOMEMLIMIT.
func (s *Server) followMemConfig(c fsm.MemConfig) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := int64(math.MaxInt64)
	if c.MaxMemory > 0 {
		limit = c.MaxMemory + memLimitHeadroom(c.MaxMemory)
	}
	if s.goMemLimit.Swap(limit) != limit {
		debug.SetMemoryLimit(limit)
		s.log.Info("go memory limit", "bytes", limit, "maxmemory", c.MaxMemory, "policy", c.Policy.String())
	}
}

// touch tells the leader's eviction that a client used keys, when the
// policy reads access (LRU, LFU).
func (p *pipeline) touch(cmd *fsm.Command, args [][]byte) {
	if p.s.toucher == nil || cmd.FirstKey == 0 && cmd.KeysFunc == nil {
		return
	}
	c := p.s.fsm.MemConfig()
	if c.MaxMemory == 0 {
		return
	}
	switch c.Policy {
	case fsm.PolicyAllKeysLRU, fsm.PolicyVolatileLRU, fsm.PolicyAllKeysLFU, fsm.PolicyVolatileLFU:
		p.s.toucher.Touch(p.st.db, cmd.Keys(args))
	}
}

// rss is the process's resident set from /proc, or what Go holds from
// the OS where there is no /proc.
func rss() uint64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		if f := bytes.Fields(b); len(f) > 1 {
			if pages, err := strconv.ParseUint(string(f[1]), 10, 64); err == nil {
				return pages * uint64(os.Getpagesize())
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Sys
}

// memoryUsageCmd is MEMORY USAGE key [SAMPLES count], from this node's
// keyspace. Without SAMPLES it answers what used_memory counts for the key
// (collections sampled at 32 evenly spaced elements); SAMPLES 0 sizes
// every element.
func memoryUsageCmd(p *pipeline, args [][]byte) {
	samples := -1
	for i := 3; i < len(args); i++ {
		if !resp.EqualFold(args[i], "samples") || i+1 >= len(args) {
			p.reply(resp.AppendError(nil, resp.ErrSyntax))
			return
		}
		n, ok := resp.ParseInt(args[i+1])
		if !ok {
			p.reply(resp.AppendError(nil, resp.ErrNotInt))
			return
		}
		if n < 0 {
			p.reply(resp.AppendError(nil, resp.ErrSyntax))
			return
		}
		samples = int(min(n, math.MaxInt32))
		i++
	}
	n, ok := p.s.fsm.MemoryUsage(p.st.db, p.s.cl.Now(), args[2], samples)
	if !ok {
		p.reply(resp.AppendNull(nil))
		return
	}
	p.reply(resp.AppendInt(nil, n))
}

// memoryStatsCmd is MEMORY STATS: Redis's field names where statehouse
// has the figure, and Go's heap beside them.
func memoryStatsCmd(p *pipeline, args [][]byte) {
	st := p.s.fsm.MemoryStats()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	r := rss()
	perKey := int64(0)
	if st.Keys > 0 {
		perKey = st.Used / int64(st.Keys)
	}
	pct := func(a, b int64) string {
		if b == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64)
	}
	frag := "0"
	if st.Used > 0 {
		frag = strconv.FormatFloat(float64(r)/float64(st.Used), 'f', 2, 64)
	}
	kv := []any{
		"peak.allocated", st.Peak,
		"total.allocated", st.Used,
		"startup.allocated", int64(0),
		"overhead.total", st.Overhead,
		"keys.count", int64(st.Keys),
		"keys.bytes-per-key", perKey,
		"dataset.bytes", st.Used - st.Overhead,
		"dataset.percentage", pct(st.Used-st.Overhead, st.Used),
		"peak.percentage", pct(st.Used, st.Peak),
		"fragmentation", frag,
		"fragmentation.bytes", int64(r) - st.Used,
		"go.heap.alloc", int64(m.HeapAlloc),
		"go.heap.sys", int64(m.HeapSys),
		"go.memory-limit", debug.SetMemoryLimit(-1),
		"rss", int64(r),
	}
	out := resp.AppendArray(nil, len(kv))
	for i := 0; i < len(kv); i += 2 {
		out = resp.AppendBulkString(out, kv[i].(string))
		switch v := kv[i+1].(type) {
		case int64:
			out = resp.AppendInt(out, v)
		case string:
			out = resp.AppendBulkString(out, v)
		}
	}
	p.reply(out)
}

// memoryPurgeCmd is MEMORY PURGE: a collection, and the freed heap given
// back to the OS.
func memoryPurgeCmd(p *pipeline, args [][]byte) {
	debug.FreeOSMemory() // runs a GC first
	p.reply(resp.AppendOK(nil))
}

func memoryMallocStatsCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendBulkString(nil, "Stats not supported for the current allocator"))
}

// memoryDoctorCmd is MEMORY DOCTOR: what statehouse can say of its memory.
func memoryDoctorCmd(p *pipeline, args [][]byte) {
	c := p.s.fsm.MemConfig()
	used := p.s.fsm.UsedMemory()
	r := int64(rss())
	var issues []string
	if c.MaxMemory == 0 {
		issues = append(issues, "maxmemory is 0: nothing bounds the data set, and every node holds all of it. Set maxmemory (CONFIG SET maxmemory, or --maxmemory) below what the machine or container gives each node.")
	} else if over, ok := p.s.fsm.OverLimit(); ok {
		if c.Policy == fsm.PolicyNoEviction {
			issues = append(issues, "used_memory is "+strconv.FormatInt(over, 10)+" bytes over maxmemory with the noeviction policy: writes that grow memory are refused with -OOM until keys are deleted or expire.")
		} else {
			issues = append(issues, "used_memory is "+strconv.FormatInt(over, 10)+" bytes over maxmemory: the leader is evicting, or the policy "+c.Policy.String()+" finds nothing it may evict.")
		}
	}
	if used > 64<<20 && r > 3*used {
		issues = append(issues, "RSS is "+strconv.FormatFloat(float64(r)/float64(used), 'f', 1, 64)+" times used_memory: garbage not yet collected or heap not yet returned to the OS (MEMORY PURGE returns it).")
	}
	if len(issues) == 0 {
		p.reply(resp.AppendBulkString(nil, "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."))
		return
	}
	p.reply(resp.AppendBulkString(nil, "Sam, I detected a few issues in this statehouse node memory:\n\n * "+strings.Join(issues, "\n\n * ")+"\n"))
}

func memoryHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"DOCTOR",
		"    Return memory problems reports.",
		"MALLOC-STATS",
		"    Return internal statistics report from the memory allocator.",
		"PURGE",
		"    Attempt to purge dirty pages for reclamation by the allocator.",
		"STATS",
		"    Return information about the memory usage of the server.",
		"USAGE <key> [SAMPLES <count>]",
		"    Return memory in bytes used by <key> and its value. Nested values are",
		"    sampled up to <count> times (default: 32, as used_memory counts it; 0 means sample all).",
		"HELP",
		"    Prints this help.",
	))
}

// MemFlags are the memory settings a node was started with; empty ones
// leave the cluster's as they are.
type MemFlags struct {
	MaxMemory, Policy, Samples string
}

// CheckMemFlag refuses a memory setting given at start (name is
// maxmemory, maxmemory-policy or maxmemory-samples) that CONFIG SET would
// refuse, in CONFIG SET's words; an empty value keeps the cluster's.
func CheckMemFlag(name, v string) error {
	if v == "" {
		return nil
	}
	if _, why := configParams[name].set(nil, v); why != "" {
		return errors.New(why)
	}
	return nil
}

func (m MemFlags) pairs() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{{"maxmemory", m.MaxMemory}, {"maxmemory-policy", m.Policy}, {"maxmemory-samples", m.Samples}} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	return out
}

// ApplyMemFlags makes the cluster's memory settings those a node was
// started with, through the log as CONFIG SET does, once this node has
// read the cluster's current ones (a linearizable read); it proposes
// only the settings that differ, so nodes started alike agree at once.
// It retries until ctx is done.
func (s *Server) ApplyMemFlags(ctx context.Context, m MemFlags) error {
	if len(m.pairs()) == 0 {
		return nil
	}
	for {
		err := s.applyMemFlags(ctx, m)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) applyMemFlags(ctx context.Context, m MemFlags) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	err := s.cl.ReadBarrier(rctx)
	cancel()
	if err != nil {
		return err
	}
	var kv [][]byte
	for _, p := range m.pairs() {
		want := strings.ToLower(p[1])
		if p[0] == "maxmemory" {
			n, _ := parseMemory(p[1])
			want = strconv.FormatInt(n, 10)
		}
		if configParams[p[0]].get(s) != want {
			kv = append(kv, []byte(p[0]), []byte(want))
		}
	}
	if len(kv) == 0 {
		return nil
	}
	if reply := configSet(s, kv); reply[0] == '-' {
		return errors.New(strings.TrimSpace(string(reply[1:])))
	}
	return nil
}
