package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// The TLS flags: --port 0 serves TLS alone, with the peer port derived
// from --tls-port; settings that cannot serve are refused before start.
func TestTLSFlags(t *testing.T) {
	tlsArgs := []string{"--tls-cert-file", "s.crt", "--tls-key-file", "s.key", "--tls-ca-cert-file", "ca.crt"}
	o, err := parseFlags(append([]string{"--port", "0", "--tls-port", "6380"}, tlsArgs...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.peerPort != 16380 || o.plainAddr() != "" || o.tlsConfig().Addr != "0.0.0.0:6380" || o.clientPort() != 6380 {
		t.Fatalf("--port 0 --tls-port 6380: peer port %d, plaintext %q, TLS %q", o.peerPort, o.plainAddr(), o.tlsConfig().Addr)
	}
	o, err = parseFlags(append([]string{"--tls-port", "6380"}, tlsArgs...), io.Discard)
	if err != nil || o.peerPort != 16379 || o.plainAddr() != "0.0.0.0:6379" || o.tlsConfig().AuthClients != "yes" {
		t.Fatalf("--tls-port beside --port: %v, peer port %d, %+v", err, o.peerPort, o.tlsConfig())
	}
	if o, err := parseFlags(nil, io.Discard); err != nil || o.tlsConfig().Addr != "" {
		t.Fatalf("no TLS by default: %v, %+v", err, o.tlsConfig())
	}
	for _, tc := range []struct {
		args []string
		env  [2]string
		want string
	}{
		{args: []string{"--port", "0"}, want: "--port is 0 and there is no --tls-port: no client port to serve"},
		{args: []string{"--tls-port", "6380"}, want: "--tls-port needs --tls-cert-file and --tls-key-file"},
		{args: []string{"--tls-port", "6379", "--tls-cert-file", "a", "--tls-key-file", "b"}, want: "--port and --tls-port are both 6379"},
		{args: []string{"--tls-auth-clients", "maybe"}, want: `--tls-auth-clients must be yes, no or optional, not "maybe"`},
		{args: []string{"--tls-port", "70000"}, want: "--tls-port must be a port number, not 70000"},
		{env: [2]string{"STATEHOUSE_TLS_AUTH_CLIENTS", "sure"}, want: `STATEHOUSE_TLS_AUTH_CLIENTS must be yes, no or optional, not "sure"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if tc.env[0] != "" {
				t.Setenv(tc.env[0], tc.env[1])
			}
			if _, err := parseFlags(tc.args, io.Discard); err == nil || err.Error() != tc.want {
				t.Errorf("%q %v: %v, want %q", tc.args, tc.env, err, tc.want)
			}
		})
	}

	// The config file takes them under the same names.
	path := writeConfig(t, "port 0\ntls-port 6390\ntls-cert-file /etc/statehouse/tls/node.crt\ntls-key-file /etc/statehouse/tls/node.key\n"+
		"tls-ca-cert-dir /etc/statehouse/tls/ca\ntls-auth-clients optional\ntls-protocols \"TLSv1.3\"\ntls-prefer-server-ciphers yes\n")
	if o, err = parseFlags([]string{path}, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := o.tlsConfig()
	if c.Addr != "0.0.0.0:6390" || c.CACertDir != "/etc/statehouse/tls/ca" || c.AuthClients != "optional" || c.Protocols != "TLSv1.3" || !c.PreferServerCiphers || o.peerPort != 16390 {
		t.Fatalf("config file: %+v, peer port %d", c, o.peerPort)
	}
}

// A TLS file that cannot serve stops the start at once (exit 1), saying
// which setting and why.
func TestTLSFilesCheckedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	ca := testcluster.NewCA(t, "test CA")
	srv := ca.Issue("server", testcluster.CertOptions{})
	other := ca.Issue("other", testcluster.CertOptions{})
	for _, tc := range []struct {
		name       string
		cert, key  string
		caCertFile string
		want       string
	}{
		{"missing key", srv.CertFile, "/nonexistent/server.key", ca.CertFile, "tls-key-file: open /nonexistent/server.key: no such file or directory"},
		{"key of another certificate", srv.CertFile, other.KeyFile, ca.CertFile, "private key does not match public key"},
		{"unreadable CA", srv.CertFile, srv.KeyFile, "/nonexistent/ca.crt", "tls-ca-cert-file: open /nonexistent/ca.crt: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runBinary(t, "--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(testcluster.FreePort(t)),
				"--data-dir", t.TempDir(), "--tls-cert-file", tc.cert, "--tls-key-file", tc.key, "--tls-ca-cert-file", tc.caCertFile)
			if code != 1 || !strings.Contains(stderr, "level=ERROR") || !strings.Contains(stderr, "TLS port: ") || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 1 and an error with %q:\n%s", code, tc.want, stderr)
			}
			if strings.Contains(stderr, "raft") {
				t.Fatalf("the node started Raft before checking its TLS files:\n%s", stderr)
			}
		})
	}
}

// startBare starts the binary with args alone (no ports of startProc's).
func startBare(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(testcluster.Binary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// tlsPortWithPeer finds a free port whose port+10000 is free too: a TLS
// port whose default peer port can be bound.
func tlsPortWithPeer(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := testcluster.FreePort(t)
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port with a free port+10000")
	return 0
}

// waitServed waits until a client with conf at addr is served, or the
// process exits.
func waitServed(t *testing.T, p *proc, addr string, conf *tls.Config) *redis.Client {
	t.Helper()
	o := testcluster.ClientOptions(addr)
	o.TLSConfig = conf
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	testcluster.EventuallyWithin(t, testcluster.StartTimeout, "the node takes a write over TLS", func() error {
		select {
		case <-p.done:
			return testcluster.Stop(fmt.Errorf("exited: %v\n%s", p.err, p.output()))
		default:
		}
		return c.Set(context.Background(), "k", "v", 0).Err()
	})
	return c
}

// --port 0 --tls-port N: the node serves TLS alone, its peer port is
// N+10000, CONFIG GET port says 0 and INFO's tcp_port is N.
func TestTLSOnlyNode(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ca := testcluster.NewCA(t, "test CA")
	srv := ca.Issue("server", testcluster.CertOptions{})
	port := tlsPortWithPeer(t)
	p := startBare(t, "--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port), "--data-dir", t.TempDir(),
		"--tls-cert-file", srv.CertFile, "--tls-key-file", srv.KeyFile, "--tls-ca-cert-file", ca.CertFile)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	c := waitServed(t, p, addr, testcluster.ClientTLS(ca, ca.Issue("client", testcluster.CertOptions{Client: true})))
	ctx := context.Background()
	if v, err := c.ConfigGet(ctx, "*port").Result(); err != nil || v["port"] != "0" || v["tls-port"] != strconv.Itoa(port) {
		t.Fatalf("CONFIG GET *port: %v, %v", v, err)
	}
	if info, err := c.Info(ctx, "server").Result(); err != nil || !strings.Contains(info, "tcp_port:"+strconv.Itoa(port)+"\r\n") {
		t.Fatalf("INFO server: %q, %v", info, err)
	}
	peer := fmt.Sprintf("peer=127.0.0.1:%d", port+10000)
	if !strings.Contains(p.output(), peer) || !strings.Contains(p.output(), `msg="TLS listening" addr=`+addr) {
		t.Fatalf("the log does not show the TLS port and %s:\n%s", peer, p.output())
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exitCode(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.output())
	}
	quiet(t, "TLS-only node", p.output())
}

// SIGHUP reloads the certificate files: new connections get the new
// certificate, an established one keeps working; a certificate without
// its key is refused and the one in force keeps serving. Without a TLS
// port SIGHUP changes nothing, and never ends the process.
func TestSIGHUPReloadsTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ca := testcluster.NewCA(t, "test CA")
	first := ca.Issue("first", testcluster.CertOptions{})
	second := ca.Issue("second", testcluster.CertOptions{})
	conf := testcluster.ClientTLS(ca, ca.Issue("client", testcluster.CertOptions{Client: true}))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key")
	first.CopyTo(t, certFile, keyFile)
	port := testcluster.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := startProc(t, "--tls-port", strconv.Itoa(port), "--data-dir", t.TempDir(),
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", ca.CertFile)
	waitServed(t, p, addr, conf)
	old, err := tls.Dial("tcp", addr, conf)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	ping := func(c *tls.Conn) {
		t.Helper()
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "+PONG\r\n" {
			t.Fatalf("PING on the established connection: %q, %v", buf, err)
		}
	}
	ping(old)
	serves := func(want *testcluster.Cert) error {
		c, err := tls.Dial("tcp", addr, conf)
		if err != nil {
			return err
		}
		defer c.Close()
		if got := c.ConnectionState().PeerCertificates[0].SerialNumber; got.Cmp(want.Leaf.SerialNumber) != 0 {
			return fmt.Errorf("serves serial %s, want %s", got, want.Leaf.SerialNumber)
		}
		return nil
	}

	second.CopyTo(t, certFile, keyFile)
	p.cmd.Process.Signal(syscall.SIGHUP)
	testcluster.Eventually(t, "new connections get the second certificate", func() error { return serves(second) })
	ping(old)
	if old.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatal("the established connection's certificate changed")
	}

	first.CopyTo(t, certFile, filepath.Join(dir, "unused.key")) // a new certificate, its key not yet copied
	p.cmd.Process.Signal(syscall.SIGHUP)
	testcluster.Eventually(t, "the refused reload logged", func() error {
		if strings.Contains(p.output(), `msg="TLS reload refused: the certificate in force keeps serving"`) {
			return nil
		}
		return errors.New("not logged")
	})
	if err := serves(second); err != nil {
		t.Fatalf("after a refused reload: %v", err)
	}
	ping(old)

	// Without a TLS port.
	plain := startProc(t, "--data-dir", t.TempDir())
	testcluster.Eventually(t, "the plaintext node is ready", func() error {
		if strings.Contains(plain.output(), `msg="ready to accept writes"`) {
			return nil
		}
		return errors.New("not yet")
	})
	plain.cmd.Process.Signal(syscall.SIGHUP)
	testcluster.Eventually(t, "SIGHUP without a TLS port logged", func() error {
		if strings.Contains(plain.output(), "SIGHUP: no TLS port, nothing to reload") {
			return nil
		}
		return errors.New("not logged")
	})
	plain.cmd.Process.Signal(syscall.SIGTERM)
	if code := plain.exitCode(t); code != 0 {
		t.Fatalf("exit %d after SIGHUP and SIGTERM\n%s", code, plain.output())
	}
}
