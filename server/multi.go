package server

import (
	"bytes"
	"errors"

	"github.com/statehouse/statehouse/cluster"
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// multiState is a connection inside MULTI: queued commands, and whether a
// queuing error means EXEC must abort.
type multiState struct {
	ops   []queued
	dirty bool
}

// queued is one command queued by MULTI.
type queued struct {
	cmd  *fsm.Command
	args [][]byte
}

// queue handles a command sent inside MULTI. The command is known, its
// arity is right and the client is authenticated: the dispatcher checked.
// As in Redis, a queued SELECT or PING fails only when EXEC runs it.
func (p *pipeline) queue(cmd *fsm.Command, args [][]byte) []byte {
	m := p.st.multi
	if cmd.Flags&fsm.FlagNoMulti != 0 {
		m.dirty = true
		return resp.AppendError(nil, "ERR Command not allowed inside a transaction")
	}
	m.ops = append(m.ops, queued{cmd: cmd, args: cloneArgs(args)})
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

// execCmd runs a transaction: its keyspace commands as one atomic request
// through the log, its front-door commands (SELECT, PING, ECHO) here, in
// order, so a SELECT changes the database of the commands after it. If
// the request does not run (a WATCHed key changed, or the cluster failed
// it), the connection is left as it was before EXEC, database included.
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
	db := st.db
	req := fsm.Request{Atomic: true, Conds: conds}
	if p.s.fsm.ACLRev() != 0 {
		// Checked as they were queued; the fsm checks them again as the
		// transaction applies (revision 0 never matches), as Redis checks
		// a transaction's commands again at EXEC.
		req.User = st.user
	}
	local := make([][]byte, len(m.ops)) // front-door replies; nil for keyspace ops
	run := func(i int) {
		out := []byte{}
		p.capture = &out
		m.ops[i].cmd.Conn(p, m.ops[i].args)
		p.capture = nil
		local[i] = out
	}
	// The front door's commands run in order with the keyspace ops queued
	// (SELECT changes the database of those after it), but for those that
	// wait until the transaction applied.
	var after []int
	for i, q := range m.ops {
		switch {
		case q.cmd.Conn == nil:
			req.Ops = append(req.Ops, fsm.Op{DB: st.db, Args: q.args})
		case q.cmd.Flags&fsm.FlagAfterExec != 0:
			after = append(after, i)
			local[i] = []byte{} // a placeholder: not a keyspace op
		default:
			run(i)
		}
	}
	runAfter := func() {
		for _, i := range after {
			run(i)
		}
	}
	if len(req.Ops) == 0 && len(conds) == 0 {
		runAfter()
		p.reply(resp.AppendArray(nil, len(m.ops)))
		for _, r := range local {
			p.reply(r)
		}
		return
	}
	reply, index, err := p.s.propose(req)
	if index > st.lastIndex {
		st.lastIndex = index
	}
	if err != nil {
		setDB(st, db)
		if errors.Is(err, cluster.ErrReadOnly) {
			p.reply(p.s.refusedOps(req.Ops))
			return
		}
		p.reply(errorReply(err))
		return
	}
	if bytes.HasPrefix(reply, []byte("*-1")) {
		setDB(st, db) // a watched key changed: nothing ran, SELECT included
		p.reply(reply)
		return
	}
	runAfter() // the transaction applied: now its messages go out
	if len(req.Ops) == len(m.ops) {
		p.reply(reply)
		return
	}
	// Interleave the front door's replies with the keyspace's.
	parts := resp.SplitArray(reply)
	out := resp.AppendArray(nil, len(m.ops))
	j := 0
	for _, r := range local {
		if r != nil {
			out = append(out, r...)
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
