package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// dialService opens a raw connection to n's cluster service, past the
// handshake, as a peer that knows the secret would.
func dialService(t *testing.T, n *Node) net.Conn {
	t.Helper()
	conn, err := dialPeer(n.PeerAddr(), protoService, peerKey("s3cret"), nil, peerDialTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func frameHeader(size uint32, typ byte, id uint64) []byte {
	h := make([]byte, 13)
	binary.BigEndian.PutUint32(h, size)
	h[4] = typ
	binary.BigEndian.PutUint64(h[5:], id)
	return h
}

// A frame declaring more than a call may hold is refused before anything
// is allocated for it: the node closes the connection and serves on.
func TestPeerFrameSizeBounded(t *testing.T) {
	tc := newTestCluster(t, 1)
	n := tc.nodes[0]
	conn := dialService(t, n)
	conn.Write(frameHeader(1<<32-1, msgForward, 1)) // 4 GiB declared
	conn.SetReadDeadline(time.Now().Add(testcluster.ConditionTimeout))
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a 4 GiB frame: the connection stays open (%v)", err)
	}
	good := &peerClient{addr: n.PeerAddr(), token: peerKey("s3cret")}
	defer good.close()
	ctx, cancel := context.WithTimeout(context.Background(), testcluster.RequestTimeout)
	defer cancel()
	if _, err := good.call(ctx, msgNodeInfo, nil); err != nil {
		t.Fatalf("a good call after the bad frame: %v", err)
	}
}

// A frame declared within the bound but not sent costs only what arrived:
// the payload grows with the bytes, not with the declared length.
func TestPeerFrameGrowsWithItsBytes(t *testing.T) {
	half := append(frameHeader(maxCallFrame, msgForward, 1), make([]byte, 100)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := readFrame(bytes.NewReader(half), maxCallFrame, nil)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a frame cut short: %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("%d KiB allocated for a frame of which 100 bytes arrived", grew>>10)
	}
	whole := append(frameHeader(9+300000, msgForward, 1), bytes.Repeat([]byte{7}, 300000)...)
	if _, _, p, err := readFrame(bytes.NewReader(whole), maxCallFrame, nil); err != nil || len(p) != 300000 || p[299999] != 7 {
		t.Fatalf("a whole frame read back as %d bytes, %v", len(p), err)
	}
}

// A peer that sends calls without reading the replies gets at most
// maxCallsInFlight of them worked on; the rest wait in its socket, not in
// goroutines on the node.
func TestPeerCallFloodBounded(t *testing.T) {
	tc := newTestCluster(t, 1)
	n := tc.nodes[0]
	base := runtime.NumGoroutine()
	conn := dialService(t, n)
	w := bufio.NewWriter(conn)
	const calls = 20 * maxCallsInFlight
	go func() { // the node stops reading: the writes block, so off the test goroutine
		for i := range calls {
			if writeFrame(w, msgNodeInfo, uint64(i)) != nil {
				return
			}
		}
		w.Flush()
	}()
	// Wait until the flood is stuck (replies fill the socket, the node stops
	// reading): the count of goroutines stops changing.
	peak, last, steady := 0, -1, 0
	testcluster.Eventually(t, "the node stops taking calls it cannot answer", func() error {
		g := runtime.NumGoroutine() - base
		peak = max(peak, g)
		if peak > maxCallsInFlight+64 {
			return testcluster.Stop(fmt.Errorf("%d goroutines for %d unanswered calls", peak, calls))
		}
		if g == last {
			steady++
		} else {
			last, steady = g, 0
		}
		if steady < 10 || peak < maxCallsInFlight/2 {
			return fmt.Errorf("%d goroutines, still changing", g)
		}
		return nil
	})
	conn.Close()
	testcluster.Eventually(t, "the calls' goroutines end with the connection", func() error {
		if g := runtime.NumGoroutine() - base; g > 32 {
			return fmt.Errorf("%d goroutines left", g)
		}
		return nil
	})
	t.Logf("at most %d goroutines for %d calls sent without reading a reply", peak, calls)
}

// Fuzz the peer port's frame reader and the forwarded-request decoder with
// whatever a peer could send: no input panics them, a frame is never
// larger than its limit, and a request the decoder takes is one the
// leader can stamp or refuse without harm.
func FuzzPeerFrame(f *testing.F) {
	var b bytes.Buffer
	writeFrame(&b, msgForward, 7, encodeRequest(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}}}))
	f.Add(b.Bytes())
	f.Add(frameHeader(1<<32-1, msgForward, 1))
	f.Add(frameHeader(9, msgReadIndex, 1))
	f.Add(append(frameHeader(20, msgForward, 1), 3, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		typ, _, payload, err := readFrame(bytes.NewReader(data), limit, nil)
		if err != nil {
			return
		}
		if len(payload) > limit {
			t.Fatalf("a payload of %d bytes passed a limit of %d", len(payload), limit)
		}
		if typ != msgForward {
			return
		}
		req, err := decodeRequest(payload)
		if err != nil {
			return
		}
		if fsm.Stamp(&req) == nil {
			checkSize(req)
		}
	})
}

// recordingConn keeps every byte a dialer sends.
type recordingConn struct {
	net.Conn
	sent bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.sent.Write(p)
	return c.Conn.Write(p)
}

// A handshake captured on the wire and replayed is refused: the acceptor
// asks a fresh nonce of every connection. A dialer with the client
// password but not the cluster secret is refused, and so is a dialer
// that sends nothing a peer would (a Redis client on the wrong port).
func TestPeerHandshakeCannotBeReplayed(t *testing.T) {
	tc := newTestCluster(t, 1)
	n := tc.nodes[0]
	// Capture a good handshake and the call after it.
	raw, err := net.Dial("tcp", n.PeerAddr())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingConn{Conn: raw}
	nd := nonce()
	rec.Write(append(append(append([]byte{}, handshakeMagic...), protoService), nd...))
	reply := make([]byte, nonceLen+proofLen)
	if _, err := io.ReadFull(rec, reply); err != nil {
		t.Fatal(err)
	}
	rec.Write(proof(peerKey("s3cret"), "dialer", protoService, nd, reply[:nonceLen]))
	rec.Write(frameHeader(9, msgNodeInfo, 1))
	if _, err := io.ReadFull(rec, make([]byte, 13)); err != nil {
		t.Fatalf("the genuine handshake and call: %v", err)
	}
	rec.Close()

	// Replay every byte on a new connection: the node never answers.
	replay, err := net.Dial("tcp", n.PeerAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer replay.Close()
	replay.Write(rec.sent.Bytes())
	replay.SetReadDeadline(time.Now().Add(testcluster.ConditionTimeout))
	got, _ := io.ReadAll(replay)
	if len(got) > nonceLen+proofLen {
		t.Fatalf("a replayed handshake got %d bytes back: past the handshake", len(got))
	}

	for _, secret := range []string{"", "the-client-password"} {
		if _, err := dialPeer(n.PeerAddr(), protoService, peerKey(secret), nil, peerDialTimeout); err != nil {
			continue // refused at once: the acceptor's proof did not check out
		}
		c := &peerClient{addr: n.PeerAddr(), token: peerKey(secret)}
		ctx, cancel := context.WithTimeout(context.Background(), testcluster.RequestTimeout)
		_, err := c.call(ctx, msgNodeInfo, nil)
		cancel()
		c.close()
		if err == nil {
			t.Fatalf("secret %q: a call went through", secret)
		}
	}
}
