package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/server"
)

// tlsOptions are the TLS client port's settings, under Redis's names.
type tlsOptions struct {
	port                int
	certFile            string
	keyFile             string
	caCertFile          string
	caCertDir           string
	authClients         string
	protocols           string
	ciphers             string
	ciphersuites        string
	preferServerCiphers bool
	cluster             string // yes: mutual TLS on the peer port
}

func tlsFlags(fs *flag.FlagSet, o *tlsOptions) {
	fs.IntVar(&o.port, "tls-port", 0, "TLS client RESP port, beside --port (0: none); with --port 0 the only client port, and --peer-port defaults to tls-port+10000")
	fs.StringVar(&o.certFile, "tls-cert-file", "", "PEM certificate (chain) of the TLS port; reloaded on SIGHUP")
	fs.StringVar(&o.keyFile, "tls-key-file", "", "PEM private key of --tls-cert-file")
	fs.StringVar(&o.caCertFile, "tls-ca-cert-file", "", "PEM CA certificates that client certificates are verified against")
	fs.StringVar(&o.caCertDir, "tls-ca-cert-dir", "", "directory of PEM CA certificate files, as well as or instead of --tls-ca-cert-file")
	fs.StringVar(&o.authClients, "tls-auth-clients", "yes", "yes: clients must present a certificate the CAs issued; optional: verified if presented; no: not asked for")
	fs.StringVar(&o.protocols, "tls-protocols", "TLSv1.2 TLSv1.3", "TLS versions served: TLSv1.2, TLSv1.3 or both")
	fs.StringVar(&o.ciphers, "tls-ciphers", "", "TLS 1.2 cipher suites, colon-separated, OpenSSL's or IANA's names (default: Go's)")
	fs.StringVar(&o.ciphersuites, "tls-ciphersuites", "", "TLS 1.3 cipher suites: checked, but Go always offers its three")
	fs.BoolVar(&o.preferServerCiphers, "tls-prefer-server-ciphers", false, "accepted for redis.conf files; Go's server picks the suite itself")
	fs.StringVar(&o.cluster, "tls-cluster", "no", "yes: mutual TLS on the peer port with --tls-cert-file/--tls-key-file, peers' certificates verified against --tls-ca-cert-file and naming their node id (CN or DNS name); reloaded on SIGHUP")
}

// clientPort is the port the peer port defaults from: --port, or
// --tls-port when there is no plaintext port.
func (o *options) clientPort() int {
	if o.port == 0 {
		return o.tls.port
	}
	return o.port
}

// checkTLS checks the TLS flags that need no file: the files are read
// at start (server.CheckTLS).
func (o *options) checkTLS() error {
	switch {
	case o.port == 0 && o.tls.port == 0:
		return fmt.Errorf("%s is 0 and there is no --tls-port: no client port to serve", o.where("port"))
	case o.port < 0 || o.port > 65535:
		return fmt.Errorf("%s must be a port number, not %d", o.where("port"), o.port)
	case o.tls.port < 0 || o.tls.port > 65535:
		return fmt.Errorf("%s must be a port number, not %d", o.where("tls-port"), o.tls.port)
	case o.tls.port != 0 && o.tls.port == o.port:
		return fmt.Errorf("%s and %s are both %d", o.where("port"), o.where("tls-port"), o.port)
	}
	switch strings.ToLower(o.tls.authClients) {
	case "yes", "no", "optional":
	default:
		return fmt.Errorf("%s must be yes, no or optional, not %q", o.where("tls-auth-clients"), o.tls.authClients)
	}
	if o.tls.port != 0 && (o.tls.certFile == "" || o.tls.keyFile == "") {
		return fmt.Errorf("%s needs --tls-cert-file and --tls-key-file", o.where("tls-port"))
	}
	return nil
}

// tlsConfig is the server's TLS port as the flags set it; no port when
// --tls-port is 0.
func (o *options) tlsConfig() server.TLSConfig {
	c := server.TLSConfig{
		CertFile: o.tls.certFile, KeyFile: o.tls.keyFile,
		CACertFile: o.tls.caCertFile, CACertDir: o.tls.caCertDir,
		AuthClients: strings.ToLower(o.tls.authClients), Protocols: o.tls.protocols,
		Ciphers: o.tls.ciphers, Ciphersuites: o.tls.ciphersuites,
		PreferServerCiphers: o.tls.preferServerCiphers,
	}
	if o.tls.port != 0 {
		c.Addr = net.JoinHostPort(o.bind, strconv.Itoa(o.tls.port))
	}
	return c
}

