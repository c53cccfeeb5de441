// Command statehouse runs one statehouse node: a Raft-replicated,
// Redis-protocol session store. With no flags it is a single node on
// port 6379 keeping its data in ./statehouse-data.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	sockaddr "github.com/hashicorp/go-sockaddr"
	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/server"
)

var version = "0.1.0"

type options struct {
	nodeID        string
	bind          string
	advertise     string
	port          int
	peerPort      int
	dataDir       string
	requirePass   string
	aclFile       string
	protectedMode string
	maxClients    int
	timeout       int
	maxBulk       string
	maxRequest    string
	minFreeDisk   string
	maxArgs       int64
	mem           server.MemFlags
	noFsync       bool
	logLevel      string
	logFormat     string

	initialCluster   string
	clusterSecret    string
	insecurePeers    bool
	announceAddr     string
	gossipPort       int
	join             string
	bootstrapExpect  int
	gossipKey        string
	deadServerGrace  time.Duration
	leaveOnTerminate bool
	followerWrites   string
	maxStaleness     time.Duration
	maxClockSkew     time.Duration
	leaseReads       bool
	commitDelay      time.Duration
	heartbeatTimeout time.Duration
	electionTimeout  time.Duration

	httpAddr  string
	httpPprof bool
	httpToken string
	httpTLS   bool

	tls tlsOptions

	debugClockOffset     time.Duration
	debugUnsafeReads     bool
	debugAckBeforeCommit bool
	debugLeaseLength     time.Duration

	level  slog.Level        // logLevel, parsed
	origin map[string]string // where a setting not from its flag came from (where)
}

// where names a setting as an error about its value should: its flag, its
// environment twin, or the config file's line that set it.
func (o *options) where(name string) string {
	if w, ok := o.origin[name]; ok {
		return w
	}
	return "--" + name
}

