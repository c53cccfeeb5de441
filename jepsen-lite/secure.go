package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Secure runs (--secure) put everything statehouse offers to lock a
// cluster down in the way of the faults: TLS alone on the client port
// (--port 0), mutual TLS between peers (--tls-cluster yes, each node with
// a certificate naming its id and its address), a default user with a
// password, and the workloads' clients logged in as an ACL user from an
// --aclfile, limited to the run's keys and to non-dangerous commands. The
// harness's own probes (INFO, ROLE...) log in as the default user. The run
// must be as clean as a plain one.

const (
	secureUser         = "jepsen"
	secureUserPassword = "jepsen-user-pw"
	secureAdminPass    = "jepsen-admin-pw"
)

// securedBackend is a backend that can run securely (BackendConfig.Secure).
type securedBackend interface {
	ClientSecurity() *ClientSecurity // nil unless the run is secure
}

// ClientSecurity is how the harness's clients reach secure nodes.
type ClientSecurity struct {
	TLS *tls.Config
}

// dress sets a client's TLS and credentials: the workloads' user, or the
// default user for the harness's probes.
func (s *ClientSecurity) dress(o *redis.Options, probe bool) {
	if s == nil {
		return
	}
	o.TLSConfig = s.TLS.Clone()
	if probe {
		o.Password = secureAdminPass
	} else {
		o.Username, o.Password = secureUser, secureUserPassword
	}
}

// secureFiles are a secure run's CA, its nodes' certificates and the ACL
// file, under dir.
type secureFiles struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string

	mu    sync.Mutex
	nodes map[string][2]string // node id -> cert and key files
}

func newSecureFiles(dir string, prefix string) (*secureFiles, error) {
	s := &secureFiles{dir: dir, nodes: map[string][2]string{}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jepsen-lite CA " + prefix},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if s.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	s.caKey, s.caFile = key, filepath.Join(dir, "ca.crt")
	if err := writePEMFile(s.caFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	// &pattern: the expiry-events subscribers' PSUBSCRIBE, as written.
	acl := fmt.Sprintf("user %s on >%s ~* &__keyevent@0__:* +@all -@dangerous\n", secureUser, secureUserPassword)
	return s, os.WriteFile(filepath.Join(dir, "users.acl"), []byte(acl), 0o600)
}

// nodeArgs are a node's TLS and ACL flags; its certificate names its id
// and its address, as server and client.
func (s *secureFiles) nodeArgs(id, ip string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, ok := s.nodes[id]
	if !ok {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: id}, DNSNames: []string{id},
			IPAddresses: []net.IP{net.ParseIP(ip)},
			NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, s.caCert, &key.PublicKey, s.caKey)
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		files = [2]string{filepath.Join(s.dir, id+".crt"), filepath.Join(s.dir, id+".key")}
		if err := writePEMFile(files[0], "CERTIFICATE", der); err != nil {
			return nil, err
		}
		if err := writePEMFile(files[1], "PRIVATE KEY", keyDER); err != nil {
			return nil, err
		}
		s.nodes[id] = files
	}
	return []string{
		"--tls-cert-file", files[0], "--tls-key-file", files[1], "--tls-ca-cert-file", s.caFile,
		"--tls-auth-clients", "no", "--tls-cluster", "yes",
		"--requirepass", secureAdminPass, "--aclfile", filepath.Join(s.dir, "users.acl"),
	}, nil
}

// clients is how the harness reaches the nodes: trusting the run's CA.
func (s *secureFiles) clients() *ClientSecurity {
	pool := x509.NewCertPool()
	pool.AddCert(s.caCert)
	return &ClientSecurity{TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

func writePEMFile(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
