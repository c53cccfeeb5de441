package server

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
	"github.com/tidwall/redcon"
)

// Pub/Sub as Redis has it, across the cluster: a message published on any
// node reaches the subscribers of every node (cluster/publish.go carries
// it to the others), at most once, in the order each publisher published.
// PUBLISH answers how many subscribers of this node received it and
// PUBSUB answers for this node, as Redis Cluster does.
//
// A connection's first SUBSCRIBE detaches it from redcon's loop: messages
// must reach it while it waits for nothing, so it gets a goroutine that
// reads its commands and one that writes its messages, which take turns
// on the connection (subscriber.mu).

// subscriberQueueLen and subscriberQueueBytes bound the messages waiting
// for one subscriber; past either the subscriber is disconnected, as Redis
// disconnects one past client-output-buffer-limit pubsub (32mb).
const (
	subscriberQueueLen   = 8192
	subscriberQueueBytes = 32 << 20
)

type pubsubHub struct {
	mu       sync.RWMutex
	channels map[string]map[*subscriber]struct{}
	patterns map[string]map[*subscriber]struct{}
	shards   map[string]map[*subscriber]struct{}
}

type subscriber struct {
	st       *connState
	dc       redcon.DetachedConn
	mu       sync.Mutex // one writer at a time on dc
	out      chan []byte
	queued   atomic.Int64 // bytes in out
	gone     chan struct{}
	overflow atomic.Bool
	started  bool // its goroutines run (set by the connection's goroutine)

	// The subscriptions; changed under hub.mu by the connection's goroutine.
	channels, patterns, shards map[string]struct{}
}

func (sub *subscriber) count() int { return len(sub.channels) + len(sub.patterns) }

// kinds of subscription
const (
	subChannel = iota
	subPattern
	subShard
)

var subNames = [...][2]string{
	{"subscribe", "unsubscribe"}, {"psubscribe", "punsubscribe"}, {"ssubscribe", "sunsubscribe"},
}

func (h *pubsubHub) table(kind int) *map[string]map[*subscriber]struct{} {
	switch kind {
	case subPattern:
		return &h.patterns
	case subShard:
		return &h.shards
	}
	return &h.channels
}

func (sub *subscriber) set(kind int) *map[string]struct{} {
	switch kind {
	case subPattern:
		return &sub.patterns
	case subShard:
		return &sub.shards
	}
	return &sub.channels
}

// subscribed reports whether the connection is in Redis's subscribed
// state: only (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET then.
func (st *connState) subscribed() bool {
	return st.sub != nil && (st.sub.count() > 0 || len(st.sub.shards) > 0)
}

// subscribedOK are the commands a subscribed connection may send.
var subscribedOK = map[string]bool{
	"subscribe": true, "psubscribe": true, "ssubscribe": true, "unsubscribe": true, "punsubscribe": true,
	"sunsubscribe": true, "ping": true, "quit": true, "reset": true,
}

func subscribedError(cmd *fsm.Command) []byte {
	return resp.AppendError(nil, "ERR Can't execute '"+cmd.FullName()+"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
}

// subscriberOf returns the connection's subscriber, detaching the
// connection from redcon on its first subscription.
func (p *pipeline) subscriberOf() *subscriber {
	st := p.st
	if st.sub == nil {
		st.sub = &subscriber{st: st, out: make(chan []byte, subscriberQueueLen), gone: make(chan struct{}),
			channels: map[string]struct{}{}, patterns: map[string]struct{}{}, shards: map[string]struct{}{}}
		st.sub.dc = p.conn.Detach()
		st.pubsub.Store(true)
	}
	return st.sub
}

func subscribeCmd(kind int) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		if e := p.channelsCheck(args[1:], kind == subPattern); e != nil {
			p.reply(e)
			return
		}
		sub := p.subscriberOf()
		h := &p.s.pubsub
		h.mu.Lock()
		var out []byte
		for _, a := range args[1:] {
			ch := string(a)
			mine := sub.set(kind)
			if _, ok := (*mine)[ch]; !ok {
				(*mine)[ch] = struct{}{}
				t := h.table(kind)
				if *t == nil {
					*t = map[string]map[*subscriber]struct{}{}
				}
				if (*t)[ch] == nil {
					(*t)[ch] = map[*subscriber]struct{}{}
				}
				(*t)[ch][sub] = struct{}{}
			}
			out = subReply(out, subNames[kind][0], a, sub, kind)
		}
		h.mu.Unlock()
		p.reply(out)
	}
}

func unsubscribeCmd(kind int) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		var out []byte
		sub := p.st.sub
		if sub == nil {
			sub = &subscriber{} // never subscribed: answered as from an empty set, as Redis does
		}
		names := args[1:]
		if len(names) == 0 {
			for ch := range *sub.set(kind) {
				names = append(names, []byte(ch))
			}
			sort.Slice(names, func(i, j int) bool { return string(names[i]) < string(names[j]) })
			if len(names) == 0 {
				out = resp.AppendArray(out, 3)
				out = resp.AppendBulkString(out, subNames[kind][1])
				out = resp.AppendNull(out)
				out = resp.AppendInt(out, int64(subCount(sub, kind)))
			}
		}
		h := &p.s.pubsub
		h.mu.Lock()
		for _, a := range names {
			h.remove(sub, kind, string(a))
			out = subReply(out, subNames[kind][1], a, sub, kind)
		}
		h.mu.Unlock()
		p.reply(out)
	}
}