// newFlagSet defines every setting on o, at its default. The same names
// are the environment twins' and the config file's.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("statehouse", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags prints help and errors itself
	fs.StringVar(&o.nodeID, "node-id", "", "stable name of this node (default: the one its data dir keeps; a new data dir takes the hostname, or a random id)")
	fs.StringVar(&o.bind, "bind", "0.0.0.0", "address to listen on")
	fs.StringVar(&o.advertise, "advertise", "", "address peers and clients are told (default: the bind address)")
	fs.IntVar(&o.port, "port", 6379, "client RESP port (0: none, with --tls-port)")
	fs.IntVar(&o.peerPort, "peer-port", 0, "peer port for Raft (default: port+10000, or tls-port+10000 with --port 0)")
	fs.StringVar(&o.dataDir, "data-dir", "statehouse-data", "directory for the Raft log, stable store and snapshots")
	fs.StringVar(&o.requirePass, "requirepass", "", "password clients must AUTH with")
	fs.StringVar(&o.aclFile, "aclfile", "", "Redis ACL file: ACL LOAD/SAVE use it, and a cluster without users takes its first users from it")
	fs.StringVar(&o.protectedMode, "protected-mode", "yes", "yes: with no --requirepass, only loopback clients are served (others get -DENIED), as Redis")
	fs.IntVar(&o.maxClients, "maxclients", 10000, "most client connections at once")
	fs.IntVar(&o.timeout, "timeout", 0, "close a client idle this many seconds (0: never), as Redis's timeout")
	fs.StringVar(&o.maxBulk, "proto-max-bulk-len", "16mb", "largest bulk string a client may send (a write must fit a 32 MiB log entry in all)")
	fs.StringVar(&o.maxRequest, "client-query-buffer-limit", "1gb", "largest single command a client may send")
	fs.Int64Var(&o.maxArgs, "max-args", server.DefaultLimits.MaxArgs, "most arguments in one command")
	fs.StringVar(&o.mem.MaxMemory, "maxmemory", "", "memory limit of the data set (used_memory), e.g. 1gb: the whole cluster's, set through the log at start when it differs (CONFIG SET changes it too); 0: none; empty: keep the cluster's")
	fs.StringVar(&o.mem.Policy, "maxmemory-policy", "", "over maxmemory: noeviction (writes get -OOM), allkeys-lru, volatile-lru, allkeys-lfu, volatile-lfu, allkeys-random, volatile-random or volatile-ttl; empty: keep the cluster's (noeviction at first)")
	fs.StringVar(&o.mem.Samples, "maxmemory-samples", "", "keys the leader samples per database per eviction pick (Redis's 5 at first); empty: keep the cluster's")
	fs.StringVar(&o.minFreeDisk, "min-free-disk", "256mb", "a leader refuses writes (-MISCONF) while its data dir's file system has less free; 0: no check")
	fs.BoolVar(&o.noFsync, "no-fsync", false, "do not fsync the Raft log (benchmarks only: a crash of the machine can lose acknowledged writes)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "text (key=value) or json, one record a line")
	fs.StringVar(&o.initialCluster, "initial-cluster", "", "first members of a new cluster: id=host:peerport,... (the same on every first member)")
	fs.StringVar(&o.clusterSecret, "cluster-secret", "", "secret peers prove on the peer port and gossip is encrypted with; a cluster needs one (never the client password)")
	fs.BoolVar(&o.insecurePeers, "insecure-peers", false, "let a cluster run without --cluster-secret: anyone who reaches the peer port can act as a node")
	fs.StringVar(&o.announceAddr, "announce-addr", "", "host:port clients are told to reach this node at (ROLE, CLUSTER, redirects), e.g. a published port; default: the advertised address and --port")
	fs.IntVar(&o.gossipPort, "gossip-port", 0, "gossip (memberlist) port; default 7946 when --join or --bootstrap-expect is given, else gossip is off")
	fs.StringVar(&o.join, "join", "", "gossip addresses of nodes to join: host[:port],... (DNS names are resolved again on every try)")
	fs.IntVar(&o.bootstrapExpect, "bootstrap-expect", 0, "form a new cluster once this many nodes with no cluster see each other (the same on each)")
	fs.StringVar(&o.gossipKey, "gossip-key", "", "base64 keys (16, 24 or 32 bytes) encrypting gossip, comma-separated: the first encrypts, all decrypt (rotation); default: derived from the cluster secret")
	fs.DurationVar(&o.deadServerGrace, "dead-server-grace", 10*time.Minute, "a server failed or gone this long is removed from the cluster (never below the size it formed with)")
	fs.BoolVar(&o.leaveOnTerminate, "leave-on-terminate", false, "on SIGTERM also remove this node from the cluster (a node going for good)")
	fs.StringVar(&o.followerWrites, "follower-writes", "forward", "what a follower does with a write: forward (to the leader) or refuse (-MOVED to the leader)")
	fs.DurationVar(&o.maxStaleness, "max-staleness", 5*time.Second, "READONLY connections get no reads from a node that has not heard from a leader for this long")
	fs.BoolVar(&o.leaseReads, "lease-reads", true, "the leader answers linearizable reads from its lease (a quorum accepted it within the last 0.9 heartbeat timeout) instead of a heartbeat round each; every member must run with it and the same timing (false: a heartbeat round per read index)")
	fs.DurationVar(&o.commitDelay, "commit-delay", cluster.DefaultCommitDelay, "group commit: the longest the leader holds a log entry open for the writers the last entry answered, at most that entry's commit time (0: never; it trades up to a round of latency for fewer fsyncs per write)")
	fs.DurationVar(&o.maxClockSkew, "max-clock-skew", 5*time.Second, "a node whose clock is further than this from the time a quorum of members agree on uses theirs (entries, expiry, reads)")
	fs.DurationVar(&o.heartbeatTimeout, "heartbeat-timeout", time.Second, "Raft heartbeat timeout: how soon a follower suspects the leader")
	fs.DurationVar(&o.electionTimeout, "election-timeout", time.Second, "Raft election timeout")
	fs.StringVar(&o.httpAddr, "http-addr", "", "address of the HTTP admin listener: /healthz, /readyz, /metrics (off when empty; a bare port listens on loopback only)")
	fs.BoolVar(&o.httpPprof, "http-pprof", false, "also serve /debug/pprof on the admin listener")
	fs.StringVar(&o.httpToken, "http-token", "", "bearer token /debug/pprof asks for (health and metrics answer anyone)")
	fs.BoolVar(&o.httpTLS, "http-tls", false, "serve the admin listener over HTTPS only, with --tls-cert-file/--tls-key-file (reloaded on SIGHUP)")
	fs.DurationVar(&o.debugClockOffset, "debug-clock-offset", 0, "DEBUG, fault injection only: add this offset to the node's clock")
	fs.BoolVar(&o.debugUnsafeReads, "debug-unsafe-reads", false, "DEBUG, fault injection only: serve reads locally without the read index (stale reads)")
	fs.DurationVar(&o.debugLeaseLength, "debug-lease-length", 0, "DEBUG, fault injection only: with --lease-reads, hold the lease this long after a quorum's acceptance instead of 0.9 heartbeat timeout (longer serves stale reads)")
	fs.BoolVar(&o.debugAckBeforeCommit, "debug-ack-before-commit", false, "DEBUG, fault injection only: acknowledge writes before they commit (loses writes)")
	tlsFlags(fs, &o.tls)
	return fs
}

