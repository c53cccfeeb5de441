package cluster

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The cluster service on the peer port: a follower forwards writes and
// asks for read indexes; any node asks another how far it has applied.
// Frames are [len u32][type u8][id u64][payload]; many calls share one
// connection, answered out of order by id.
const (
	msgForward   byte = 1 // payload: an encoded fsm.Entry with one request
	msgReadIndex byte = 2 // payload: empty
	msgNodeInfo  byte = 3 // payload: empty
	msgClock     byte = 4 // payload: empty; the reply's index is the node's clock (unix ms), its body one byte: 1 if its disk is full
	msgRead      byte = 5 // payload: an encoded fsm.Entry with one read op; the reply's body is its reply
	msgStats     byte = 6 // payload: empty; the reply's index is the last log index, its body the last log term and ms since the leader was heard (u64 each), then 1 if the node started empty and may not vote yet
	msgRemove    byte = 7 // payload: a node id the leader removes from Raft (a node leaving, an operator)
	msgTransfer  byte = 8 // payload: a node id (or none) the leader hands leadership to
	msgPublish   byte = 9 // payload: pub/sub messages for this node's subscribers (publish.go)

	maxFrame = 1<<32 - 1 // what the length field can say

	// maxCallFrame bounds a call: a forwarded write is at most one log
	// entry.
	maxCallFrame = MaxEntryBytes + 1<<16
	// maxReplyFrame bounds a reply: a write's reply can hold a whole value
	// (GETDEL of a string grown by APPEND, up to 512 MiB).
	maxReplyFrame = 1 << 30
	// maxCallsInFlight is how many calls of one peer connection the node
	// works on at once; past it, the connection is not read until one ends.
	maxCallsInFlight = 1024
)

// Status codes in replies, mapped to and from the cluster errors.
const (
	stOK byte = iota
	stNoLeader
	stNotApplied
	stUnknown
	stLoading
	stReadOnly
	stRefused  // the body says why
	stDiskFull // the body says why
)

func statusOf(err error) byte {
	switch {
	case err == nil:
		return stOK
	case errors.Is(err, ErrNoLeader):
		return stNoLeader
	case errors.Is(err, ErrNotApplied):
		return stNotApplied
	case errors.Is(err, ErrLoading):
		return stLoading
	case errors.Is(err, ErrReadOnly):
		return stReadOnly
	case errors.Is(err, ErrRefused):
		return stRefused
	case errors.Is(err, ErrDiskFull):
		return stDiskFull
	}
	return stUnknown
}

func errOf(st byte) error {
	switch st {
	case stOK:
		return nil
	case stNoLeader:
		return ErrNoLeader
	case stNotApplied:
		return ErrNotApplied
	case stLoading:
		return ErrLoading
	case stReadOnly:
		return ErrReadOnly
	case stRefused:
		return ErrRefused
	case stDiskFull:
		return ErrDiskFull
	}
	return ErrUnknownOutcome
}

// peerReply is the answer to every call: [status u8][index u64][body],
// the index big-endian. A forward's index is the entry that carried the
// write and its body the write's reply; a read index's index is the read
// index, with no body; a node info's index is the node's applied index and
// its body the node's client address.
type peerReply struct {
	status byte
	index  uint64
	body   []byte
}

const peerReplyHeader = 1 + 8

// errShortReply: a reply too short to hold a status and an index.
var errShortReply = errors.New("short reply")

func (r peerReply) encode() []byte {
	out := make([]byte, peerReplyHeader, peerReplyHeader+len(r.body))
	out[0] = r.status
	binary.BigEndian.PutUint64(out[1:], r.index)
	return append(out, r.body...)
}

// decodePeerReply reads a reply; its body shares b.
func decodePeerReply(b []byte) (peerReply, error) {
	if len(b) < peerReplyHeader {
		return peerReply{}, errShortReply
	}
	return peerReply{status: b[0], index: binary.BigEndian.Uint64(b[1:peerReplyHeader]), body: b[peerReplyHeader:]}, nil
}

