package server

import (
	"strings"

	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// Lua scripting: EVAL and EVALSHA go through the log as one op carrying
// the script, run by every replica's fsm (fsm/script.go); EVAL_RO and
// EVALSHA_RO run here after the read barrier. The script cache is kept by
// every node alike: SCRIPT LOAD and SCRIPT FLUSH go through the log too,
// so EVALSHA works on any node once SCRIPT LOAD returned on one.

func evalCmd(sha, readOnly bool) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		if _, msg := fsm.ParseNumKeys(args[2:]); msg != "" {
			p.reply(resp.AppendError(nil, msg))
			return
		}
		body := args[1]
		if sha {
			b, ok := p.s.fsm.ScriptBody(string(args[1]))
			if !ok && p.barrier() == nil { // loaded on another node a moment ago?
				b, ok = p.s.fsm.ScriptBody(string(args[1]))
			}
			if !ok {
				p.reply(resp.AppendError(nil, "NOSCRIPT No matching script. Please use EVAL."))
				return
			}
			body = b
		}
		noWrites, msg := fsm.ScriptNoWrites(body)
		if msg != "" {
			p.reply(resp.AppendError(nil, msg))
			return
		}
		if readOnly || noWrites { // "#!lua flags=no-writes": the read path, as EVAL_RO
			if err := p.barrier(); err != nil {
				p.reply(errorReply(err))
				return
			}
			var user *fsm.ACLUser
			if p.s.fsm.ACLRev() != 0 {
				user = p.s.users().users[p.st.user]
			}
			p.reply(p.s.fsm.EvalRO(p.st.db, p.s.cl.Now(), uint64(p.st.id), body, args[2:], user, nil))
			return
		}
		op := append([][]byte{[]byte(fsm.ScriptCommand), body}, args[2:]...)
		req := fsm.Request{Ops: []fsm.Op{{DB: p.st.db, Args: cloneArgs(op)}}}
		if p.s.fsm.ACLRev() != 0 {
			req.User = p.st.user // the script's calls are checked against it as it runs
		}
		p.proposeOne(req)
	}
}

// proposeOne proposes a request of its own and answers with its reply.
func (p *pipeline) proposeOne(req fsm.Request) {
	reply, index, err := p.s.propose(req)
	if err != nil {
		p.reply(errorReply(err))
		return
	}
	if index > p.st.lastIndex {
		p.st.lastIndex = index
	}
	p.reply(reply)
}

func scriptLoadCmd(p *pipeline, args [][]byte) {
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: cloneArgs([][]byte{[]byte(fsm.ScriptLoadCommand), args[2]})}}})
}

func scriptFlushCmd(p *pipeline, args [][]byte) {
	if len(args) > 3 || len(args) == 3 && !resp.EqualFold(args[2], "sync") && !resp.EqualFold(args[2], "async") {
		p.reply(resp.AppendError(nil, "ERR SCRIPT FLUSH only support SYNC|ASYNC option"))
		return
	}
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte(fsm.ScriptFlushCommand)}}}})
}

func scriptExistsCmd(p *pipeline, args [][]byte) {
	if err := p.barrier(); err != nil {
		p.reply(errorReply(err))
		return
	}
	out := resp.AppendArray(nil, len(args)-2)
	for _, sha := range args[2:] {
		_, ok := p.s.fsm.ScriptBody(strings.ToLower(string(sha)))
		if ok {
			out = resp.AppendInt(out, 1)
		} else {
			out = resp.AppendInt(out, 0)
		}
	}
	p.reply(out)
}

func scriptKillCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendError(nil, "NOTBUSY No scripts in execution right now."))
}

func scriptHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"EXISTS <sha1> [<sha1> ...]", "FLUSH [ASYNC|SYNC]", "KILL", "LOAD <script>", "HELP",
	))
}