// parseFlags reads the settings: the command line's flags, then their
// environment twins, then the config file (the one argument, before or
// after the flags), then the defaults; the first that sets a value wins.
func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{origin: map[string]string{}}
	fs := newFlagSet(o)
	showVersion, helpDebug := commandFlags(fs)
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout, false)
			return nil, errDone
		}
		return nil, err
	}
	switch {
	case fs.NArg() == 1 && file == "":
		file = fs.Arg(0)
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q: statehouse takes one config file at most", fs.Arg(0))
	}
	if *showVersion {
		fmt.Fprintln(stdout, "statehouse", version)
		return nil, errDone
	}
	if *helpDebug {
		usage(stdout, true)
		return nil, errDone
	}
	// Environment twins and then the config file fill in what the command
	// line did not set.
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "STATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && !set[f.Name] && !commandOnly(f.Name) {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
			set[f.Name], o.origin[f.Name] = true, env
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if file != "" {
		if err := applyConfig(fs, file, set, o.origin); err != nil {
			return nil, err
		}
	}
	if err := o.checkTLS(); err != nil {
		return nil, err
	}
	if o.peerPort == 0 {
		o.peerPort = o.clientPort() + 10000
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("%s must be 0 or more seconds, not %d", o.where("timeout"), o.timeout)
	}
	if o.maxClockSkew <= 0 {
		return nil, fmt.Errorf("%s must be positive, not %v", o.where("max-clock-skew"), o.maxClockSkew)
	}
	if o.protectedMode != "yes" && o.protectedMode != "no" {
		return nil, fmt.Errorf("%s must be yes or no, not %q", o.where("protected-mode"), o.protectedMode)
	}
	if o.followerWrites != "forward" && o.followerWrites != "refuse" {
		return nil, fmt.Errorf("%s must be forward or refuse, not %q", o.where("follower-writes"), o.followerWrites)
	}
	if err := o.level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("%s: %w", o.where("log-level"), err)
	}
	for name, v := range map[string]string{"maxmemory": o.mem.MaxMemory, "maxmemory-policy": o.mem.Policy, "maxmemory-samples": o.mem.Samples} {
		if err := server.CheckMemFlag(name, v); err != nil {
			return nil, fmt.Errorf("%s %q: %w", o.where(name), v, err)
		}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, fmt.Errorf("%s must be text or json, not %q", o.where("log-format"), o.logFormat)
	}
	clustered := strings.Contains(o.initialCluster, ",") || o.join != "" || o.bootstrapExpect > 1
	if err := o.checkTLSCluster(); err != nil {
		return nil, err
	}
	switch {
	case o.clusterSecret != "" || o.insecurePeers || !clustered:
	case o.tls.cluster == "yes" && (o.join != "" || o.bootstrapExpect > 0) && o.gossipKey == "":
		return nil, errors.New("gossip is not covered by --tls-cluster: give --gossip-key (or --cluster-secret, which gossip is encrypted with); --insecure-peers runs without")
	case o.tls.cluster != "yes":
		return nil, errors.New("a cluster needs --cluster-secret: peers prove it to each other on the peer port and gossip is encrypted with it " +
			"(use its own value, not the client password), or --tls-cluster yes with certificates; --insecure-peers runs without either")
	}
	if o.announceAddr != "" {
		if _, _, err := net.SplitHostPort(o.announceAddr); err != nil {
			return nil, fmt.Errorf("--announce-addr %q: %w", o.announceAddr, err)
		}
	}
	if o.bootstrapExpect < 0 {
		return nil, fmt.Errorf("--bootstrap-expect must be 0 or more, not %d", o.bootstrapExpect)
	}
	if o.gossipPort == 0 && (o.join != "" || o.bootstrapExpect > 0) {
		o.gossipPort = defaultGossipPort
	}
	return o, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "import" {
		os.Exit(runImport(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && isOperatorCommand(os.Args[1]) {
		os.Exit(runOperator(os.Args[1:], os.Stdout, os.Stderr))
	}
	o, err := parseFlags(os.Args[1:], os.Stdout)
	if errors.Is(err, errDone) {
		os.Exit(0)
	}
	if err != nil {
		// No logger yet: the settings that shape it may be what is wrong.
		fmt.Fprintf(os.Stderr, "statehouse: %v\n(statehouse --help lists the flags)\n", err)
		os.Exit(2)
	}
	log := newLogger(os.Stderr, o)
	// Whatever logs through the standard library's log package (net/http's
	// server errors) goes through it too.
	slog.SetDefault(log)
	if err := run(o, log); err != nil {
		log.Error("statehouse stopped", "err", err)
		os.Exit(1)
	}
}

func run(o *options, log *slog.Logger) error {
	lim := server.DefaultLimits
	var ok bool
	if lim.MaxBulkLen, ok = parseSize(o.maxBulk); !ok {
		return fmt.Errorf("%s %q is not a size", o.where("proto-max-bulk-len"), o.maxBulk)
	}
	if lim.MaxRequest, ok = parseSize(o.maxRequest); !ok {
		return fmt.Errorf("%s %q is not a size", o.where("client-query-buffer-limit"), o.maxRequest)
	}
	lim.MaxArgs = o.maxArgs
	minFree, err := minFreeDisk(o)
	if err != nil {
		return err
	}
	if err := checkTLSFiles(o); err != nil {
		return err
	}

	initial, err := parseInitialCluster(o.initialCluster)
	if err != nil {
		return err
	}
	// The data dir keeps the node's id: resolved before Open, since the
	// advertise address below depends on it.
	if o.nodeID, err = cluster.NodeID(o.dataDir, o.nodeID); err != nil {
		return err
	}
	gossipKey, err := parseGossipKey(o.gossipKey)
	if err != nil {
		return err
	}
	peerTLS, peerCerts, err := newPeerTLS(o, log)
	if err != nil {
		return err
	}
	advertise := o.advertise
	if advertise == "" {
		advertise = o.bind
		if addr, ok := initial[o.nodeID]; ok && (o.bind == "0.0.0.0" || o.bind == "::") {
			// Listening everywhere: peers know this node by its own entry.
			advertise, _, _ = net.SplitHostPort(addr)
		} else if o.gossipPort != 0 && (o.bind == "0.0.0.0" || o.bind == "::") {
			// Found through gossip: peers reach this node at its private
			// address, as Consul's agents advertise (a container's IP).
			if ip, err := sockaddr.GetPrivateIP(); err == nil && ip != "" {
				advertise = ip
			}
		}
	}
	if o.clusterSecret == "" && o.insecurePeers && o.tls.cluster != "yes" {
		log.Warn("INSECURE: no --cluster-secret: anyone who can reach the peer port can join this cluster, write to it and read it")
	}
	if o.debugClockOffset != 0 || o.debugUnsafeReads || o.debugAckBeforeCommit || o.debugLeaseLength != 0 {
		log.Warn("DEBUG fault injection is on: this node is not safe for real data",
			"clock_offset", o.debugClockOffset, "unsafe_reads", o.debugUnsafeReads, "ack_before_commit", o.debugAckBeforeCommit, "lease_length", o.debugLeaseLength)
	}
	f := fsm.New()
	node, err := cluster.Open(cluster.Config{
		NodeID:               o.nodeID,
		DataDir:              o.dataDir,
		PeerAddr:             net.JoinHostPort(o.bind, strconv.Itoa(o.peerPort)),
		Advertise:            net.JoinHostPort(advertise, strconv.Itoa(o.peerPort)),
		ClientAddr:           clientAddr(o.announceAddr, advertise, o.clientPort()),
		InitialCluster:       initial,
		Secret:               o.clusterSecret,
		PeerTLS:              peerTLS,
		GossipAddr:           hostPortOrEmpty(o.bind, o.gossipPort),
		GossipAdvertise:      gossipAdvertise(advertise, o.gossipPort),
		Join:                 parseJoin(o.join),
		BootstrapExpect:      o.bootstrapExpect,
		GossipKeys:           gossipKey,
		DeadServerGrace:      o.deadServerGrace,
		RefuseFollowerWrites: o.followerWrites == "refuse",
		HeartbeatTimeout:     o.heartbeatTimeout,
		ElectionTimeout:      o.electionTimeout,
		MaxClockSkew:         o.maxClockSkew,
		LeaseReads:           o.leaseReads,
		CommitDelay:          commitDelay(o.commitDelay),
		NoSync:               o.noFsync,
		MinFreeDisk:          minFree,
		Logger:               log,
		Clock:                clock(o.debugClockOffset),
		DebugUnsafeReads:     o.debugUnsafeReads,
		DebugAckBeforeCommit: o.debugAckBeforeCommit,
		DebugLeaseLength:     o.debugLeaseLength,
	}, f)
	if err != nil {
		return err
	}
	srv := server.New(server.Config{
		Addr:          o.plainAddr(),
		TLS:           o.tlsConfig(),
		RequirePass:   o.requirePass,
		ACLFile:       o.aclFile,
		MaxClients:    o.maxClients,
		Limits:        lim,
		Version:       version,
		Logger:        log,
		MaxStaleness:  o.maxStaleness,
		IdleTimeout:   time.Duration(o.timeout) * time.Second,
		ProtectedMode: o.protectedMode == "yes",
	}, f, node)
	if err := srv.Listen(); err != nil {
		node.Shutdown()
		return fmt.Errorf("client port: %w", err)
	}
	watchHangup(srv, peerCerts, log)
	if o.httpAddr != "" {
		ac := server.AdminConfig{Addr: o.httpAddr, Pprof: o.httpPprof, Token: o.httpToken}
		if o.httpTLS {
			ac.Certificate = peerCerts.certificate
		}
		admin, err := srv.ServeAdmin(ac)
		if err != nil {
			srv.Close()
			node.Shutdown()
			return fmt.Errorf("http admin: %w", err)
		}
		defer admin.Close()
		log.Info("admin listening", "addr", admin.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	log.Info("statehouse listening", "node", o.nodeID, "addr", srv.Addr().String(), "peer", node.PeerAddr(), "data_dir", o.dataDir, "version", version)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := srv.ApplyMemFlags(ctx, o.mem); err != nil {
			log.Warn("the cluster did not take the memory settings given at start", "err", err)
		}
	}()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if node.WaitReady(ctx) == nil {
			log.Info("ready to accept writes", "node", o.nodeID, "keys", keyCount(f))
		}
	}()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-served:
		if err != nil {
			log.Error("client listener failed", "err", err)
		}
	case <-node.Halted():
		// The log holds an entry this node cannot apply: stop serving and
		// exit non-zero, saying why (main logs the error).
		srv.Close()
		node.Shutdown()
		return node.HaltErr()
	}
	// A graceful stop: a leader hands leadership on while this node still
	// forwards writes, so none fails; then clients are closed.
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	if err := node.Leave(ctx, o.leaveOnTerminate); err != nil {
		log.Warn("leaving the cluster", "err", err)
	}
	cancel()
	srv.Close()
	return node.Shutdown()
}

// clientAddr is where clients are told to reach this node.
func clientAddr(announce, advertise string, port int) string {
	if announce != "" {
		return announce
	}
	return net.JoinHostPort(advertise, strconv.Itoa(port))
}

// defaultGossipPort is memberlist's (and Consul's) port.
const defaultGossipPort = 7946

// leaveTimeout bounds a graceful stop's hand-off and leave.
const leaveTimeout = 15 * time.Second

// gossipAdvertise is where other nodes reach this one's gossip: the
// advertised host if it is an address. memberlist takes only addresses:
// for a wildcard or a DNS name (a pod's stable name, which Raft keeps as
// the peer address) the node advertises its private address instead.
func gossipAdvertise(host string, port int) string {
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		return ""
	}
	return hostPortOrEmpty(host, port)
}

