package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin is the HTTP admin listener: liveness, readiness, Prometheus
// metrics and, when asked for, pprof.
type Admin struct {
	srv *http.Server
	ln  net.Listener
}

// AdminConfig configures the admin listener.
type AdminConfig struct {
	// Addr is host:port; a bare port (":8080", "8080") listens on
	// loopback only: exposing it takes an explicit host.
	Addr string
	// Pprof serves /debug/pprof (never /debug/pprof/cmdline, which would
	// show the command line and its passwords).
	Pprof bool
	// Token, if set, is the bearer token pprof asks for. Health and
	// metrics answer anyone: they are what probes and scrapers read.
	Token string
	// Certificate, if set, serves HTTPS only (TLS 1.2+), with the
	// certificate it returns for each connection (reloaded files apply
	// to the next one).
	Certificate func() (*tls.Certificate, error)
}

// AdminAddr is the address an admin listener on addr binds.
func AdminAddr(addr string) string {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// ServeAdmin starts the admin listener.
func (s *Server) ServeAdmin(cfg AdminConfig) (*Admin, error) {
	ln, err := net.Listen("tcp", AdminAddr(cfg.Addr))
	if err != nil {
		return nil, err
	}
	if cfg.Certificate != nil {
		ln = tls.NewListener(ln, &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cfg.Certificate() },
		})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &metrics{s: s})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if cfg.Pprof {
		guard := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				if cfg.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+cfg.Token)) != 1 {
					w.Header().Set("WWW-Authenticate", "Bearer")
					http.Error(w, "a bearer token is needed", http.StatusUnauthorized)
					return
				}
				h(w, r)
			}
		}
		mux.HandleFunc("/debug/pprof/", guard(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/debug/pprof/cmdline") {
				http.NotFound(w, r) // the command line carries passwords
				return
			}
			pprof.Index(w, r)
		}))
		mux.HandleFunc("/debug/pprof/profile", guard(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", guard(pprof.Symbol))
		mux.HandleFunc("/debug/pprof/trace", guard(pprof.Trace))
	}
	a := &Admin{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go a.srv.Serve(ln)
	return a, nil
}

// Addr is where the admin listener listens.
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Close stops the admin listener.
func (a *Admin) Close() error { return a.srv.Close() }

// readyz answers 200 once this node can serve a linearizable read: it
// knows a leader and has applied what the leader had committed.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.cl.ReadBarrier(ctx)
	st := s.cl.Status()
	body := map[string]any{"ready": err == nil, "node": st.NodeID, "state": st.State, "leader": st.LeaderID, "applied": st.Applied}
	if err != nil {
		body["error"] = err.Error()
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

// metrics exports the server's and the node's figures at scrape time.
type metrics struct{ s *Server }

var (
	descClients   = prometheus.NewDesc("statehouse_connected_clients", "Client connections open now.", nil, nil)
	descConns     = prometheus.NewDesc("statehouse_connections_received_total", "Client connections accepted.", nil, nil)
	descCommands  = prometheus.NewDesc("statehouse_commands_processed_total", "Commands processed.", nil, nil)
	descRejected  = prometheus.NewDesc("statehouse_rejected_connections_total", "Connections refused at maxclients.", nil, nil)
	descProto     = prometheus.NewDesc("statehouse_protocol_errors_total", "Connections closed for a protocol error or limit.", nil, nil)
	descKeys      = prometheus.NewDesc("statehouse_keys", "Keys stored, by database.", []string{"db"}, nil)
	descExpires   = prometheus.NewDesc("statehouse_keys_with_ttl", "Keys with a TTL, by database.", []string{"db"}, nil)
	descLeader    = prometheus.NewDesc("statehouse_raft_leader", "1 if this node is the Raft leader.", nil, nil)
	descApplied   = prometheus.NewDesc("statehouse_raft_applied_index", "Last log index applied to the keyspace.", nil, nil)
	descCommitted = prometheus.NewDesc("statehouse_raft_commit_index", "Last log index known committed.", nil, nil)
	descSkew      = prometheus.NewDesc("statehouse_clock_skew_seconds", "This node's clock minus the time a quorum of members agree on.", nil, nil)
	descClockOff  = prometheus.NewDesc("statehouse_clock_off", "1 while this node's clock is past --max-clock-skew from its members' and it uses theirs.", nil, nil)
	descDiskFree  = prometheus.NewDesc("statehouse_disk_free_bytes", "Bytes free on the data dir's file system.", nil, nil)
	descDiskSize  = prometheus.NewDesc("statehouse_disk_size_bytes", "Size of the data dir's file system.", nil, nil)
	descDataDir   = prometheus.NewDesc("statehouse_data_dir_bytes", "Bytes the data dir holds (Raft log segments, snapshots, metadata).", nil, nil)
	descTolerance = prometheus.NewDesc("statehouse_raft_failure_tolerance", "Voters that may fail with a quorum left (on the leader).", nil, nil)
	descHealthy   = prometheus.NewDesc("statehouse_raft_server_healthy", "1 if the leader's autopilot finds the server healthy (on the leader).", []string{"server"}, nil)
	descContact   = prometheus.NewDesc("statehouse_raft_server_last_contact_seconds", "Since the server last heard from the leader (on the leader).", []string{"server"}, nil)
	descDiskFull  = prometheus.NewDesc("statehouse_disk_full", "1 while writes are refused (MISCONF) because the data dir is short of space.", nil, nil)
)

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descClients, descConns, descCommands, descRejected, descProto, descKeys, descExpires, descLeader, descApplied, descCommitted, descSkew, descClockOff, descDiskFree, descDiskSize, descDataDir, descDiskFull, descTolerance, descHealthy, descContact} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.s
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.CounterValue, float64(s.totalConns.Load()))
	ch <- prometheus.MustNewConstMetric(descCommands, prometheus.CounterValue, float64(s.totalCmds.Load()))
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.rejected.Load()))
	ch <- prometheus.MustNewConstMetric(descProto, prometheus.CounterValue, float64(s.protoErrors.Load()))
	for _, d := range s.fsm.Stats() {
		db := strconv.Itoa(d.DB)
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(d.Keys), db)
		ch <- prometheus.MustNewConstMetric(descExpires, prometheus.GaugeValue, float64(d.Expires), db)
	}
	st := s.cl.Status()
	leader := 0.0
	if st.State == "Leader" {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(descLeader, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.GaugeValue, float64(st.Applied))
	ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(st.CommitIndex))
	ch <- prometheus.MustNewConstMetric(descSkew, prometheus.GaugeValue, st.ClockSkew.Seconds())
	off := 0.0
	if st.ClockOff {
		off = 1
	}
	ch <- prometheus.MustNewConstMetric(descClockOff, prometheus.GaugeValue, off)
	ch <- prometheus.MustNewConstMetric(descDiskFree, prometheus.GaugeValue, float64(st.Disk.Free))
	ch <- prometheus.MustNewConstMetric(descDiskSize, prometheus.GaugeValue, float64(st.Disk.Total))
	ch <- prometheus.MustNewConstMetric(descDataDir, prometheus.GaugeValue, float64(st.Disk.Used))
	full := 0.0
	if st.Disk.Full {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(descDiskFull, prometheus.GaugeValue, full)
	if servers, tolerance, ok := s.cl.Health(); ok {
		ch <- prometheus.MustNewConstMetric(descTolerance, prometheus.GaugeValue, float64(tolerance))
		for _, h := range servers {
			ch <- prometheus.MustNewConstMetric(descHealthy, prometheus.GaugeValue, float64(b2i(h.Healthy)), h.ID)
			ch <- prometheus.MustNewConstMetric(descContact, prometheus.GaugeValue, h.LastContact.Seconds(), h.ID)
		}
	}
}
