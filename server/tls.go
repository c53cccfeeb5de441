package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// TLSConfig is the TLS client port, in Redis's settings (tls-port,
// tls-cert-file...). CONFIG GET shows them; CONFIG SET of any but the
// address, and ReloadTLS (SIGHUP), load the files again.
type TLSConfig struct {
	Addr        string // host:port of the TLS listener; empty: no TLS port
	CertFile    string // PEM certificate (chain) the node presents
	KeyFile     string // its PEM private key
	CACertFile  string // PEM CAs that client certificates are verified against
	CACertDir   string // a directory of PEM CA files, as well or instead
	AuthClients string // yes (the default, as Redis's): a client certificate is required; optional; no
	Protocols   string // "TLSv1.2 TLSv1.3" (the default), or one of them
	// Ciphers lists the TLS 1.2 suites, OpenSSL's names or IANA's,
	// separated by colons; empty: Go's defaults.
	Ciphers string
	// Ciphersuites (TLS 1.3) is checked and shown but cannot be applied:
	// Go always offers its three TLS 1.3 suites.
	Ciphersuites string
	// PreferServerCiphers is shown only: Go's server picks the suite
	// itself, by the hardware of both sides.
	PreferServerCiphers bool
	// HandshakeTimeout bounds a client's TLS handshake, counted from its
	// accept; default tlsHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// tlsHandshakeTimeout is TLSConfig.HandshakeTimeout's default. A client
// holds a maxclients slot from its accept: one that never finishes the
// handshake must not hold it for long.
const tlsHandshakeTimeout = 10 * time.Second

// tlsState is the server's TLS port: the settings and the tls.Config
// built from them, replaced whole on a reload; connections pick up the
// current one at their ClientHello.
type tlsState struct {
	mu       sync.Mutex // held to change settings and conf together
	settings atomic.Pointer[TLSConfig]
	conf     atomic.Pointer[tls.Config]
	ln       net.Listener // the TLS port's own listener, nil without one
}

// Protocol versions by the names tls-protocols takes.
var tlsVersions = map[string]uint16{"tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13}

// opensslCiphers maps OpenSSL's names of the TLS 1.2 suites Go serves to
// Go's (IANA's) names: redis.conf files name them OpenSSL's way.
var opensslCiphers = map[string]string{
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
}

// CheckTLS loads what c names (certificate, key, CAs) and checks every
// setting, as the TLS port would at its start: the binary calls it
// before it opens anything else, so a bad setting stops it at once.
func CheckTLS(c TLSConfig) error {
	_, _, err := loadTLS(c, time.Now())
	return err
}

// loadTLS builds the server's tls.Config from c at time now. warn says
// what is loaded but doubtful (a certificate outside its validity).
func loadTLS(c TLSConfig, now time.Time) (conf *tls.Config, warn string, err error) {
	if c.CertFile == "" {
		return nil, "", errors.New("tls-cert-file is not set: the TLS port needs a certificate")
	}
	if c.KeyFile == "" {
		return nil, "", errors.New("tls-key-file is not set: the TLS port needs the certificate's private key")
	}
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return nil, "", fmt.Errorf("tls-cert-file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("tls-key-file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, "", fmt.Errorf("tls-cert-file %s and tls-key-file %s: %w", c.CertFile, c.KeyFile, err)
	}
	if cert.Leaf == nil { // Go fills it in unless GODEBUG x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, "", fmt.Errorf("tls-cert-file %s: %w", c.CertFile, err)
		}
	}
	if leaf := cert.Leaf; now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		warn = fmt.Sprintf("tls-cert-file %s is valid from %s to %s, not now: clients will refuse it",
			c.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	conf = &tls.Config{Certificates: []tls.Certificate{cert}}

	switch strings.ToLower(c.AuthClients) {
	case "yes", "":
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	case "optional":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "no":
		conf.ClientAuth = tls.NoClientCert
	default:
		return nil, "", fmt.Errorf("tls-auth-clients must be yes, no or optional, not %q", c.AuthClients)
	}
	if c.CACertFile != "" || c.CACertDir != "" {
		if conf.ClientCAs, err = loadCAs(c.CACertFile, c.CACertDir); err != nil {
			return nil, "", err
		}
	} else if conf.ClientAuth != tls.NoClientCert {
		// As Redis refuses it: client certificates cannot be verified
		// against nothing.
		return nil, "", errors.New("tls-auth-clients " + authName(c.AuthClients) +
			" verifies client certificates: set tls-ca-cert-file or tls-ca-cert-dir (or tls-auth-clients no)")
	}

	if conf.MinVersion, conf.MaxVersion, err = parseProtocols(c.Protocols); err != nil {
		return nil, "", err
	}
	if conf.CipherSuites, err = parseCiphers(c.Ciphers); err != nil {
		return nil, "", err
	}
	if err := checkCiphersuites(c.Ciphersuites); err != nil {
		return nil, "", err
	}
	return conf, warn, nil
}

func authName(v string) string {
	if v == "" {
		return "yes"
	}
	return strings.ToLower(v)
}

// loadCAs reads the CA certificates of file and of every file in dir.
// Unlike OpenSSL's CApath, dir needs no hashed names: each file in it is
// read, and those holding no PEM certificate are skipped.
func loadCAs(file, dir string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("tls-ca-cert-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls-ca-cert-file %s: no PEM certificate in it", file)
		}
	}
	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("tls-ca-cert-dir: %w", err)
		}
		found := false
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return nil, fmt.Errorf("tls-ca-cert-dir: %w", err)
			}
			found = pool.AppendCertsFromPEM(b) || found
		}
		if !found {
			return nil, fmt.Errorf("tls-ca-cert-dir %s: no PEM certificate in its files", dir)
		}
	}
	return pool, nil
}