func hostPortOrEmpty(host string, port int) string {
	if port == 0 {
		return ""
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// parseJoin splits --join; an address without a port gets the default
// gossip port.
func parseJoin(v string) []string {
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, strconv.Itoa(defaultGossipPort))
		}
		out = append(out, a)
	}
	return out
}

func parseGossipKey(v string) ([][]byte, error) {
	var keys [][]byte
	for i, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("--gossip-key %d is not base64: %w", i+1, err)
		}
		if n := len(k); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("--gossip-key %d must be 16, 24 or 32 bytes, not %d", i+1, n)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// newLogger is the node's logger: every record, statehouse's and the
// libraries' it carries (hashicorp/raft's), one line on w.
func newLogger(w io.Writer, o *options) *slog.Logger {
	opts := &slog.HandlerOptions{Level: o.level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func keyCount(f *fsm.FSM) int {
	n := 0
	for _, d := range f.Stats() {
		n += d.Keys
	}
	return n
}

// clock is the node's clock in unix ms, offset for fault injection.
func clock(offset time.Duration) func() int64 {
	if offset == 0 {
		return nil // the cluster's default: time.Now
	}
	return func() int64 { return time.Now().Add(offset).UnixMilli() }
}

// parseInitialCluster reads "n1=host:port,n2=host:port".
func parseInitialCluster(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" {
			return nil, fmt.Errorf("--initial-cluster: %q is not id=host:port", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("--initial-cluster: %s: %w", id, err)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("--initial-cluster: %s listed twice", id)
		}
		out[id] = addr
	}
	return out, nil
}

// commitDelay is --commit-delay as the cluster takes it: 0 (or less)
// turns the wait off, which is the cluster's -1 (its 0 is "the default").
func commitDelay(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// minFreeDisk is --min-free-disk as the cluster takes it: "0" turns the
// check off, which is the cluster's -1 (its 0 is "the default").
func minFreeDisk(o *options) (int64, error) {
	if strings.TrimSpace(o.minFreeDisk) == "0" {
		return -1, nil
	}
	n, ok := parseSize(o.minFreeDisk)
	if !ok {
		return 0, fmt.Errorf("%s %q is not a size", o.where("min-free-disk"), o.minFreeDisk)
	}
	return n, nil
}

// parseSize reads "512mb", "1gb", "65536" as Redis's config does.
func parseSize(v string) (int64, bool) {
	v = strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n * mult, true
}
