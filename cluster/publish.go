package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Pub/Sub across the cluster: a message published on one node reaches the
// subscribers of every node. It goes over the peer port, not the log:
// Redis's pub/sub is fire-and-forget (at most once, nothing kept), and a
// log entry per message would cost a disk write for nothing kept. Each
// node sends to each member through one queue and one sender, which waits
// for a batch's answer before the next: a publisher's messages arrive in
// the order it published them. A member that cannot be reached, or whose
// queue is full, loses the messages meant for it, as a Redis subscriber
// whose connection drops does.

// publishQueueLen and publishQueueBytes bound the messages waiting for
// one member.
const (
	publishQueueLen   = 4096
	publishQueueBytes = 64 << 20
)

// publishBatchBytes bounds one batch of messages sent to a member.
const publishBatchBytes = 1 << 20

// Published is one message for the subscribers of a node.
type Published struct {
	Shard   bool // SPUBLISH: shard channel subscribers only
	Channel []byte
	Message []byte
}

type publisher struct {
	mu      sync.Mutex
	queues  map[string]*publishQueue // by member peer address
	deliver atomic.Pointer[func(Published)]
	dropped atomic.Uint64
}

// OnPublished sets what this node does with a message published on
// another node: the server hands it to its subscribers.
func (n *Node) OnPublished(fn func(Published)) { n.pub.deliver.Store(&fn) }

// PublishDropped counts messages not sent to a member (its queue was full).
func (n *Node) PublishDropped() uint64 { return n.pub.dropped.Load() }

// Publish sends a message to every other member of the Raft
// configuration; it does not wait for them.
func (n *Node) Publish(m Published) {
	self := n.self()
	for _, s := range n.configServers() {
		if string(s.Address) == self {
			continue
		}
		if !n.pubQueue(s.Address).put(m) {
			if n.pub.dropped.Add(1)%1000 == 1 {
				n.log.Warn("pub/sub messages for a member dropped: it does not take them fast enough", "peer", s.Address)
			}
		}
	}
}

// publishQueue is one member's messages, bounded in count and bytes.
type publishQueue struct {
	ch    chan Published
	bytes atomic.Int64
}

func (q *publishQueue) put(m Published) bool {
	size := int64(len(m.Channel) + len(m.Message))
	if q.bytes.Add(size) <= publishQueueBytes {
		select {
		case q.ch <- m:
			return true
		default:
		}
	}
	q.bytes.Add(-size)
	return false
}

func (q *publishQueue) take(m Published) Published {
	q.bytes.Add(-int64(len(m.Channel) + len(m.Message)))
	return m
}

func (n *Node) pubQueue(addr raft.ServerAddress) *publishQueue {
	n.pub.mu.Lock()
	defer n.pub.mu.Unlock()
	if n.pub.queues == nil {
		n.pub.queues = map[string]*publishQueue{}
	}
	q, ok := n.pub.queues[string(addr)]
	if !ok {
		q = &publishQueue{ch: make(chan Published, publishQueueLen)}
		n.pub.queues[string(addr)] = q
		go n.sendPublished(string(addr), q) // ends with the node (n.stop)
	}
	return q
}

// sendPublished sends one member its messages, in order, in batches.
func (n *Node) sendPublished(addr string, q *publishQueue) {
	stopped, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() {
		select {
		case <-n.stop:
			cancelAll()
		case <-stopped.Done():
		}
	}()
	var buf []byte
	for {
		var m Published
		select {
		case m = <-q.ch:
		case <-n.stop:
			return
		}
		buf = appendPublished(buf[:0], q.take(m))
	more:
		for len(buf) < publishBatchBytes {
			select {
			case m = <-q.ch:
				buf = appendPublished(buf, q.take(m))
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(stopped, serviceCallTimeout)
		_, err := n.peer(addr).call(ctx, msgPublish, buf)
		cancel()
		if err != nil {
			n.log.Debug("pub/sub messages to a member lost", "peer", addr, "err", err)
		}
	}
}

func appendPublished(b []byte, m Published) []byte {
	var kind byte
	if m.Shard {
		kind = 1
	}
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(m.Channel)))
	b = append(b, m.Channel...)
	b = binary.AppendUvarint(b, uint64(len(m.Message)))
	return append(b, m.Message...)
}

var errBadPublished = errors.New("malformed published messages")

// decodePublished calls fn for each message of a batch.
func decodePublished(b []byte, fn func(Published)) error {
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, false
		}
		v := b[k : k+int(l)]
		b = b[k+int(l):]
		return v, true
	}
	for len(b) > 0 {
		kind := b[0]
		b = b[1:]
		ch, ok1 := field()
		msg, ok2 := field()
		if !ok1 || !ok2 || kind > 1 {
			return errBadPublished
		}
		fn(Published{Shard: kind == 1, Channel: ch, Message: msg})
	}
	return nil
}

// receivePublished hands a batch from a member to this node's subscribers.
func (n *Node) receivePublished(payload []byte) []byte {
	fn := n.pub.deliver.Load()
	err := decodePublished(payload, func(m Published) {
		if fn != nil {
			(*fn)(m)
		}
	})
	if err != nil {
		return peerReply{status: stRefused, body: []byte(err.Error())}.encode()
	}
	return peerReply{status: stOK}.encode()
}
