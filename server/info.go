package server

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/statehouse/statehouse/internal/resp"
)

// infoSections in the order INFO prints them.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cluster", "keyspace"}

func infoCmd(p *pipeline, args [][]byte) {
	want := map[string]bool{}
	all := len(args) == 1
	for _, a := range args[1:] {
		sec := strings.ToLower(string(a))
		if sec == "all" || sec == "everything" || sec == "default" {
			all = true
		}
		want[sec] = true
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		p.s.writeInfo(&b, sec)
	}
	p.reply(resp.AppendBulkString(nil, b.String()))
}

func (s *Server) writeInfo(b *strings.Builder, sec string) {
	line := func(k string, v any) { fmt.Fprintf(b, "%s:%v\r\n", k, v) }
	switch sec {
	case "server":
		b.WriteString("# Server\r\n")
		line("redis_version", "7.0.0")
		line("statehouse_version", s.cfg.Version)
		line("redis_mode", "standalone")
		line("os", runtime.GOOS)
		line("arch_bits", 64)
		line("go_version", runtime.Version())
		line("process_id", os.Getpid())
		line("run_id", s.runID)
		line("tcp_port", s.tcpPort())
		up := time.Since(s.started)
		line("uptime_in_seconds", int64(up.Seconds()))
		line("uptime_in_days", int64(up.Hours()/24))
	case "clients":
		b.WriteString("# Clients\r\n")
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		line("connected_clients", n)
		line("maxclients", s.maxClients.Load())
		line("blocked_clients", 0)
	case "memory":
		// used_memory is the fsm's deterministic estimate of the data
		// (fsm/memory.go), the same on every node at the same index; the
		// process's own figures are beside it.
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		used, peak, r := uint64(s.fsm.UsedMemory()), uint64(s.fsm.PeakMemory()), rss()
		mc := s.fsm.MemConfig()
		b.WriteString("# Memory\r\n")
		line("used_memory", used)
		line("used_memory_human", human(used))
		line("used_memory_rss", r)
		line("used_memory_rss_human", human(r))
		line("used_memory_peak", peak)
		line("used_memory_peak_human", human(peak))
		peakPerc := 100.0
		if peak > 0 {
			peakPerc = 100 * float64(used) / float64(peak)
		}
		line("used_memory_peak_perc", fmt.Sprintf("%.2f%%", peakPerc))
		line("used_memory_dataset", used)
		line("heap_alloc", m.HeapAlloc)
		line("heap_alloc_human", human(m.HeapAlloc))
		line("heap_sys", m.HeapSys)
		line("go_memory_limit", s.goMemLimit.Load())
		line("maxmemory", mc.MaxMemory)
		line("maxmemory_human", human(uint64(mc.MaxMemory)))
		line("maxmemory_policy", mc.Policy.String())
		line("maxmemory_samples", mc.Samples)
		frag := 0.0
		if used > 0 {
			frag = float64(r) / float64(used)
		}
		line("mem_fragmentation_ratio", fmt.Sprintf("%.2f", frag))
		line("mem_fragmentation_bytes", int64(r)-int64(used))
		line("mem_allocator", "go")
	case "persistence":
		st := s.cl.Status()
		b.WriteString("# Persistence\r\n")
		line("loading", 0)
		line("aof_enabled", 1) // every write is in the Raft log before it is acknowledged
		line("raft_last_index", st.LastIndex)
		line("raft_commit_index", st.CommitIndex)
		line("raft_applied_index", st.Applied)
		// As leader: log entries proposed and the requests they carried
		// (a pipeline's consecutive writes are one); their ratio is group
		// commit's batch size.
		line("raft_entries_proposed", st.EntriesProposed)
		line("raft_writes_proposed", st.WritesProposed)
		line("disk_free_bytes", st.Disk.Free)
		line("disk_total_bytes", st.Disk.Total)
		line("data_dir_bytes", st.Disk.Used)
		line("min_free_disk", st.Disk.MinFree)
		full := 0
		if st.Disk.Full {
			full = 1
		}
		line("disk_full", full) // 1: writes are refused (MISCONF) until space is freed
	case "stats":
		b.WriteString("# Stats\r\n")
		line("total_connections_received", s.totalConns.Load())
		line("total_commands_processed", s.totalCmds.Load())
		line("rejected_connections", s.rejected.Load())
		line("total_error_replies_protocol", s.protoErrors.Load())
		line("evicted_keys", s.fsm.EvictedKeys())
	case "replication":
		s.writeReplicationInfo(b)
	case "cluster":
		// Tools and clients that check it before speaking Redis Cluster
		// (redis-cli --cluster; redis-py's cluster client has) find a
		// cluster node: statehouse answers the CLUSTER commands
		// (clusterface.go). redis_mode stays standalone, which it is too
		// (16 databases, multi-key commands across slots), so a client
		// that picks its mode from it keeps treating a node as one server.
		b.WriteString("# Cluster\r\n")
		line("cluster_enabled", 1)
	case "keyspace":
		b.WriteString("# Keyspace\r\n")
		for _, d := range s.fsm.Stats() {
			fmt.Fprintf(b, "db%d:keys=%d,expires=%d,avg_ttl=0\r\n", d.DB, d.Keys, d.Expires)
		}
	}
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