func writeFrame(w io.Writer, typ byte, id uint64, parts ...[]byte) error {
	n := 9
	for _, p := range parts {
		n += len(p)
	}
	if n > maxFrame {
		return fmt.Errorf("frame of %d bytes is too large", n)
	}
	hdr := make([]byte, 13)
	binary.BigEndian.PutUint32(hdr, uint32(n))
	hdr[4] = typ
	binary.BigEndian.PutUint64(hdr[5:], id)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, p := range parts {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame of at most limit bytes. The payload grows as
// its bytes arrive, so a length a peer declares but does not send costs
// no memory. started, if not nil, is called once the header is in.
func readFrame(r io.Reader, limit int, started func()) (typ byte, id uint64, payload []byte, err error) {
	var hdr [13]byte
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return
	}
	if started != nil {
		started()
	}
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	if n < 9 {
		return 0, 0, nil, errors.New("short frame")
	}
	if n > limit {
		return 0, 0, nil, fmt.Errorf("frame of %d bytes, at most %d taken", n, limit)
	}
	typ, id = hdr[4], binary.BigEndian.Uint64(hdr[5:])
	size := n - 9
	payload = make([]byte, 0, min(size, 64<<10))
	for len(payload) < size {
		have := len(payload)
		payload = append(payload, make([]byte, min(size-have, max(have, 64<<10)))...)
		if _, err = io.ReadFull(r, payload[have:]); err != nil {
			return 0, 0, nil, err
		}
	}
	return typ, id, payload, nil
}

// serveService answers one peer connection's calls concurrently, at most
// maxCallsInFlight at a time. A connection may sit idle between calls, but
// a frame once begun must arrive whole within frameReadTimeout.
func (n *Node) serveService(conn net.Conn) {
	defer conn.Close()
	// A node that stops closes its peers' connections: they must not go
	// on answering for it (as a node opened again on the same address).
	n.peersMu.Lock()
	if n.served == nil {
		n.served = map[net.Conn]bool{}
	}
	n.served[conn] = true
	n.peersMu.Unlock()
	defer func() {
		n.peersMu.Lock()
		delete(n.served, conn)
		n.peersMu.Unlock()
	}()
	var wmu sync.Mutex
	bw := bufio.NewWriter(conn)
	r := bufio.NewReader(conn)
	inFlight := make(chan struct{}, maxCallsInFlight)
	for {
		conn.SetReadDeadline(time.Time{})
		typ, id, payload, err := readFrame(r, maxCallFrame, func() {
			conn.SetReadDeadline(time.Now().Add(frameReadTimeout))
		})
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.log.Warn("peer connection closed", "peer", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		inFlight <- struct{}{}
		go func() {
			defer func() { <-inFlight }()
			resp := n.handleCall(typ, payload)
			wmu.Lock()
			defer wmu.Unlock()
			if writeFrame(bw, typ, id, resp) == nil {
				bw.Flush()
			}
		}()
	}
}

func (n *Node) handleCall(typ byte, payload []byte) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), serviceCallTimeout)
	defer cancel()
	switch typ {
	case msgForward:
		req, err := decodeRequest(payload)
		if err != nil {
			// Not a request this build can read (a newer follower's, or
			// garbage): it certainly does not apply, and never will here.
			return peerReply{status: stRefused, body: []byte("the leader cannot read the forwarded request: " + err.Error())}.encode()
		}
		reply, index, err := n.proposeLocal(ctx, req)
		switch {
		case err == nil:
			n.nudge(index) // the asker waits to apply index itself
		case errors.Is(err, ErrRefused), errors.Is(err, ErrDiskFull):
			reply = []byte(err.Error())
		}
		return peerReply{status: statusOf(err), index: index, body: reply}.encode()
	case msgReadIndex:
		var index uint64
		var err error
		if n.raft.State() != raft.Leader {
			err = ErrNoLeader // never relay: the asker picks the leader itself
		} else if index, err = n.readIndex(ctx); err == nil {
			n.nudge(index) // the asker waits to apply index itself
		}
		return peerReply{status: statusOf(err), index: index}.encode()
	case msgRead:
		req, err := decodeRequest(payload)
		if err != nil || len(req.Ops) != 1 {
			return peerReply{status: stRefused, body: []byte("the leader cannot read the read request")}.encode()
		}
		reply, err := n.readLocal(ctx, req.Ops[0].DB, req.Ops[0].Args)
		return peerReply{status: statusOf(err), body: reply}.encode()
	case msgClock:
		full := byte(0)
		if n.diskFull() {
			full = 1
		}
		return peerReply{status: stOK, index: uint64(n.cfg.Clock()), body: []byte{full}}.encode()
	case msgStats:
		return encodeStats(n.serverStats(), n.votes.fresh.Load()).encode()
	case msgPublish:
		return n.receivePublished(payload)
	case msgTransfer:
		if n.raft.State() != raft.Leader {
			return peerReply{status: stNoLeader}.encode() // never relay
		}
		err := n.TransferLeadership(ctx, string(payload))
		if errors.Is(err, ErrRefused) {
			return peerReply{status: stRefused, body: []byte(err.Error())}.encode()
		}
		return peerReply{status: statusOf(err)}.encode()
	case msgRemove:
		if n.raft.State() != raft.Leader {
			return peerReply{status: stNoLeader}.encode() // never relay
		}
		err := n.RemoveServer(ctx, string(payload))
		if err != nil {
			n.log.Warn("removing a server failed", "node", string(payload), "err", err)
		} else {
			n.log.Info("removed a server", "node", string(payload))
		}
		if errors.Is(err, ErrRefused) {
			return peerReply{status: stRefused, body: []byte(err.Error())}.encode()
		}
		return peerReply{status: statusOf(err)}.encode()
	case msgNodeInfo:
		return peerReply{status: stOK, index: n.applied.index(), body: []byte(n.cfg.ClientAddr)}.encode()
	}
	// A bare status byte, as every version has answered a call it does not
	// know: too short for a reply, so the asker fails the call.
	return []byte{stUnknown}
}