// parseProtocols reads tls-protocols ("TLSv1.2 TLSv1.3").
func parseProtocols(v string) (lo, hi uint16, err error) {
	names := strings.Fields(v)
	if len(names) == 0 {
		return tls.VersionTLS12, tls.VersionTLS13, nil
	}
	for _, n := range names {
		ver, ok := tlsVersions[strings.ToLower(n)]
		if !ok {
			return 0, 0, fmt.Errorf("tls-protocols: %q is not served: give TLSv1.2, TLSv1.3 or both", n)
		}
		if lo == 0 || ver < lo {
			lo = ver
		}
		hi = max(hi, ver)
	}
	return lo, hi, nil
}

// parseCiphers reads tls-ciphers: TLS 1.2 suites by OpenSSL's name or
// IANA's, separated by colons (OpenSSL's lists), commas or spaces.
func parseCiphers(v string) ([]uint16, error) {
	names := strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ',' || r == ' ' })
	if len(names) == 0 {
		return nil, nil // Go's defaults
	}
	byName := map[string]*tls.CipherSuite{}
	for _, cs := range tls.CipherSuites() {
		byName[cs.Name] = cs
	}
	insecure := map[string]bool{}
	for _, cs := range tls.InsecureCipherSuites() {
		insecure[cs.Name] = true
	}
	var ids []uint16
	for _, n := range names {
		name := n
		if iana, ok := opensslCiphers[strings.ToUpper(n)]; ok {
			name = iana
		}
		name = strings.ToUpper(name)
		cs, ok := byName[name]
		switch {
		case insecure[name]:
			return nil, fmt.Errorf("tls-ciphers: %s is insecure and not served", n)
		case !ok:
			return nil, fmt.Errorf("tls-ciphers: unknown cipher %q: name TLS 1.2 suites one by one, as ECDHE-RSA-AES128-GCM-SHA256 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (OpenSSL's keywords, such as HIGH, are not taken)", n)
		case !supports(cs, tls.VersionTLS12):
			return nil, fmt.Errorf("tls-ciphers: %s is a TLS 1.3 suite: those are tls-ciphersuites", n)
		}
		ids = append(ids, cs.ID)
	}
	return ids, nil
}

// checkCiphersuites checks that tls-ciphersuites names TLS 1.3 suites. Go
// offers all three whatever the list says; the README says so.
func checkCiphersuites(v string) error {
	for _, n := range strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		ok := false
		for _, cs := range tls.CipherSuites() {
			if strings.EqualFold(cs.Name, n) && supports(cs, tls.VersionTLS13) {
				ok = true
			}
		}
		if !ok {
			return fmt.Errorf("tls-ciphersuites: %q is not a TLS 1.3 suite (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256)", n)
		}
	}
	return nil
}

func supports(cs *tls.CipherSuite, ver uint16) bool {
	for _, v := range cs.SupportedVersions {
		if v == ver {
			return true
		}
	}
	return false
}

