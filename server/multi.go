package server

import (
	"strings"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// multiState is a connection inside MULTI: queued ops, and whether a
// queuing error means EXEC must abort.
type multiState struct {
	ops   []queued
	dirty bool
}

// queued is one command queued by MULTI. Keyspace commands become ops of
// one atomic request; SELECT, PING and ECHO are answered here at EXEC.
type queued struct {
	op    fsm.Op
	local []byte // reply of a connection command; nil for keyspace ops
}

// multiControl are the commands that act, rather than queue, inside MULTI.
var multiControl = map[string]bool{"exec": true, "discard": true, "multi": true, "watch": true, "unwatch": true, "quit": true, "reset": true}

// queue handles a command sent inside MULTI. The command is known, its
// arity is right and the client is authenticated: the dispatcher checked.
// As in Redis, SELECT and PING fail only when EXEC runs them.
func (s *Server) queue(st *connState, name string, args [][]byte) []byte {
	m := st.multi
	switch name {
	case "select":
		q := queued{local: resp.AppendOK(nil), op: fsm.Op{DB: -1}}
		if _, ok := resp.ParseInt(args[1]); !ok {
			q.local = resp.AppendError(nil, resp.ErrNotInt)
		} else if db, ok := parseDB(args[1]); !ok {
			q.local = resp.AppendError(nil, resp.ErrDBIndex)
		} else {
			// Later ops in the transaction run against the new database.
			q.op.DB = db
		}
		m.ops = append(m.ops, q)
		return resp.AppendStatus(nil, "QUEUED")
	case "ping":
		r := resp.AppendStatus(nil, "PONG")
		switch len(args) {
		case 1:
		case 2:
			r = resp.AppendBulk(nil, args[1])
		default:
			r = wrongArity(name)
		}
		m.ops = append(m.ops, queued{local: r, op: fsm.Op{DB: -1}})
		return resp.AppendStatus(nil, "QUEUED")
	case "echo":
		m.ops = append(m.ops, queued{local: resp.AppendBulk(nil, args[1]), op: fsm.Op{DB: -1}})
		return resp.AppendStatus(nil, "QUEUED")
	}
	if _, ok := connCommands[name]; ok {
		m.dirty = true
		return resp.AppendError(nil, "ERR Command not allowed inside a transaction")
	}
	m.ops = append(m.ops, queued{op: fsm.Op{DB: -1, Args: cloneArgs(args)}})
	return resp.AppendStatus(nil, "QUEUED")
}

func multiCmd(p *pipeline, args [][]byte) {
	if p.st.multi != nil {
		p.reply(resp.AppendError(nil, "ERR MULTI calls can not be nested"))
		return
	}
	p.st.multi = &multiState{}
	p.reply(resp.AppendOK(nil))
}

func discardCmd(p *pipeline, args [][]byte) {
	if p.st.multi == nil {
		p.reply(resp.AppendError(nil, "ERR DISCARD without MULTI"))
		return
	}
	p.st.multi = nil
	p.st.watch = nil
	p.reply(resp.AppendOK(nil))
}

func watchCmd(p *pipeline, args [][]byte) {
	if p.st.multi != nil {
		p.reply(resp.AppendError(nil, "ERR WATCH inside MULTI is not allowed"))
		return
	}
	// The revision read here may be stale on a lagging node; a stale
	// revision can only make EXEC abort, never let a conflict through.
	now := p.s.cl.Now()
	for _, k := range args[1:] {
		key := append([]byte(nil), k...)
		p.st.watch = append(p.st.watch, p.s.fsm.Watch(p.st.db, now, key))
	}
	p.reply(resp.AppendOK(nil))
}

func unwatchCmd(p *pipeline, args [][]byte) {
	p.st.watch = nil
	p.reply(resp.AppendOK(nil))
}

func execCmd(p *pipeline, args [][]byte) {
	st := p.st
	m := st.multi
	if m == nil {
		p.reply(resp.AppendError(nil, "ERR EXEC without MULTI"))
		return
	}
	st.multi = nil
	conds := st.watch
	st.watch = nil
	if m.dirty {
		p.reply(resp.AppendError(nil, "EXECABORT Transaction discarded because of previous errors."))
		return
	}
	// Assign databases in order: a queued SELECT changes the db of what follows.
	db := st.db
	req := fsm.Request{Atomic: true, Conds: conds}
	for i := range m.ops {
		q := &m.ops[i]
		if q.local != nil {
			if q.op.DB >= 0 {
				db = q.op.DB
			}
			continue
		}
		q.op.DB = db
		req.Ops = append(req.Ops, q.op)
	}
	if len(req.Ops) == 0 && len(conds) == 0 {
		setDB(st, db)
		out := resp.AppendArray(nil, len(m.ops))
		for _, q := range m.ops {
			out = append(out, q.local...)
		}
		p.reply(out)
		return
	}
	reply, index, err := p.s.propose(req)
	if index > st.lastIndex {
		st.lastIndex = index
	}
	if err != nil {
		p.reply(errorReply(err))
		return
	}
	if strings.HasPrefix(string(reply), "*-1") {
		p.reply(reply) // a watched key changed: nothing ran, SELECT included
		return
	}
	setDB(st, db)
	if len(req.Ops) == len(m.ops) {
		p.reply(reply)
		return
	}
	// Interleave the connection commands' replies with the keyspace's.
	parts := resp.SplitArray(reply)
	out := resp.AppendArray(nil, len(m.ops))
	j := 0
	for _, q := range m.ops {
		if q.local != nil {
			out = append(out, q.local...)
		} else if j < len(parts) {
			out = append(out, parts[j]...)
			j++
		}
	}
	p.reply(out)
}

func setDB(st *connState, db int) {
	st.mu.Lock()
	st.db = db
	st.mu.Unlock()
}
