package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
)

func peerMaterial(ca *testcluster.CA, c *testcluster.Cert) *PeerTLS {
	return &PeerTLS{Material: func() (*tls.Certificate, *x509.CertPool, error) { return &c.TLS, ca.Pool(), nil }}
}

// Three nodes with mutual TLS on the peer port and no cluster secret form
// a cluster: Raft and the cluster service (a forwarded write) run over
// TLS. A dialer without TLS is refused.
func TestPeerTLSCluster(t *testing.T) {
	ca := testcluster.NewCA(t, "peers")
	certs := map[string]*testcluster.Cert{}
	for _, id := range []string{"n1", "n2", "n3"} {
		certs[id] = ca.Issue(id, testcluster.CertOptions{Peer: true})
	}
	tc := newTestCluster(t, 3, func(c *Config) {
		c.Secret = ""
		c.PeerTLS = peerMaterial(ca, certs[c.NodeID])
	})
	f := tc.followers()[0]
	if err := trySet(f, "k", "v"); err != nil {
		t.Fatalf("forwarded write over TLS: %v", err)
	}
	if got := readOwn(t, f, "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("read back %q", got)
	}
	if _, err := dialPeer(f.cfg.Advertise, protoService, peerKey(""), nil, peerDialTimeout); err == nil {
		t.Fatal("a dialer without TLS was let in")
	}
}

// A peer whose certificate another CA issued, that has expired, or that
// names no member (the web tier's, from the same CA) is refused with a log
// line that says why; a dialer refuses a peer whose certificate names
// another node than the member at that address.
func TestPeerTLSRefusals(t *testing.T) {
	ca := testcluster.NewCA(t, "peers")
	other := testcluster.NewCA(t, "other")
	logs := &syncLog{}
	tc := newTestCluster(t, 1, func(c *Config) {
		c.Secret = ""
		c.PeerTLS = peerMaterial(ca, ca.Issue("n1", testcluster.CertOptions{Peer: true}))
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	n := tc.nodes[0]
	addr := n.cfg.Advertise
	dial := func(cert *testcluster.Cert, want string) error {
		pt := &peerTLS{material: peerMaterial(ca, cert).Material, idAt: func(string) string { return want }}
		conn, err := dialPeer(addr, protoService, peerKey(""), pt, peerDialTimeout)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(ca.Issue("n1", testcluster.CertOptions{Peer: true}), "n1"); err != nil {
		t.Fatalf("a peer with a good certificate: %v", err)
	}
	// The CA's certificates for the web tier are no peers: not a member's.
	if err := dial(ca.Issue("web-1", testcluster.CertOptions{Peer: true}), ""); err == nil {
		t.Fatal("a certificate naming no member was let in")
	}

	if err := dial(other.Issue("n2", testcluster.CertOptions{Peer: true}), ""); err == nil {
		t.Fatal("a certificate of another CA was let in")
	}
	expired := ca.Issue("n2", testcluster.CertOptions{Peer: true, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	if err := dial(expired, ""); err == nil {
		t.Fatal("an expired certificate was let in")
	}
	err := dial(ca.Issue("n1", testcluster.CertOptions{Peer: true}), "n7")
	if err == nil || !strings.Contains(err.Error(), "names n1,localhost,n1, not n7") {
		t.Fatalf("a node at the address of another member: %v", err)
	}
	testcluster.Eventually(t, "the refusals logged with their reasons", func() error {
		l := logs.String()
		for _, want := range []string{"certificate signed by unknown authority", "expired", "names web-1,localhost,web-1, no member of this cluster"} {
			if !strings.Contains(l, "TLS handshake failed") || !strings.Contains(l, want) {
				return fmt.Errorf("log lacks %q:\n%s", want, l)
			}
		}
		return nil
	})
}