// listenTLS binds the TLS port, if there is one, with the settings in
// s.cfg.TLS, which must load.
func (s *Server) listenTLS() (net.Listener, error) {
	c := s.cfg.TLS
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = tlsHandshakeTimeout
	}
	s.tls.settings.Store(&c)
	if c.Addr == "" {
		return nil, nil
	}
	conf, warn, err := loadTLS(c, time.Now())
	if err != nil {
		return nil, err
	}
	if warn != "" {
		s.log.Warn("TLS certificate not valid now", "why", warn)
	}
	s.tls.conf.Store(conf)
	raw, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, err
	}
	s.tls.ln = raw
	// Each connection takes the configuration current at its ClientHello,
	// so a reload reaches new connections; established ones keep theirs.
	base := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return s.tls.conf.Load(), nil
	}}
	return &tlsListener{Listener: raw, conf: base, timeout: c.HandshakeTimeout, log: s.log}, nil
}

// TLSAddr is the address the TLS port is bound to, nil without one.
func (s *Server) TLSAddr() net.Addr {
	if s.tls.ln == nil {
		return nil
	}
	return s.tls.ln.Addr()
}

// ReloadTLS loads the certificate, key and CAs again from the files the
// settings name (SIGHUP). New connections get them; established ones
// keep theirs. If they do not load, or the new certificate is not valid
// now, the old ones keep serving and the error says why.
func (s *Server) ReloadTLS() error {
	s.tls.mu.Lock()
	defer s.tls.mu.Unlock()
	c := *s.tls.settings.Load()
	if s.tls.ln == nil {
		return nil // no TLS port to load them for
	}
	conf, err := loadNewTLS(c)
	if err != nil {
		s.log.Warn("TLS reload refused: the certificate in force keeps serving", "err", err)
		return err
	}
	s.putTLSLocked(c, conf, "reload")
	return nil
}

// loadNewTLS loads c to replace the configuration in force. Unlike at
// start, where a certificate outside its validity is served with a
// warning (there is nothing else), here it is refused: the one in force
// is kept.
func loadNewTLS(c TLSConfig) (*tls.Config, error) {
	conf, warn, err := loadTLS(c, time.Now())
	if err == nil && warn != "" {
		err = errors.New(warn)
	}
	return conf, err
}

// putTLS is putTLSLocked under s.tls.mu.
func (s *Server) putTLS(c TLSConfig, conf *tls.Config, why string) {
	s.tls.mu.Lock()
	defer s.tls.mu.Unlock()
	s.putTLSLocked(c, conf, why)
}

// putTLSLocked puts settings c and their configuration conf (nil without a TLS
// port) in force. The caller holds s.tls.mu.
func (s *Server) putTLSLocked(c TLSConfig, conf *tls.Config, why string) {
	s.tls.settings.Store(&c)
	if conf == nil {
		return
	}
	s.tls.conf.Store(conf)
	leaf := conf.Certificates[0].Leaf
	s.log.Info("TLS "+why+": new connections get the certificate", "cert", c.CertFile,
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
}

// tlsListener hands on each accepted connection as a server-side TLS
// connection whose handshake has not begun: it runs on the connection's
// first read, in the connection's own goroutine, so a slow client never
// holds up the accept loop.
type tlsListener struct {
	net.Listener
	conf    *tls.Config
	timeout time.Duration
	log     *slog.Logger
}

func (l *tlsListener) Accept() (net.Conn, error) {
	raw, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The handshake must be over by then; the first read clears it.
	raw.SetDeadline(time.Now().Add(l.timeout))
	spy := &alertSpy{Conn: raw}
	return &tlsConn{Conn: tls.Server(spy, l.conf), spy: spy, timeout: l.timeout, log: l.log}, nil
}

// alertSpy notes an unencrypted alert from the client. OpenSSL's clients
// (redis-cli) that refuse the node's certificate in TLS 1.3 send their
// alert unencrypted, which Go's server can only report as "bad record
// MAC"; the alert itself says why (unknown CA, expired).
type alertSpy struct {
	net.Conn
	alert int // the alert's description + 1; 0: none seen
}

func (s *alertSpy) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	// A whole alert record: type 21, TLS 1.x, length 2, level, description.
	if n >= 7 && p[0] == 21 && p[1] == 3 && p[3] == 0 && p[4] == 2 {
		s.alert = int(p[6]) + 1
	}
	return n, err
}

// tlsConn is the TLS connection the input guard reads from: the guard
// sees decrypted bytes, so every limit holds on the TLS port as on the
// plaintext one.
type tlsConn struct {
	*tls.Conn
	spy     *alertSpy
	timeout time.Duration
	log     *slog.Logger
	done    atomic.Bool // the handshake succeeded
}

