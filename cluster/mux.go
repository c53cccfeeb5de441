package cluster

import (
	"crypto/hmac"
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
// Redis Cluster's bus does. A connection opens with one byte naming its
// protocol, then a 32-byte token proving the dialer knows the cluster
// secret (an HMAC of a fixed label; all zeros when no secret is set).
const (
	protoRaft    byte = 'R'
	protoService byte = 'S'

	tokenLen = sha256.Size
)

func peerToken(secret string) []byte {
	if secret == "" {
		return make([]byte, tokenLen)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("statehouse peer v1"))
	return m.Sum(nil)
}

// mux accepts peer connections and hands each to the protocol it names.
type mux struct {
	ln    net.Listener
	token []byte
	log   *slog.Logger

	mu       sync.Mutex
	handlers map[byte]chan net.Conn
	closed   chan struct{}
	once     sync.Once
}

func newMux(ln net.Listener, secret string, log *slog.Logger) *mux {
	return &mux{ln: ln, token: peerToken(secret), log: log, handlers: map[byte]chan net.Conn{}, closed: make(chan struct{})}
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
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	head := make([]byte, 1+tokenLen)
	if _, err := io.ReadFull(conn, head); err != nil {
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	if !hmac.Equal(head[1:], m.token) {
		m.log.Warn("peer connection refused: wrong cluster secret", "peer", conn.RemoteAddr().String())
		conn.Close()
		return
	}
	m.mu.Lock()
	ch := m.handlers[head[0]]
	m.mu.Unlock()
	if ch == nil {
		m.log.Warn("peer connection refused: unknown protocol", "peer", conn.RemoteAddr().String(), "proto", head[0])
		conn.Close()
		return
	}
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

// dialPeer opens a connection to a peer's port for proto.
func dialPeer(addr string, proto byte, token []byte, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	head := append([]byte{proto}, token...)
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(head); err != nil {
		conn.Close()
		return nil, fmt.Errorf("peer handshake: %w", err)
	}
	conn.SetWriteDeadline(time.Time{})
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
	return dialPeer(string(address), protoRaft, l.m.token, timeout)
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