// peer returns the client for a peer's cluster service, made on first use.
func (n *Node) peer(addr string) *peerClient {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	c := n.peers[addr]
	if c == nil {
		c = &peerClient{addr: addr, token: n.mux.token, tls: n.mux.tls}
		n.peers[addr] = c
	}
	return c
}

// peerClient is one multiplexed connection to a peer's cluster service.
type peerClient struct {
	addr  string
	token []byte
	tls   *peerTLS

	mu      sync.Mutex
	conn    net.Conn
	bw      *bufio.Writer
	nextID  uint64
	pending map[uint64]chan []byte
}

type callError struct {
	sent bool // the request may have reached the peer
	err  error
}

func (e *callError) Error() string { return e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// call sends one request and decodes its reply. It fails with a
// *callError if the call went wrong on the way (sent says whether the peer
// may have got it), errShortReply if the reply is malformed, or the cluster
// error the reply's status names.
func (c *peerClient) call(ctx context.Context, typ byte, payload []byte) (peerReply, error) {
	b, err := c.roundTrip(ctx, typ, payload)
	if err != nil {
		return peerReply{}, err
	}
	r, err := decodePeerReply(b)
	if err != nil {
		return peerReply{}, err
	}
	if err := errOf(r.status); err != nil {
		if r.status == stRefused || r.status == stDiskFull {
			err = fmt.Errorf("%w: %s", err, r.body)
		}
		return r, err
	}
	return r, nil
}

// roundTrip sends one request and waits for its reply's bytes.
func (c *peerClient) roundTrip(ctx context.Context, typ byte, payload []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.conn == nil {
		// A peer that is gone (its host unreachable) costs a caller no
		// more than its own deadline (ROLE, RAFT STATUS ask every member).
		timeout := peerDialTimeout
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d))
		}
		if timeout <= 0 {
			c.mu.Unlock()
			return nil, &callError{sent: false, err: context.DeadlineExceeded}
		}
		conn, err := dialPeer(c.addr, protoService, c.token, c.tls, timeout)
		if err != nil {
			c.mu.Unlock()
			return nil, &callError{sent: false, err: err}
		}
		c.conn, c.bw, c.pending = conn, bufio.NewWriter(conn), map[uint64]chan []byte{}
		go c.readLoop(conn, c.pending)
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	err := writeFrame(c.bw, typ, id, payload)
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		c.dropLocked()
		c.mu.Unlock()
		return nil, &callError{sent: true, err: err}
	}
	c.mu.Unlock()
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, &callError{sent: true, err: errors.New("peer connection lost")}
		}
		return resp, nil
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		return nil, &callError{sent: true, err: ctx.Err()}
	}
}

func (c *peerClient) readLoop(conn net.Conn, pending map[uint64]chan []byte) {
	r := bufio.NewReader(conn)
	for {
		_, id, payload, err := readFrame(r, maxReplyFrame, nil)
		c.mu.Lock()
		if err != nil {
			if c.conn == conn {
				c.dropLocked()
			}
			c.mu.Unlock()
			return
		}
		ch := pending[id]
		delete(pending, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- payload
		}
	}
}

// dropLocked closes the connection and fails every call waiting on it.
func (c *peerClient) dropLocked() {
	if c.conn == nil {
		return
	}
	c.conn.Close()
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.conn, c.bw, c.pending = nil, nil, nil
}

func (c *peerClient) close() {
	c.mu.Lock()
	c.dropLocked()
	c.mu.Unlock()
}