// errNoHandshake: a write before the handshake (the accept callback
// refusing a client over maxclients) sends nothing. Sending it would run
// the handshake in the accept loop; as in Redis, such a connection just
// drops.
var errNoHandshake = errors.New("tls: write before the handshake")

func (c *tlsConn) Read(p []byte) (int, error) {
	if !c.done.Load() {
		if err := c.handshake(); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) Write(p []byte) (int, error) {
	if !c.done.Load() {
		return 0, errNoHandshake
	}
	return c.Conn.Write(p)
}

// handshake runs the TLS handshake, within the deadline Accept set, and
// says in the log why a client was refused.
func (c *tlsConn) handshake() error {
	err := c.Conn.Handshake()
	if err != nil {
		client := c.RemoteAddr().String()
		var ne net.Error
		var op *net.OpError
		switch {
		case errors.Is(err, net.ErrClosed):
			// Closed by the node (shutdown, CLIENT KILL): nothing to say.
		case errors.As(err, &ne) && ne.Timeout():
			c.log.Info("closed a TLS client that did not finish its handshake", "client", client, "after", c.timeout)
		case errors.Is(err, io.EOF):
			// Connected and left without a word: health checks, scans.
			c.log.Debug("TLS client left before its handshake", "client", client)
		case errors.As(err, &op) && op.Op == "remote error":
			// Most often the client does not trust this node's
			// certificate (expired, another CA, another name).
			c.log.Info("TLS handshake refused by the client", "client", client, "err", err)
		case c.spy.alert != 0:
			c.log.Info("TLS handshake refused by the client", "client", client,
				"err", "remote error: "+tls.AlertError(c.spy.alert-1).Error())
		default:
			c.log.Info("TLS handshake failed", "client", client, "err", err)
		}
		return err
	}
	c.Conn.SetDeadline(time.Time{})
	c.done.Store(true)
	return nil
}

// listeners serves the plaintext and TLS ports as one listener: redcon
// serves one.
type listeners struct {
	lns   []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
}

type accepted struct {
	conn net.Conn
	err  error
}

// oneListener serves lns (nil ones left out) as one.
func oneListener(lns ...net.Listener) net.Listener {
	var live []net.Listener
	for _, ln := range lns {
		if ln != nil {
			live = append(live, ln)
		}
	}
	if len(live) == 1 {
		return live[0]
	}
	m := &listeners{lns: live, conns: make(chan accepted), done: make(chan struct{})}
	for _, ln := range live {
		go m.run(ln)
	}
	return m
}

// run hands on what ln accepts, errors too (the guard listener backs off
// on them), until ln or m is closed.
func (m *listeners) run(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		select {
		case m.conns <- accepted{conn, err}:
		case <-m.done:
			if conn != nil {
				conn.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (m *listeners) Accept() (net.Conn, error) {
	select {
	case a := <-m.conns:
		return a.conn, a.err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *listeners) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			if e := ln.Close(); e != nil && err == nil {
				err = e
			}
		}
	})
	return err
}

// Addr is the first port's: the plaintext one when there is one.
func (m *listeners) Addr() net.Addr { return m.lns[0].Addr() }

// listen binds the client ports: plaintext (Config.Addr), TLS
// (Config.TLS.Addr) or both, served as one listener.
func (s *Server) listen() (net.Listener, error) {
	if s.cfg.Addr == "" && s.cfg.TLS.Addr == "" {
		return nil, errors.New("no client port: neither a plaintext nor a TLS address")
	}
	if s.cfg.Addr != "" {
		ln, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			return nil, err
		}
		s.plain = ln
	}
	tln, err := s.listenTLS()
	if err != nil {
		if s.plain != nil {
			s.plain.Close()
		}
		return nil, err
	}
	return oneListener(s.plain, tln), nil
}

// portOf is ln's port, "0" without ln (as Redis's port 0: no such port).
func portOf(ln net.Listener) string {
	if ln == nil {
		return "0"
	}
	a := ln.Addr().String()
	return a[strings.LastIndexByte(a, ':')+1:]
}

// tcpPort is INFO's tcp_port: as Redis, the plaintext port, or the TLS
// port when there is no plaintext one.
func (s *Server) tcpPort() string {
	if s.plain == nil {
		return portOf(s.tls.ln)
	}
	return portOf(s.plain)
}

