package server

import (
	"bufio"
	"bytes"
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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// pki is what the TLS tests trust and present: a CA, the node's
// certificate from it, a client certificate from it, and one from a CA
// the node does not know.
type pki struct {
	ca, other         *testcluster.CA
	server, client    *testcluster.Cert
	stranger, server2 *testcluster.Cert
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{ca: testcluster.NewCA(t, "statehouse test CA"), other: testcluster.NewCA(t, "another CA")}
	p.server = p.ca.Issue("server", testcluster.CertOptions{})
	p.server2 = p.ca.Issue("server2", testcluster.CertOptions{})
	p.client = p.ca.Issue("client", testcluster.CertOptions{Client: true})
	p.stranger = p.other.Issue("stranger", testcluster.CertOptions{Client: true})
	return p
}

// settings serve p's server certificate on a free loopback port, client
// certificates required (the default).
func (p *pki) settings() TLSConfig {
	return TLSConfig{Addr: "127.0.0.1:0", CertFile: p.server.CertFile, KeyFile: p.server.KeyFile, CACertFile: p.ca.CertFile}
}

// logBuf keeps what a node logs, for tests of what it says.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the log has a line holding every one of parts.
func (l *logBuf) waitFor(t *testing.T, parts ...string) string {
	t.Helper()
	var found string
	testcluster.Eventually(t, fmt.Sprintf("a log line with %q", parts), func() error {
		for _, line := range strings.Split(l.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				found = line
				return nil
			}
		}
		return errors.New("not logged")
	})
	return found
}

func withTLS(c TLSConfig) nodeOption { return func(nc *nodeConfig) { nc.srv.TLS = c } }

func withLog(l *logBuf) nodeOption {
	return func(nc *nodeConfig) {
		nc.srv.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

func (n *testNode) tlsAddr() string { return n.srv.TLSAddr().String() }

// tlsClient is a go-redis client of the node's TLS port with conf.
func (n *testNode) tlsClient(conf *tls.Config) *redis.Client {
	return n.client(func(o *redis.Options) { o.Addr, o.TLSConfig = n.tlsAddr(), conf })
}

// dialTLS is a raw client of the node's TLS port; the handshake is done.
func (n *testNode) dialTLS(t testing.TB, conf *tls.Config) *rawClient {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: testcluster.DialTimeout}, "tcp", n.tlsAddr(), conf)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", n.tlsAddr(), err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c)}
}

