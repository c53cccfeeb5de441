package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Mutual TLS on the peer port (--tls-cluster): every peer connection, Raft
// and the cluster service alike, is TLS 1.2+ with a certificate on both
// sides that the cluster's CA issued. A certificate names its node: the
// node id is its Common Name or one of its DNS names. A node dialing a
// member of the Raft configuration checks that the certificate names that
// member, so a certificate of one node cannot stand in for another at its
// address. The challenge-response over the cluster secret still runs
// inside TLS when a secret is set.

// PeerTLS gives the peer port's certificate and the CAs peers' certificates
// are verified against. Material is called for every new connection, so
// reloaded files (SIGHUP) apply to the next one.
type PeerTLS struct {
	Material func() (*tls.Certificate, *x509.CertPool, error)
}

// peerTLS is the mux's TLS: nil with --tls-cluster off.
type peerTLS struct {
	material func() (*tls.Certificate, *x509.CertPool, error)
	// idAt names the member of the Raft configuration at a peer address,
	// "" if none (a node being added, a joiner's first contact).
	idAt func(addr string) string
}

// verifyPeer checks a peer's chain against the CAs and returns the leaf.
func verifyPeer(rawCerts [][]byte, cas *x509.CertPool) (*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, errors.New("the peer sent no certificate")
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("the peer's certificate does not parse: %w", err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// Any key usage: one certificate serves a node as server and as client.
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: cas, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// names reports whether a certificate names node id.
func names(c *x509.Certificate, id string) bool {
	if c.Subject.CommonName == id {
		return true
	}
	for _, d := range c.DNSNames {
		if d == id {
			return true
		}
	}
	return false
}

func certNames(c *x509.Certificate) string {
	return strings.Join(append([]string{c.Subject.CommonName}, c.DNSNames...), ",")
}

// server wraps an accepted peer connection: the dialer must present a
// certificate the CAs issued.
func (p *peerTLS) server(conn net.Conn) (net.Conn, error) {
	cert, cas, err := p.material()
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   tls.RequireAnyClientCert, // verified below, with any key usage
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			_, err := verifyPeer(raw, cas)
			return err
		},
	}
	tc := tls.Server(conn, conf)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

// client wraps a connection this node dialed to addr: the peer must
// present a certificate the CAs issued, naming the member the Raft
// configuration has at addr.
func (p *peerTLS) client(conn net.Conn, addr string) (net.Conn, error) {
	cert, cas, err := p.material()
	if err != nil {
		return nil, err
	}
	want := p.idAt(addr)
	conf := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*cert},
		// Peers are dialed by address, which certificates need not name:
		// the chain and the node id are checked below instead.
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := verifyPeer(raw, cas)
			if err != nil {
				return err
			}
			if want != "" && !names(leaf, want) {
				return fmt.Errorf("the certificate at %s names %s, not %s, the member there", addr, certNames(leaf), want)
			}
			return nil
		},
	}
	tc := tls.Client(conn, conf)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

//
