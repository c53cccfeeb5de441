package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// nfqDelayer delays packets in userspace: an iptables NFQUEUE rule hands
// each packet to it over netlink (NETLINK_NETFILTER, nfnetlink_queue), and
// it gives the verdict ACCEPT after the delay. It stands in for tc netem
// on kernels built without sch_netem. The socket lives in the node's
// namespace; the rule uses --queue-bypass, so packets flow undelayed when
// no delayer listens.

const (
	nfnlSubsysQueue    = 3
	nfqnlMsgPacket     = 0
	nfqnlMsgVerdict    = 1
	nfqnlMsgConfig     = 2
	nfqaCfgCmd         = 1
	nfqaCfgParams      = 2
	nfqaCfgQueueMaxlen = 3
	nfqaPacketHdr      = 1
	nfqaVerdictHdr     = 2
	nfqnlCfgCmdBind    = 1
	nfqnlCopyMeta      = 1
	nfAccept           = 1
)

type nfqDelayer struct {
	queue         uint16
	delay, jitter time.Duration

	mu     sync.RWMutex // held for writing to close fd; senders hold it for reading
	fd     int
	closed bool
	done   chan struct{}
}

// startDelayer binds queue in namespace ns and delays every packet it gets.
func startDelayer(ns string, queue uint16, delay, jitter time.Duration) (*nfqDelayer, error) {
	fd, err := netlinkInNS(ns)
	if err != nil {
		return nil, err
	}
	d := &nfqDelayer{queue: queue, delay: delay, jitter: jitter, fd: fd, done: make(chan struct{})}
	tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET}
	params := []byte{0, 0, 0, 0, nfqnlCopyMeta} // copy_range (BE), copy_mode: packed
	maxlen := binary.BigEndian.AppendUint32(nil, 8192)
	for i, attrs := range [][]byte{nlattr(nfqaCfgCmd, cmd), append(nlattr(nfqaCfgParams, params), nlattr(nfqaCfgQueueMaxlen, maxlen)...)} {
		if err := d.request(nfqnlMsgConfig, uint32(i+1), attrs); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("nfqueue %d config: %w", queue, err)
		}
	}
	go d.loop()
	return d, nil
}

// netlinkInNS opens a netfilter netlink socket inside a named namespace:
// the thread enters the namespace, opens the socket (which stays bound to
// that namespace) and comes back. Only if it cannot come back is the
// thread left locked, to die with the goroutine.
func netlinkInNS(ns string) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer home.Close()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if unix.Setns(int(home.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

func nlattr(typ uint16, payload []byte) []byte {
	l := 4 + len(payload)
	b := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(l))
	binary.NativeEndian.PutUint16(b[2:], typ)
	copy(b[4:], payload)
	return b
}

func (d *nfqDelayer) message(msg uint16, flags uint16, seq uint32, attrs []byte) []byte {
	b := make([]byte, 20, 20+len(attrs))
	binary.NativeEndian.PutUint32(b[0:], uint32(20+len(attrs)))
	binary.NativeEndian.PutUint16(b[4:], nfnlSubsysQueue<<8|msg)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	b[16], b[17] = unix.AF_UNSPEC, 0 // nfgenmsg: family, version
	binary.BigEndian.PutUint16(b[18:], d.queue)
	return append(b, attrs...)
}

// request sends a message with NLM_F_ACK and waits for its ack.
func (d *nfqDelayer) request(msg uint16, seq uint32, attrs []byte) error {
	if err := unix.Sendto(d.fd, d.message(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK, seq, attrs), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(d.fd, buf, 0)
		if err != nil {
			return err
		}
		for b := buf[:n]; len(b) >= 16; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			typ := binary.NativeEndian.Uint16(b[4:])
			if l < 16 || l > len(b) {
				break
			}
			if typ == unix.NLMSG_ERROR && binary.NativeEndian.Uint32(b[8:]) == seq {
				if code := int32(binary.NativeEndian.Uint32(b[16:])); code != 0 {
					return unix.Errno(-code)
				}
				return nil
			}
			b = b[(l+3)&^3:]
		}
	}
}

func (d *nfqDelayer) loop() {
	defer close(d.done)
	buf := make([]byte, 1<<16)
	for {
		d.mu.RLock()
		closed, fd := d.closed, d.fd
		d.mu.RUnlock()
		if closed {
			return
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
				continue
			}
			return
		}
		for b := buf[:n]; len(b) >= 20; {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < 20 || l > len(b) {
				break
			}
			if binary.NativeEndian.Uint16(b[4:]) == nfnlSubsysQueue<<8|nfqnlMsgPacket {
				if id, ok := packetID(b[20:l]); ok {
					wait := d.delay
					if d.jitter > 0 {
						wait += time.Duration(rand.Int64N(int64(2*d.jitter))) - d.jitter
					}
					time.AfterFunc(max(wait, 0), func() { d.accept(id) })
				}
			}
			b = b[(l+3)&^3:]
		}
	}
}

func packetID(attrs []byte) (uint32, bool) {
	for len(attrs) >= 4 {
		l := int(binary.NativeEndian.Uint16(attrs[0:]))
		typ := binary.NativeEndian.Uint16(attrs[2:]) & 0x3fff
		if l < 4 || l > len(attrs) {
			return 0, false
		}
		if typ == nfqaPacketHdr && l >= 8 {
			return binary.BigEndian.Uint32(attrs[4:]), true
		}
		attrs = attrs[(l+3)&^3:]
	}
	return 0, false
}

func (d *nfqDelayer) accept(id uint32) {
	v := binary.BigEndian.AppendUint32(nil, nfAccept)
	v = binary.BigEndian.AppendUint32(v, id)
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	unix.Sendto(d.fd, d.message(nfqnlMsgVerdict, unix.NLM_F_REQUEST, 0, nlattr(nfqaVerdictHdr, v)), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// Close stops delaying. Packets still queued are dropped by the kernel
// when the socket closes; TCP sends them again.
func (d *nfqDelayer) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	<-d.done
	d.mu.Lock()
	unix.Close(d.fd)
	d.mu.Unlock()
}