func subCount(sub *subscriber, kind int) int {
	if kind == subShard {
		return len(sub.shards)
	}
	return sub.count()
}

func subReply(out []byte, name string, ch []byte, sub *subscriber, kind int) []byte {
	out = resp.AppendArray(out, 3)
	out = resp.AppendBulkString(out, name)
	out = resp.AppendBulk(out, ch)
	return resp.AppendInt(out, int64(subCount(sub, kind)))
}

// remove drops one subscription; the caller holds h.mu.
func (h *pubsubHub) remove(sub *subscriber, kind int, ch string) {
	delete(*sub.set(kind), ch)
	t := *h.table(kind)
	if subs := t[ch]; subs != nil {
		delete(subs, sub)
		if len(subs) == 0 {
			delete(t, ch)
		}
	}
}

// removeAll drops every subscription of sub (RESET, a closed connection).
func (h *pubsubHub) removeAll(sub *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for kind := subChannel; kind <= subShard; kind++ {
		for ch := range *sub.set(kind) {
			h.remove(sub, kind, ch)
		}
	}
}

// deliver hands a message to this node's subscribers and returns how many
// received it.
func (s *Server) deliver(m cluster.Published) int {
	h := &s.pubsub
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	ch := string(m.Channel)
	if m.Shard {
		if subs := h.shards[ch]; len(subs) > 0 {
			msg := pushMessage("smessage", nil, m.Channel, m.Message)
			for sub := range subs {
				sub.push(msg)
				n++
			}
		}
		return n
	}
	if subs := h.channels[ch]; len(subs) > 0 {
		msg := pushMessage("message", nil, m.Channel, m.Message)
		for sub := range subs {
			sub.push(msg)
			n++
		}
	}
	for pat, subs := range h.patterns {
		if fsm.Match([]byte(pat), m.Channel) {
			msg := pushMessage("pmessage", []byte(pat), m.Channel, m.Message)
			for sub := range subs {
				sub.push(msg)
				n++
			}
		}
	}
	return n
}

func pushMessage(kind string, pattern, ch, msg []byte) []byte {
	var out []byte
	if pattern != nil {
		out = resp.AppendArray(out, 4)
		out = resp.AppendBulkString(out, kind)
		out = resp.AppendBulk(out, pattern)
	} else {
		out = resp.AppendArray(out, 3)
		out = resp.AppendBulkString(out, kind)
	}
	out = resp.AppendBulk(out, ch)
	return resp.AppendBulk(out, msg)
}

// push queues a message; a subscriber that lets too many wait is closed.
func (sub *subscriber) push(msg []byte) {
	if sub.queued.Add(int64(len(msg))) <= subscriberQueueBytes {
		select {
		case sub.out <- msg:
			return
		default:
		}
	}
	sub.queued.Add(-int64(len(msg)))
	if sub.overflow.CompareAndSwap(false, true) {
		sub.st.conn.NetConn().Close()
	}
}

// startSubscriber runs a connection that has just been detached: once
// redcon's handler has returned, it owns the connection.
func (s *Server) startSubscriber(sub *subscriber) {
	if sub.started {
		return
	}
	sub.started = true
	sub.dc.NetConn().SetReadDeadline(time.Time{}) // subscribers wait as long as they like, as in Redis
	sub.mu.Lock()
	sub.dc.Flush() // the replies of the commands redcon's handler ran
	sub.mu.Unlock()
	go s.writeMessages(sub)
	go s.readSubscriber(sub)
}

func (s *Server) writeMessages(sub *subscriber) {
	for {
		var msg []byte
		select {
		case msg = <-sub.out:
		case <-sub.gone:
			return
		}
		sub.mu.Lock()
		sub.dc.WriteRaw(msg)
		sub.queued.Add(-int64(len(msg)))
	more:
		for range 256 {
			select {
			case msg = <-sub.out:
				sub.dc.WriteRaw(msg)
				sub.queued.Add(-int64(len(msg)))
			default:
				break more
			}
		}
		err := sub.dc.Flush()
		sub.mu.Unlock()
		if err != nil {
			sub.dc.NetConn().Close()
			return
		}
	}
}

