package cluster

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The peer port carries Raft and the cluster service on one listener, as
// Redis Cluster's bus does. A connection opens with a challenge-response
// over the cluster secret, both ways, so nothing a listener on the wire
// captures can be replayed and a dialer knows it reached a peer:
//
//	dialer:   magic "SHP2", protocol byte, 32-byte nonce Nd
//	acceptor: 32-byte nonce Na, HMAC(K, "acceptor" proto Nd Na)
//	dialer:   HMAC(K, "dialer" proto Nd Na)
//
// K is an HMAC of a fixed label keyed by the secret (all zeros with no
// secret, which only --insecure-peers allows in a cluster).
const (
	protoRaft    byte = 'R'
	protoService byte = 'S'

	nonceLen = 32
	proofLen = sha256.Size
)

var handshakeMagic = []byte("SHP2")

// peerKey is the key peers prove they hold.
func peerKey(secret string) []byte {
	if secret == "" {
		return make([]byte, sha256.Size)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("statehouse peer v2"))
	return m.Sum(nil)
}

func proof(key []byte, role string, proto byte, nd, na []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(role))
	m.Write([]byte{proto})
	m.Write(nd)
	m.Write(na)
	return m.Sum(nil)
}

func nonce() []byte {
	b := make([]byte, nonceLen)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return b
}

// mux accepts peer connections and hands each to the protocol it names.
type mux struct {
	ln    net.Listener
	token []byte
	tls   *peerTLS // nil: plain TCP
	log   *slog.Logger

	mu       sync.Mutex
	handlers map[byte]chan net.Conn
	closed   chan struct{}
	once     sync.Once
}

func newMux(ln net.Listener, secret string, log *slog.Logger) *mux {
	return &mux{ln: ln, token: peerKey(secret), log: log, handlers: map[byte]chan net.Conn{}, closed: make(chan struct{})}
}

// listen registers a protocol and returns its stream of connections.
func (m *mux) listen(proto byte) chan net.Conn {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan net.Conn, 16)
	m.handlers[proto] = ch
	return ch
}

func (m *mux) serve() {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("peer accept failed", "err", err)
			time.Sleep(acceptRetryInterval)
			continue
		}
		go m.route(conn)
	}
}

func (m *mux) route(conn net.Conn) {
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if m.tls != nil {
		tc, err := m.tls.server(conn)
		if err != nil {
			m.log.Warn("peer connection refused: TLS handshake failed", "peer", conn.RemoteAddr().String(), "err", err)
			conn.Close()
			return
		}
		conn = tc
	}
	head := make([]byte, len(handshakeMagic)+1+nonceLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		conn.Close()
		return
	}
	if !bytes.Equal(head[:len(handshakeMagic)], handshakeMagic) {
		m.log.Warn("peer connection refused: not a statehouse peer handshake (a node of an older version?)",
			"peer", conn.RemoteAddr().String())
		conn.Close()
		return
	}
	proto, nd := head[len(handshakeMagic)], head[len(handshakeMagic)+1:]
	m.mu.Lock()
	ch := m.handlers[proto]
	m.mu.Unlock()
	if ch == nil {
		m.log.Warn("peer connection refused: unknown protocol", "peer", conn.RemoteAddr().String(), "proto", proto)
		conn.Close()
		return
	}
	na := nonce()
	if _, err := conn.Write(append(na, proof(m.token, "acceptor", proto, nd, na)...)); err != nil {
		conn.Close()
		return
	}
	got := make([]byte, proofLen)
	if _, err := io.ReadFull(conn, got); err != nil || !hmac.Equal(got, proof(m.token, "dialer", proto, nd, na)) {
		if err == nil {
			m.log.Warn("peer connection refused: wrong cluster secret", "peer", conn.RemoteAddr().String())
		}
		conn.Close()
		return
	}
	conn.SetDeadline(time.Time{})
	select {
	case ch <- conn:
	case <-m.closed:
		conn.Close()
	}
}

func (m *mux) close() error {
	m.once.Do(func() { close(m.closed) })
	return m.ln.Close()
}

// dialPeer opens a connection to a peer's port for proto, proving this
// node holds key and checking that the peer does too.
func dialPeer(addr string, proto byte, key []byte, pt *peerTLS, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	if pt != nil {
		tc, err := pt.client(conn, addr)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("peer TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	nd := nonce()
	if _, err := conn.Write(append(append(append([]byte{}, handshakeMagic...), proto), nd...)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("peer handshake: %w", err)
	}
	reply := make([]byte, nonceLen+proofLen)
	if _, err := io.ReadFull(conn, reply); err != nil {
		conn.Close()
		return nil, fmt.Errorf("peer handshake: %w (a wrong cluster secret, or not a statehouse peer)", err)
	}
	na := reply[:nonceLen]
	if !hmac.Equal(reply[nonceLen:], proof(key, "acceptor", proto, nd, na)) {
		conn.Close()
		return nil, errors.New("peer handshake: the peer does not hold this cluster's secret")
	}
	if _, err := conn.Write(proof(key, "dialer", proto, nd, na)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("peer handshake: %w", err)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// raftLayer is the raft.StreamLayer on the mux.
type raftLayer struct {
	m     *mux
	conns chan net.Conn
	addr  net.Addr
}

func (l *raftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.m.closed:
		return nil, net.ErrClosed
	}
}

func (l *raftLayer) Close() error { return l.m.close() }

func (l *raftLayer) Addr() net.Addr { return l.addr }

func (l *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialPeer(string(address), protoRaft, l.m.token, l.m.tls, timeout)
}

// advertiseAddr is the address peers are told: kept as written (a host
// name stays a name, as in --initial-cluster), with the listener's port
// when none was given and loopback for an unspecified host.
func advertiseAddr(advertise string, listener net.Addr) (net.Addr, error) {
	host, port, err := net.SplitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", advertise, err)
	}
	if port == "0" || port == "" {
		_, port, _ = net.SplitHostPort(listener.String())
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Listening on every interface with nothing to advertise: a lone
		// node is reached on loopback. Clustered nodes get --advertise or
		// their --initial-cluster entry.
		host = "127.0.0.1"
	}
	return peerAddr(net.JoinHostPort(host, port)), nil
}

type peerAddr string

func (a peerAddr) Network() string { return "tcp" }
func (a peerAddr) String() string  { return string(a) }
