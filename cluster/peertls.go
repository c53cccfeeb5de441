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
// sides that the cluster's CA issued, usable as client (the dialer's) and
// server (the dialed node's). A certificate names its node: the node id is
// its Common Name or one of its DNS names. A node accepts a connection
// only from a certificate naming a member of its Raft configuration (a
// client certificate of the same CA is no peer), and a node dialing a
// member checks that the certificate names that member, so a certificate
// of one node cannot stand in for another at its address. The
// challenge-response over the cluster secret still runs inside TLS when a
// secret is set.

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
	// members are the node ids of the Raft configuration; none before
	// this node is in one.
	members func() []string
}

// verifyPeer checks a peer's chain against the CAs and returns the leaf:
// usage is the extended key usage the peer's side needs (client auth for
// a dialer, server auth for the node dialed).
func verifyPeer(rawCerts [][]byte, cas *x509.CertPool, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
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
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: cas, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
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
		ClientAuth:   tls.RequireAnyClientCert, // verified below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			leaf, err := verifyPeer(raw, cas, x509.ExtKeyUsageClientAuth)
			if err != nil {
				return err
			}
			// A certificate the CA issued is not enough (the CA may issue
			// the web tier's client certificates too): it must name a
			// member. A node in no configuration yet (waiting to be added
			// or to form one) takes any node's certificate.
			ids := p.members()
			for _, id := range ids {
				if names(leaf, id) {
					return nil
				}
			}
			if len(ids) == 0 {
				return nil
			}
			return fmt.Errorf("the certificate names %s, no member of this cluster", certNames(leaf))
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
			leaf, err := verifyPeer(raw, cas, x509.ExtKeyUsageServerAuth)
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