// readSubscriber runs the detached connection's commands until it closes.
func (s *Server) readSubscriber(sub *subscriber) {
	st := sub.st
	defer func() {
		close(sub.gone)
		s.pubsub.removeAll(sub)
		sub.dc.NetConn().Close()
		s.mu.Lock()
		delete(s.conns, st.id)
		s.mu.Unlock()
		if sub.overflow.Load() {
			s.log.Info("closed a subscriber that did not read its messages fast enough", "client", st.addr, "limit_messages", subscriberQueueLen, "limit_bytes", subscriberQueueBytes)
		}
	}()
	for {
		cmd, err := sub.dc.ReadCommand()
		if err != nil {
			return
		}
		sub.mu.Lock()
		p := pipeline{s: s, st: st, conn: sub.dc}
		p.command(cmd.Args)
		p.flushWrites()
		err = sub.dc.Flush()
		sub.mu.Unlock()
		st.mu.Lock()
		st.lastUsed = time.Now()
		st.mu.Unlock()
		if err != nil || p.closed {
			return
		}
	}
}

// publishCmd is PUBLISH and SPUBLISH: delivered here at once, sent to the
// other members without waiting for them.
func publishCmd(shard bool) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		if e := p.channelsCheck(args[1:2], false); e != nil {
			p.reply(e)
			return
		}
		m := cluster.Published{Shard: shard, Channel: cloneBytes(args[1]), Message: cloneBytes(args[2])}
		n := p.s.deliver(m)
		p.s.cl.Publish(m)
		p.reply(resp.AppendInt(nil, int64(n)))
	}
}

func cloneBytes(b []byte) []byte { return append([]byte(nil), b...) }

// channelsCheck checks the connection's user may use the channels (or,
// for PSUBSCRIBE, the patterns, which must be allowed as written).
func (p *pipeline) channelsCheck(chans [][]byte, patterns bool) []byte {
	if p.s.fsm.ACLRev() == 0 {
		return nil
	}
	u, ok := p.s.users().current(p.st.user, p.st.userAt)
	if !ok {
		return nil // aclCheck closes a deleted user's connection
	}
	for _, ch := range chans {
		if !u.CanChannel(ch, patterns) {
			p.s.aclLog.add(p.s, p.st, "channel", string(ch), u.Name)
			return resp.AppendError(nil, "NOPERM this user has no permissions to access one of the channels used as arguments")
		}
	}
	return nil
}

// --- PUBSUB ------------------------------------------------------------------

func pubsubChannelsCmd(kind int) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		if len(args) > 3 {
			p.reply(wrongArity("pubsub|" + strings.ToLower(string(args[1]))))
			return
		}
		h := &p.s.pubsub
		h.mu.RLock()
		var names []string
		for ch := range *h.table(kind) {
			if len(args) < 3 || fsm.Match(args[2], []byte(ch)) {
				names = append(names, ch)
			}
		}
		h.mu.RUnlock()
		sort.Strings(names)
		out := resp.AppendArray(nil, len(names))
		for _, n := range names {
			out = resp.AppendBulkString(out, n)
		}
		p.reply(out)
	}
}

func pubsubNumsubCmd(kind int) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		h := &p.s.pubsub
		h.mu.RLock()
		out := resp.AppendArray(nil, 2*(len(args)-2))
		for _, ch := range args[2:] {
			out = resp.AppendBulk(out, ch)
			out = resp.AppendInt(out, int64(len((*h.table(kind))[string(ch)])))
		}
		h.mu.RUnlock()
		p.reply(out)
	}
}

func pubsubNumpatCmd(p *pipeline, args [][]byte) {
	h := &p.s.pubsub
	h.mu.RLock()
	n := len(h.patterns)
	h.mu.RUnlock()
	p.reply(resp.AppendInt(nil, int64(n)))
}

func pubsubHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"CHANNELS [<pattern>]", "NUMPAT", "NUMSUB [<channel> ...]", "SHARDCHANNELS [<pattern>]", "SHARDNUMSUB [<shardchannel> ...]",
	))
}

// publishEvents hands the keyspace notifications of an applied entry to
// this node's subscribers (each node emits its own, from the same log).
func (s *Server) publishEvents(events []fsm.Event) {
	flags := s.fsm.NotifyFlags()
	for _, e := range events {
		db := strconv.Itoa(e.DB)
		if flags&fsm.NotifyKeyspace != 0 {
			s.deliver(cluster.Published{Channel: append([]byte("__keyspace@"+db+"__:"), e.Key...), Message: []byte(e.Event)})
		}
		if flags&fsm.NotifyKeyevent != 0 {
			s.deliver(cluster.Published{Channel: []byte("__keyevent@" + db + "__:" + e.Event), Message: e.Key})
		}
	}
}

// allowed reports whether u may still use every channel and pattern sub
// is subscribed to.
func (h *pubsubHub) allowed(sub *subscriber, u *fsm.ACLUser) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for kind := subChannel; kind <= subShard; kind++ {
		for ch := range *sub.set(kind) {
			if !u.CanChannel([]byte(ch), kind == subPattern) {
				return false
			}
		}
	}
	return true
}

// subscribed reports, from any goroutine, whether the connection has a
// subscription.
func (h *pubsubHub) subscribed(st *connState) bool {
	if !st.pubsub.Load() {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(st.sub.channels)+len(st.sub.patterns)+len(st.sub.shards) > 0
}