// serial is the serial number of the certificate the node presented.
func (rc *rawClient) serial() string {
	return rc.c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// Each setting that cannot serve stops the start with an error naming
// it.
func TestCheckTLS(t *testing.T) {
	p := newPKI(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	emptyDir := t.TempDir()
	caDir := t.TempDir()
	b, _ := os.ReadFile(p.ca.CertFile)
	os.WriteFile(filepath.Join(caDir, "ca.pem"), b, 0o600)
	os.WriteFile(filepath.Join(caDir, "README"), []byte("not a certificate"), 0o600)

	for _, tc := range []struct {
		name   string
		change func(*TLSConfig)
		want   string // "" for no error
	}{
		{"defaults", func(c *TLSConfig) {}, ""},
		{"no cert", func(c *TLSConfig) { c.CertFile = "" }, "tls-cert-file is not set"},
		{"no key", func(c *TLSConfig) { c.KeyFile = "" }, "tls-key-file is not set"},
		{"missing cert", func(c *TLSConfig) { c.CertFile = "/nonexistent/server.crt" }, "tls-cert-file: open /nonexistent/server.crt: no such file"},
		{"missing key", func(c *TLSConfig) { c.KeyFile = "/nonexistent/server.key" }, "tls-key-file: open /nonexistent/server.key: no such file"},
		{"key of another cert", func(c *TLSConfig) { c.KeyFile = p.client.KeyFile }, "private key does not match public key"},
		{"cert not PEM", func(c *TLSConfig) { c.CertFile = notPEM }, "tls-cert-file " + notPEM + " and tls-key-file"},
		{"unreadable CA", func(c *TLSConfig) { c.CACertFile = "/nonexistent/ca.crt" }, "tls-ca-cert-file: open /nonexistent/ca.crt"},
		{"CA not PEM", func(c *TLSConfig) { c.CACertFile = notPEM }, "tls-ca-cert-file " + notPEM + ": no PEM certificate"},
		{"CA dir", func(c *TLSConfig) { c.CACertFile, c.CACertDir = "", caDir }, ""},
		{"CA dir without CAs", func(c *TLSConfig) { c.CACertFile, c.CACertDir = "", emptyDir }, "tls-ca-cert-dir " + emptyDir + ": no PEM certificate"},
		{"auth without a CA", func(c *TLSConfig) { c.CACertFile = "" }, "tls-auth-clients yes verifies client certificates: set tls-ca-cert-file or tls-ca-cert-dir"},
		{"optional without a CA", func(c *TLSConfig) { c.CACertFile, c.AuthClients = "", "optional" }, "tls-auth-clients optional verifies"},
		{"no auth, no CA", func(c *TLSConfig) { c.CACertFile, c.AuthClients = "", "no" }, ""},
		{"bad auth-clients", func(c *TLSConfig) { c.AuthClients = "maybe" }, `tls-auth-clients must be yes, no or optional, not "maybe"`},
		{"protocols", func(c *TLSConfig) { c.Protocols = "TLSv1.2 TLSv1.3" }, ""},
		{"TLS 1.3 only", func(c *TLSConfig) { c.Protocols = "tlsv1.3" }, ""},
		{"TLS 1.1", func(c *TLSConfig) { c.Protocols = "TLSv1.1 TLSv1.2" }, `tls-protocols: "TLSv1.1" is not served`},
		{"OpenSSL cipher names", func(c *TLSConfig) { c.Ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305" }, ""},
		{"IANA cipher names", func(c *TLSConfig) { c.Ciphers = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" }, ""},
		{"OpenSSL keywords", func(c *TLSConfig) { c.Ciphers = "HIGH:!aNULL" }, `tls-ciphers: unknown cipher "HIGH"`},
		{"insecure cipher", func(c *TLSConfig) { c.Ciphers = "TLS_RSA_WITH_3DES_EDE_CBC_SHA" }, "is insecure"},
		{"TLS 1.3 suite in tls-ciphers", func(c *TLSConfig) { c.Ciphers = "TLS_AES_128_GCM_SHA256" }, "is a TLS 1.3 suite"},
		{"ciphersuites", func(c *TLSConfig) { c.Ciphersuites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256" }, ""},
		{"bad ciphersuites", func(c *TLSConfig) { c.Ciphersuites = "ECDHE-RSA-AES128-GCM-SHA256" }, "is not a TLS 1.3 suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.settings()
			tc.change(&c)
			err := CheckTLS(c)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// The TLS port serves beside the plaintext one: the same keyspace, the
// settings in CONFIG GET (paths, never what the files hold), and clients
// the node refuses say why in its log.
func TestTLSPort(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var log logBuf
	n := startNode(t, withTLS(p.settings()), withLog(&log))
	c := n.tlsClient(testcluster.ClientTLS(p.ca, p.client))
	if err := c.Set(kctx, "k", "over TLS", 0).Err(); err != nil {
		t.Fatalf("SET over TLS: %v", err)
	}
	if v, err := n.client().Get(kctx, "k").Result(); err != nil || v != "over TLS" {
		t.Fatalf("GET over plaintext: %q, %v", v, err)
	}

	_, tlsPort, _ := net.SplitHostPort(n.tlsAddr())
	_, port, _ := net.SplitHostPort(n.addr)
	cfg, err := c.ConfigGet(kctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"port": port, "tls-port": tlsPort, "tls-cert-file": p.server.CertFile, "tls-key-file": p.server.KeyFile,
		"tls-ca-cert-file": p.ca.CertFile, "tls-ca-cert-dir": "", "tls-auth-clients": "yes",
		"tls-protocols": "", "tls-ciphers": "", "tls-ciphersuites": "", "tls-prefer-server-ciphers": "no",
	} {
		if cfg[k] != want {
			t.Errorf("CONFIG GET %s = %q, want %q", k, cfg[k], want)
		}
	}
	for k, v := range cfg {
		if strings.Contains(v, "PRIVATE KEY") || strings.Contains(v, "BEGIN") {
			t.Errorf("CONFIG GET %s shows a file's contents: %q", k, v)
		}
	}
	info, err := c.Info(kctx, "server").Result()
	if err != nil || !strings.Contains(info, "tcp_port:"+port+"\r\n") {
		t.Errorf("INFO server: tcp_port is not the plaintext port %s: %q, %v", port, info, err)
	}

	refused := func(t *testing.T, conf *tls.Config, logged string) {
		t.Helper()
		c := n.tlsClient(conf)
		if err := c.Ping(kctx).Err(); err == nil {
			t.Fatal("served")
		}
		log.waitFor(t, "TLS handshake failed", logged)
	}
	t.Run("no client certificate", func(t *testing.T) {
		refused(t, testcluster.ClientTLS(p.ca, nil), "client didn't provide a certificate")
	})
	t.Run("certificate of another CA", func(t *testing.T) {
		refused(t, testcluster.ClientTLS(p.ca, p.stranger), "certificate signed by unknown authority")
	})
	t.Run("expired client certificate", func(t *testing.T) {
		old := p.ca.Issue("old-client", testcluster.CertOptions{Client: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
		refused(t, testcluster.ClientTLS(p.ca, old), "certificate has expired")
	})
	t.Run("plaintext client", func(t *testing.T) {
		rc := dialRaw(t, n.tlsAddr())
		rc.write(encode("PING"))
		rc.expectClosed()
		log.waitFor(t, "TLS handshake failed", "does not look like a TLS handshake")
	})
	t.Run("client that does not trust the node", func(t *testing.T) {
		conf := testcluster.ClientTLS(p.other, p.client)
		if _, err := tls.Dial("tcp", n.tlsAddr(), conf); err == nil {
			t.Fatal("the handshake succeeded")
		}
		log.waitFor(t, "TLS handshake refused by the client", "remote error: tls: bad certificate")
	})
	if err := c.Ping(kctx).Err(); err != nil {
		t.Fatalf("the good client after the refused ones: %v", err)
	}
}

// tls-auth-clients optional serves clients without a certificate and
// verifies those that give one; no serves anyone.
func TestTLSAuthClients(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	for _, tc := range []struct {
		auth          string
		none, foreign bool // served: no certificate, another CA's certificate
	}{
		{"optional", true, false},
		{"no", true, true},
	} {
		t.Run(tc.auth, func(t *testing.T) {
			c := p.settings()
			c.AuthClients = tc.auth
			n := startNode(t, withTLS(c))
			for _, cl := range []struct {
				name   string
				cert   *testcluster.Cert
				served bool
			}{{"own CA", p.client, true}, {"none", nil, tc.none}, {"another CA", p.stranger, tc.foreign}} {
				err := n.tlsClient(testcluster.ClientTLS(p.ca, cl.cert)).Ping(kctx).Err()
				if (err == nil) != cl.served {
					t.Errorf("client certificate %s: PING: %v, want served=%v", cl.name, err, cl.served)
				}
			}
		})
	}
}

// A node with an expired certificate starts, saying so; clients refuse
// it, and the node logs each refusal.
func TestTLSExpiredServerCertificate(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	expired := p.ca.Issue("expired", testcluster.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	c := p.settings()
	c.CertFile, c.KeyFile = expired.CertFile, expired.KeyFile
	var log logBuf
	n := startNode(t, withTLS(c), withLog(&log))
	log.waitFor(t, "level=WARN", "TLS certificate not valid now", "clients will refuse it")
	_, err := tls.Dial("tcp", n.tlsAddr(), testcluster.ClientTLS(p.ca, p.client))
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("dial: %v, want the certificate refused as expired", err)
	}
	log.waitFor(t, "TLS handshake refused by the client", "remote error: tls:")
}

// New certificates by CONFIG SET or ReloadTLS (SIGHUP): new connections
// get them, established ones keep theirs; files that do not load are
// refused and the certificate in force keeps serving.
func TestTLSReload(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	// The node's files, which the test replaces.
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	p.server.CopyTo(t, certFile, keyFile)
	c := p.settings()
	c.CertFile, c.KeyFile = certFile, keyFile
	var log logBuf
	n := startNode(t, withTLS(c), withLog(&log))
	conf := testcluster.ClientTLS(p.ca, p.client)
	old := n.dialTLS(t, conf)
	old.expect("+PONG\r\n", "PING")
	serial := func(want *testcluster.Cert) {
		t.Helper()
		rc := n.dialTLS(t, conf)
		if got := rc.serial(); got != want.Leaf.SerialNumber.String() {
			t.Fatalf("a new connection gets the certificate with serial %s, want %s", got, want.Leaf.SerialNumber)
		}
		rc.expect("+PONG\r\n", "PING")
	}
	serial(p.server)

	// CONFIG SET of the new pair, in one command.
	admin := n.dialTLS(t, conf)
	admin.expect("+OK\r\n", "CONFIG", "SET", "tls-cert-file", p.server2.CertFile, "tls-key-file", p.server2.KeyFile)
	serial(p.server2)
	old.expect("+PONG\r\n", "PING")
	if old.serial() != p.server.Leaf.SerialNumber.String() {
		t.Fatal("the established connection's certificate changed")
	}
	log.waitFor(t, "TLS settings changed", "serial="+p.server2.Leaf.SerialNumber.String())

	expired := p.ca.Issue("expired", testcluster.CertOptions{NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	for _, bad := range []struct {
		name string
		args []string
		why  string
	}{
		{"missing file", []string{"tls-cert-file", "/nonexistent.crt"}, "open /nonexistent.crt: no such file or directory"},
		{"key of another certificate", []string{"tls-key-file", p.client.KeyFile}, "private key does not match public key"},
		{"expired", []string{"tls-cert-file", expired.CertFile, "tls-key-file", expired.KeyFile}, "clients will refuse it"},
		{"CA not readable", []string{"tls-ca-cert-file", "/nonexistent-ca.crt"}, "tls-ca-cert-file: open /nonexistent-ca.crt"},
	} {
		got := admin.do(append([]string{"CONFIG", "SET"}, bad.args...)...)
		if !strings.HasPrefix(got, "-ERR CONFIG SET failed (possibly related to argument '"+bad.args[0]+"') - Unable to update TLS configuration: ") ||
			!strings.Contains(got, bad.why) {
			t.Errorf("CONFIG SET %s: %q, want refused with %q", bad.name, got, bad.why)
		}
	}
	serial(p.server2)
	admin.expect("*2\r\n$13\r\ntls-cert-file\r\n"+bulk(p.server2.CertFile), "CONFIG", "GET", "tls-cert-file")
	admin.expect("-ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the following: no, yes, optional\r\n",
		"CONFIG", "SET", "tls-auth-clients", "maybe")
	admin.expect("-ERR CONFIG SET failed (possibly related to argument 'tls-port') - can't set immutable config\r\n",
		"CONFIG", "SET", "tls-port", "1")

	// ReloadTLS, as SIGHUP: the files in force were replaced. Back to
	// the first names, whose files now hold a third certificate.
	admin.expect("+OK\r\n", "CONFIG", "SET", "tls-cert-file", certFile, "tls-key-file", keyFile)
	third := p.ca.Issue("third", testcluster.CertOptions{})
	third.CopyTo(t, certFile, keyFile)
	if err := n.srv.ReloadTLS(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	serial(third)
	// A half-replaced pair (a new certificate, the old key) is refused.
	p.server.CopyTo(t, certFile, filepath.Join(dir, "unused.key"))
	if err := n.srv.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Fatalf("reload of a certificate without its key: %v", err)
	}
	log.waitFor(t, "level=WARN", "TLS reload refused: the certificate in force keeps serving", "private key does not match")
	serial(third)
	old.expect("+PONG\r\n", "PING")
}

// The input guard sees what the TLS layer decrypted: a bulk over the
// limit closes that connection with the protocol error, and a stranger
// gets the unauthenticated limits, as on the plaintext port.
func TestTLSGuard(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	lim := Limits{MaxBulkLen: 1 << 20, MaxArgs: 100, MaxRequest: 4 << 20, MaxInlineBytes: 1 << 10}
	n := startNode(t, withTLS(p.settings()), withLimits(lim), withPassword("s3cret"))
	conf := testcluster.ClientTLS(p.ca, p.client)
	bystander := n.dialTLS(t, conf)
	bystander.expect("+OK\r\n", "AUTH", "s3cret")

	rc := n.dialTLS(t, conf)
	rc.expect("+OK\r\n", "AUTH", "s3cret")
	rc.write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n"))
	rc.expectReply(errReply("ERR Protocol error: invalid bulk length"))
	rc.expectClosed()

	stranger := n.dialTLS(t, conf)
	stranger.write([]byte("*11\r\n"))
	stranger.expectReply(errReply("ERR Protocol error: unauthenticated multibulk length"))
	stranger.expectClosed()

	bystander.expect("+OK\r\n", "SET", "k", "v")
	n.dialTLS(t, conf).expect("-NOAUTH Authentication required.\r\n", "GET", "k")
}

// A client that never finishes its handshake is closed after the
// handshake timeout, and the maxclients slot it held is free again.
func TestTLSHandshakeTimeout(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	c := p.settings()
	c.HandshakeTimeout = 500 * time.Millisecond
	var log logBuf
	n := startNode(t, withTLS(c), withLog(&log))
	admin := n.raw()
	admin.expect("+OK\r\n", "CONFIG", "SET", "maxclients", "2") // admin and one more

	silent, err := net.DialTimeout("tcp", n.tlsAddr(), testcluster.DialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	conf := testcluster.ClientTLS(p.ca, p.client)
	// The slot is taken while the silent client is there (its accept may
	// come after the first tries: those are served).
	testcluster.Eventually(t, "a TLS client refused while the silent one holds the last slot", func() error {
		c, err := tls.Dial("tcp", n.tlsAddr(), conf)
		if err != nil {
			return nil
		}
		defer c.Close()
		return errors.New("served")
	})
	silent.SetReadDeadline(time.Now().Add(hangGuard))
	if _, err := silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the silent client: %v, want closed by the node", err)
	}
	log.waitFor(t, "closed a TLS client that did not finish its handshake", "after=500ms")
	testcluster.Eventually(t, "a TLS client served once the slot is free", func() error {
		c := redis.NewClient(&redis.Options{Addr: n.tlsAddr(), TLSConfig: conf, MaxRetries: -1, DialTimeout: testcluster.DialTimeout})
		defer c.Close()
		return c.Ping(kctx).Err()
	})
}

// With no plaintext port (--port 0), the TLS port serves alone: CONFIG
// GET port is 0, and INFO's tcp_port is the TLS port, as in Redis.
func TestTLSOnly(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	n := startNode(t, withTLS(p.settings()), func(nc *nodeConfig) { nc.srv.Addr = "" })
	c := n.tlsClient(testcluster.ClientTLS(p.ca, p.client))
	_, tlsPort, _ := net.SplitHostPort(n.tlsAddr())
	if v, err := c.ConfigGet(kctx, "*port").Result(); err != nil || v["port"] != "0" || v["tls-port"] != tlsPort {
		t.Fatalf("CONFIG GET *port: %v, %v", v, err)
	}
	info, err := c.Info(kctx, "server").Result()
	if err != nil || !strings.Contains(info, "tcp_port:"+tlsPort+"\r\n") {
		t.Fatalf("INFO server: tcp_port is not the TLS port %s: %q, %v", tlsPort, info, err)
	}
	if n.srv.Addr().String() != n.tlsAddr() {
		t.Fatalf("Addr %s, want the TLS port's %s", n.srv.Addr(), n.tlsAddr())
	}
}

// tls-protocols and tls-ciphers limit what is negotiated.
func TestTLSProtocolsAndCiphers(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	c := p.settings()
	c.Protocols = "TLSv1.2"
	c.Ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"
	n := startNode(t, withTLS(c))
	rc := n.dialTLS(t, testcluster.ClientTLS(p.ca, p.client))
	st := rc.c.(*tls.Conn).ConnectionState()
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 {
		t.Fatalf("negotiated %s with %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	}
	rc.expect("+PONG\r\n", "PING")
	only13 := testcluster.ClientTLS(p.ca, p.client)
	only13.MinVersion = tls.VersionTLS13
	if _, err := tls.Dial("tcp", n.tlsAddr(), only13); err == nil {
		t.Fatal("a TLS 1.3 client was served by a TLSv1.2 node")
	}
}

// The AUTH deadline and the idle timeout close TLS clients as they close
// plaintext ones.
func TestTLSClientTimeouts(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	n := startNode(t, withTLS(p.settings()), withPassword("s3cret"), withAuthTimeout(time.Second))
	conf := testcluster.ClientTLS(p.ca, p.client)
	stranger := n.dialTLS(t, conf)
	stranger.expect("-NOAUTH Authentication required.\r\n", "GET", "k")
	client := n.dialTLS(t, conf)
	client.expect("+OK\r\n", "AUTH", "s3cret")
	stranger.expectClosed() // within hangGuard; the janitor looks every second
	client.expect("+PONG\r\n", "PING")

	client.expect("+OK\r\n", "CONFIG", "SET", "timeout", "1")
	idle := n.dialTLS(t, conf)
	idle.expect("+OK\r\n", "AUTH", "s3cret")
	idle.expectClosed()
}
