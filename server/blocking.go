package server

import (
	"crypto/tls"
	"errors"
	"math"
	"net"
	"sync"
	"time"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// Blocking list and sorted set commands (BLPOP BRPOP BLMOVE BRPOPLPUSH
// BLMPOP, BZPOPMIN BZPOPMAX BZMPOP).
//
// A blocked client waits on the node it talks to; the log knows nothing of
// it. Each attempt to pop is an ordinary write: proposed, applied in order
// on every node, popping only if its list has an element then (the fsm's
// handler is the non-blocking form). So two waiters, on one node or on
// two, never get the same element, and an element is taken only by an
// attempt whose reply goes back to its client.
//
// The wait: the client registers its source keys, then attempts, unless
// none of them exists here (mayPop). A client whose attempt found nothing
// (a null reply) waits until this node applies a write that stores a list
// (or a sorted set) at one of the keys (fsm.FSM.OnListWrite), then attempts again, until its
// timeout. A timeout or a disconnect noticed while waiting loses nothing:
// no attempt is in flight then. An attempt in flight when the timeout
// passes is waited for and its reply delivered.
// Inside MULTI the commands are queued and run once, as in Redis.
//
// Limits: a disconnect is noticed by peeking at the socket (every
// blockPoll) for its end, so a client that sent more commands after the
// blocking one, or a TLS client's close_notify, is noticed only at its
// timeout or when the attempt that serves it runs (its element is then
// popped and its reply lost, as Redis loses a pop's reply to a client that
// vanished after it).

// blockPoll is how often a blocked client's connection is checked for a
// disconnect, and its idle time reset (a blocked client is not idle).
const blockPoll = 100 * time.Millisecond

var nullArrayReply = []byte("*-1\r\n")

// blockKey is a list a client waits on.
type blockKey struct {
	db  int
	key string
}

// waiter is one blocked client: wake gets a token when one of its lists
// may have grown.
type waiter struct {
	keys []blockKey
	wake chan struct{}
}

// blockRegistry knows who waits on which list. Its zero value is ready.
type blockRegistry struct {
	mu      sync.Mutex
	waiters map[blockKey]map[*waiter]struct{}
	all     map[*waiter]struct{}
}

func (r *blockRegistry) add(db int, keys [][]byte) *waiter {
	w := &waiter{wake: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.waiters == nil {
		r.waiters = map[blockKey]map[*waiter]struct{}{}
		r.all = map[*waiter]struct{}{}
	}
	for _, k := range keys {
		bk := blockKey{db, string(k)}
		w.keys = append(w.keys, bk)
		if r.waiters[bk] == nil {
			r.waiters[bk] = map[*waiter]struct{}{}
		}
		r.waiters[bk][w] = struct{}{}
	}
	r.all[w] = struct{}{}
	return w
}

func (r *blockRegistry) remove(w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, bk := range w.keys {
		delete(r.waiters[bk], w)
		if len(r.waiters[bk]) == 0 {
			delete(r.waiters, bk)
		}
	}
	delete(r.all, w)
}

// notify wakes the clients waiting on db/key, or every waiter for db -1
// (a snapshot was restored). It runs under the fsm's write lock: it only
// drops tokens into buffered channels.
func (r *blockRegistry) notify(db int, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if db < 0 {
		for w := range r.all {
			w.poke()
		}
		return
	}
	for w := range r.waiters[blockKey{db, key}] {
		w.poke()
	}
}

func (w *waiter) poke() {
	select {
	case w.wake <- struct{}{}:
	default: // a token is already there
	}
}

// blocked returns how many clients are blocked (for tests and INFO).
func (r *blockRegistry) blocked() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.all)
}

// block runs a blocking command outside MULTI.
func (p *pipeline) block(cmd *fsm.Command, args [][]byte) {
	s, st := p.s, p.st
	op := fsm.Op{DB: st.db, Args: cloneArgs(args)}
	aclRev := p.cmdRev // the revision of the users this command was checked at
	keys, timeout, ok := fsm.BlockSpec(cmd, op.Args)
	if !ok { // the attempt answers the error
		reply, _ := p.attempt(op, aclRev)
		p.reply(reply)
		return
	}
	w := s.blocked.add(op.DB, keys) // before the first attempt: no push is missed
	defer s.blocked.remove(w)
	var deadline <-chan time.Time
	if timeout > 0 && timeout <= math.MaxInt64/int64(time.Millisecond) { // longer: over 292 years, as good as for ever
		t := time.NewTimer(time.Duration(timeout) * time.Millisecond)
		defer t.Stop()
		deadline = t.C
	}
	poll := time.NewTicker(blockPoll)
	defer poll.Stop()
	for {
		if s.mayPop(op.DB, keys) {
			reply, empty := p.attempt(op, aclRev)
			if !empty {
				p.reply(reply)
				return
			}
		}
	wait:
		for {
			select {
			case <-w.wake:
				break wait
			case <-deadline:
				p.reply(nullArrayReply)
				return
			case <-s.stop:
				p.closed = true
				return
			case <-poll.C:
				if connGone(p.conn.NetConn()) {
					p.closed = true
					return
				}
				st.mu.Lock()
				st.lastUsed = time.Now()
				st.mu.Unlock()
			}
		}
	}
}

// mayPop reports whether an attempt could find something: whether any of
// keys exists in this node's keyspace, at the time of the last entry it
// applied. If none does, an attempt would pop nothing, and proposing it
// would cost an entry in the log (a consumer polling an idle queue would
// write one per poll); the client waits for a write to one of them
// instead, which this node applies, and wakes it, like any other. A key
// of another kind counts: the attempt answers WRONGTYPE.
func (s *Server) mayPop(db int, keys [][]byte) bool {
	args := append([][]byte{[]byte("EXISTS")}, keys...)
	return string(s.fsm.Read(db, 0, 0, args, nil)) != ":0\r\n"
}

// attempt proposes one attempt of a blocking command and returns its
// reply; empty is true when it found nothing to pop (a null reply).
func (p *pipeline) attempt(op fsm.Op, aclRev uint64) (reply []byte, empty bool) {
	req := fsm.Request{Ops: []fsm.Op{op}}
	if aclRev != 0 {
		req.User, req.ACLRev = p.st.user, aclRev
	}
	reply, index, err := p.s.propose(req)
	if index > p.st.lastIndex {
		p.st.lastIndex = index
	}
	switch {
	case errors.Is(err, cluster.ErrReadOnly):
		return p.s.refused(req.Ops), false
	case err != nil:
		return errorReply(err), false
	}
	return reply, string(reply) == "*-1\r\n" || string(reply) == string(resp.AppendNull(nil))
}

// connGone reports whether the client closed its connection (or it was
// closed here, by CLIENT KILL): the socket under the guard and TLS layers
// is at its end. It peeks, so it takes nothing a later read would get.
func connGone(c net.Conn) bool {
	for {
		switch x := c.(type) {
		case *guardConn:
			c = x.Conn
			continue
		case *alertSpy:
			c = x.Conn
			continue
		case interface{ NetConn() net.Conn }: // *tls.Conn and tlsConn
			c = x.NetConn()
			continue
		}
		break
	}
	return socketAtEOF(c)
}

// connGone unwraps TLS through NetConn: checked here at compile time.
var _ interface{ NetConn() net.Conn } = (*tls.Conn)(nil)