// withTLSParams adds the tls-* settings to CONFIG GET/SET. The files'
// contents are never shown, only their paths.
func withTLSParams(params map[string]configParam) map[string]configParam {
	str := func(field func(*TLSConfig) *string, check func(string) string) configParam {
		return configParam{
			get: func(s *Server) string { return *field(s.tls.settings.Load()) },
			set: func(s *Server, v string) (func(), string) {
				if check != nil {
					if why := check(v); why != "" {
						return nil, why
					}
				}
				return func() {}, "" // configSetTLS loads the settings together
			},
		}
	}
	params["tls-port"] = configParam{get: func(s *Server) string { return portOf(s.tls.ln) }}
	params["tls-cert-file"] = str(func(c *TLSConfig) *string { return &c.CertFile }, nil)
	params["tls-key-file"] = str(func(c *TLSConfig) *string { return &c.KeyFile }, nil)
	params["tls-ca-cert-file"] = str(func(c *TLSConfig) *string { return &c.CACertFile }, nil)
	params["tls-ca-cert-dir"] = str(func(c *TLSConfig) *string { return &c.CACertDir }, nil)
	params["tls-protocols"] = str(func(c *TLSConfig) *string { return &c.Protocols }, nil)
	params["tls-ciphers"] = str(func(c *TLSConfig) *string { return &c.Ciphers }, nil)
	params["tls-ciphersuites"] = str(func(c *TLSConfig) *string { return &c.Ciphersuites }, nil)
	params["tls-auth-clients"] = configParam{
		get: func(s *Server) string { return authName(s.tls.settings.Load().AuthClients) },
		set: func(s *Server, v string) (func(), string) {
			switch strings.ToLower(v) {
			case "yes", "no", "optional":
				return func() {}, ""
			}
			return nil, "argument(s) must be one of the following: no, yes, optional"
		},
	}
	params["tls-prefer-server-ciphers"] = configParam{
		get: func(s *Server) string { return yesNo(s.tls.settings.Load().PreferServerCiphers) },
		set: func(s *Server, v string) (func(), string) {
			if _, ok := parseYesNo(v); !ok {
				return nil, "argument must be 'yes' or 'no'"
			}
			return func() {}, ""
		},
	}
	return params
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseYesNo(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "yes":
		return true, true
	case "no":
		return false, true
	}
	return false, false
}

// configSetTLS checks the tls-* settings among kv (CONFIG SET's pairs,
// each value already checked alone) together, as a certificate holds
// only with its key: it loads the files they name and returns what puts
// them in force, or the setting and the reason to refuse the whole SET.
func (s *Server) configSetTLS(kv [][]byte) (apply func(), name, why string) {
	c := *s.tls.settings.Load()
	for i := 0; i < len(kv); i += 2 {
		n, v := strings.ToLower(string(kv[i])), string(kv[i+1])
		if !strings.HasPrefix(n, "tls-") {
			continue
		}
		if name == "" {
			name = n
		}
		switch n {
		case "tls-cert-file":
			c.CertFile = v
		case "tls-key-file":
			c.KeyFile = v
		case "tls-ca-cert-file":
			c.CACertFile = v
		case "tls-ca-cert-dir":
			c.CACertDir = v
		case "tls-auth-clients":
			c.AuthClients = strings.ToLower(v)
		case "tls-protocols":
			c.Protocols = v
		case "tls-ciphers":
			c.Ciphers = v
		case "tls-ciphersuites":
			c.Ciphersuites = v
		case "tls-prefer-server-ciphers":
			c.PreferServerCiphers, _ = parseYesNo(v)
		}
	}
	if name == "" {
		return func() {}, "", ""
	}
	if s.tls.ln == nil {
		return func() { s.putTLS(c, nil, "") }, "", ""
	}
	conf, err := loadNewTLS(c)
	if err != nil {
		s.log.Warn("TLS settings change refused: the certificate in force keeps serving", "err", err)
		return nil, name, "Unable to update TLS configuration: " + err.Error()
	}
	return func() { s.putTLS(c, conf, "settings changed") }, "", ""
}

// LoadCertAndCAs reads a certificate, its key and the CAs from c's files,
// for the peer port's mutual TLS.
func LoadCertAndCAs(c TLSConfig) (*tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("tls-cert-file/tls-key-file: %w", err)
	}
	cas, err := loadCAs(c.CACertFile, c.CACertDir)
	if err != nil {
		return nil, nil, err
	}
	return &cert, cas, nil
}
