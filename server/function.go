package server

import (
	"github.com/statehouse/statehouse/fsm"
	"github.com/statehouse/statehouse/internal/resp"
)

// Redis 7 functions: FUNCTION LOAD, DELETE, FLUSH and RESTORE go through
// the log, so every node keeps the same libraries (fsm/function.go);
// FCALL of a function that may write is one log op run by every
// replica's fsm; FCALL_RO, and FCALL of a no-writes function, run here
// after the read barrier, as EVAL_RO does.

func fcallCmd(readOnly bool) func(p *pipeline, args [][]byte) {
	return func(p *pipeline, args [][]byte) {
		name := string(args[1])
		exists, noWrites := p.s.fsm.FunctionFlags(name)
		if !exists && p.barrier() == nil { // loaded on another node a moment ago?
			exists, noWrites = p.s.fsm.FunctionFlags(name)
		}
		if !exists {
			p.reply(resp.AppendError(nil, "ERR Function not found"))
			return
		}
		if readOnly || noWrites {
			if err := p.barrier(); err != nil {
				p.reply(errorReply(err))
				return
			}
			var user *fsm.ACLUser
			if p.s.fsm.ACLRev() != 0 {
				user = p.s.users().users[p.st.user]
			}
			p.reply(p.s.fsm.FcallRO(p.st.db, p.s.cl.Now(), uint64(p.st.id), name, args[2:], user, nil))
			return
		}
		if _, msg := fsm.FcallNumKeys(args[2:]); msg != "" {
			p.reply(resp.AppendError(nil, msg))
			return
		}
		op := append([][]byte{[]byte(fsm.FcallCommand)}, args[1:]...)
		req := fsm.Request{Ops: []fsm.Op{{DB: p.st.db, Args: cloneArgs(op)}}}
		if p.s.fsm.ACLRev() != 0 {
			req.User = p.st.user
		}
		p.proposeOne(req)
	}
}

func functionLoadCmd(p *pipeline, args [][]byte) {
	replace := "0"
	if len(args) == 4 {
		if !resp.EqualFold(args[2], "replace") {
			p.reply(resp.AppendError(nil, "ERR Unknown option given: "+string(args[2])))
			return
		}
		replace = "1"
	} else if len(args) > 4 {
		p.reply(resp.AppendError(nil, "ERR Unknown option given: "+string(args[2])))
		return
	}
	code := args[len(args)-1]
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: cloneArgs([][]byte{[]byte(fsm.FunctionLoadCommand), []byte(replace), code})}}})
}

func functionDeleteCmd(p *pipeline, args [][]byte) {
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: cloneArgs([][]byte{[]byte(fsm.FunctionDeleteCommand), args[2]})}}})
}

func functionFlushCmd(p *pipeline, args [][]byte) {
	if len(args) > 3 || len(args) == 3 && !resp.EqualFold(args[2], "sync") && !resp.EqualFold(args[2], "async") {
		p.reply(resp.AppendError(nil, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"))
		return
	}
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: [][]byte{[]byte(fsm.FunctionFlushCommand)}}}})
}

func functionRestoreCmd(p *pipeline, args [][]byte) {
	policy := []byte("append")
	if len(args) == 4 {
		policy = args[3]
	}
	if len(args) > 4 || !resp.EqualFold(policy, "flush") && !resp.EqualFold(policy, "append") && !resp.EqualFold(policy, "replace") {
		p.reply(resp.AppendError(nil, "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."))
		return
	}
	p.proposeOne(fsm.Request{Ops: []fsm.Op{{Args: cloneArgs([][]byte{[]byte(fsm.FunctionRestoreCommand), policy, args[2]})}}})
}

func functionListCmd(p *pipeline, args [][]byte) {
	var pattern []byte
	withCode := false
	for i := 2; i < len(args); i++ {
		switch {
		case resp.EqualFold(args[i], "withcode") && !withCode:
			withCode = true
		case resp.EqualFold(args[i], "libraryname") && pattern == nil:
			if i+1 >= len(args) {
				p.reply(resp.AppendError(nil, "ERR library name argument was not given"))
				return
			}
			i++
			pattern = args[i]
		default:
			p.reply(resp.AppendError(nil, "ERR Unknown argument "+string(args[i])))
			return
		}
	}
	if err := p.barrier(); err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(p.s.fsm.FunctionList(pattern, withCode))
}

func functionDumpCmd(p *pipeline, args [][]byte) {
	if err := p.barrier(); err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(p.s.fsm.FunctionDump())
}

func functionStatsCmd(p *pipeline, args [][]byte) {
	if err := p.barrier(); err != nil {
		p.reply(errorReply(err))
		return
	}
	p.reply(p.s.fsm.FunctionStats())
}

// A function runs inside one apply or one read, within its instruction
// budget: none is ever running while a command is answered.
func functionKillCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendError(nil, "NOTBUSY No scripts in execution right now."))
}

func functionHelpCmd(p *pipeline, args [][]byte) {
	p.reply(resp.AppendStatusArray(nil,
		"FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"LOAD [REPLACE] <FUNCTION CODE>",
		"    Create a new library with the given library name and code.",
		"DELETE <LIBRARY NAME>",
		"    Delete the given library.",
		"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
		"    Return general information on all the libraries:",
		"    * Library name",
		"    * The engine used to run the Library",
		"    * Library description",
		"    * Functions list",
		"    * Library code (if WITHCODE is given)",
		"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
		"STATS",
		"    Return information about the current function running:",
		"    * Function name",
		"    * Command used to run the function",
		"    * Duration in MS that the function is running",
		"    If no function is running, return nil",
		"    In addition, returns a list of available engines.",
		"KILL",
		"    Kill the current running function.",
		"FLUSH [ASYNC|SYNC]",
		"    Delete all the libraries.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the libraries.",
		"    * SYNC: Synchronously flush the libraries.",
		"DUMP",
		"    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
		"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
		"    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
		"    control how to handle existing libraries (default APPEND):",
		"    * FLUSH: delete all existing libraries.",
		"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
		"    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
		"      libraries with the new libraries (notice that even on this option there is a chance of failure",
		"      in case of functions name collision with another library).",
		"HELP",
		"    Prints this help.",
	))
}