// plainAddr is the plaintext client port's address, "" with --port 0.
func (o *options) plainAddr() string {
	if o.port == 0 {
		return ""
	}
	return net.JoinHostPort(o.bind, strconv.Itoa(o.port))
}

// checkTLSFiles reads the TLS port's files before the node opens
// anything, so a missing key or a certificate without its key stops it
// at once, saying which setting.
func checkTLSFiles(o *options) error {
	if o.tls.port == 0 {
		return nil
	}
	if err := server.CheckTLS(o.tlsConfig()); err != nil {
		return fmt.Errorf("TLS port: %w", err)
	}
	return nil
}

// watchHangup reloads the TLS port's certificate, key and CAs from their
// files on every SIGHUP (as after a certificate renewal). Without it,
// SIGHUP would end the process.
func watchHangup(srv *server.Server, peers *peerCerts, log *slog.Logger) {
	if a := srv.TLSAddr(); a != nil {
		log.Info("TLS listening", "addr", a.String())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if peers != nil {
				if err := peers.reload(); err != nil {
					log.Warn("SIGHUP: the peer port's and admin listener's certificate was not reloaded; the one in force stays", "err", err)
				} else {
					log.Info("SIGHUP: the peer port's and admin listener's certificate and CAs reloaded", "cert", peers.conf.CertFile)
				}
			}
			if srv.TLSAddr() == nil {
				log.Info("SIGHUP: no TLS port, nothing to reload")
				continue
			}
			srv.ReloadTLS() // it logs what it put in force, or why it refused

		}
	}()
}

// checkTLSCluster checks --tls-cluster and the files it needs.
func (o *options) checkTLSCluster() error {
	if o.httpTLS && (o.tls.certFile == "" || o.tls.keyFile == "") {
		return fmt.Errorf("%s needs --tls-cert-file and --tls-key-file", o.where("http-tls"))
	}
	switch o.tls.cluster {
	case "no":
		return nil
	case "yes":
	default:
		return fmt.Errorf("%s must be yes or no, not %q", o.where("tls-cluster"), o.tls.cluster)
	}
	if o.tls.certFile == "" || o.tls.keyFile == "" {
		return fmt.Errorf("%s needs --tls-cert-file and --tls-key-file", o.where("tls-cluster"))
	}
	if o.tls.caCertFile == "" && o.tls.caCertDir == "" {
		return fmt.Errorf("%s needs --tls-ca-cert-file or --tls-ca-cert-dir: peers are verified against them", o.where("tls-cluster"))
	}
	return nil
}

// peerCerts holds the peer port's certificate and CAs, reloaded on
// SIGHUP; a reload that fails keeps the ones in force.
type peerCerts struct {
	conf server.TLSConfig
	log  *slog.Logger
	cur  atomic.Pointer[peerMaterial]
}

type peerMaterial struct {
	cert *tls.Certificate
	cas  *x509.CertPool
}

// newPeerTLS loads the certificate the peer port (--tls-cluster) and the
// admin listener (--http-tls) serve, or returns nils when neither does.
func newPeerTLS(o *options, log *slog.Logger) (*cluster.PeerTLS, *peerCerts, error) {
	if o.tls.cluster != "yes" && !o.httpTLS {
		return nil, nil, nil
	}
	p := &peerCerts{conf: o.tlsConfig(), log: log}
	if err := p.reload(); err != nil {
		return nil, nil, fmt.Errorf("peer and admin TLS: %w", err)
	}
	if o.tls.cluster != "yes" {
		return nil, p, nil
	}
	return &cluster.PeerTLS{Material: func() (*tls.Certificate, *x509.CertPool, error) {
		m := p.cur.Load()
		return m.cert, m.cas, nil
	}}, p, nil
}

// certificate is the certificate in force, for the admin listener.
func (p *peerCerts) certificate() (*tls.Certificate, error) { return p.cur.Load().cert, nil }

func (p *peerCerts) reload() error {
	cert, cas, err := server.LoadCertAndCAs(p.conf)
	if err != nil {
		return err
	}
	p.cur.Store(&peerMaterial{cert: cert, cas: cas})
	return nil
}
