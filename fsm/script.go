package fsm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/statehouse/statehouse/internal/resp"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Lua scripting (EVAL), run by the fsm: a script that may write is one log
// op carrying its body, keys and arguments, and every replica runs it as
// it applies the entry, against the same keyspace, so every replica ends
// in the same state. That takes a script that behaves the same everywhere:
//
//   - only the base, table, string and math libraries, with no clock, no
//     I/O and no loading of files;
//   - math.random seeded from the entry's log index, not the wall clock;
//   - a budget of Lua instructions instead of a time limit: a script that
//     runs too long fails at the same instruction on every replica.
//
// A script that fails (an error it does not catch, or its budget spent)
// leaves nothing behind: its writes are taken back (scriptUndo). Redis
// keeps the writes made before the error; statehouse's scripts are all or
// nothing.
//
// EVAL_RO scripts run on the node the client talks to, after the read
// barrier, and may not write.

// ScriptCommand is the log form of EVAL and EVALSHA:
// "statehouse.eval body numkeys key... arg...".
const ScriptCommand = "statehouse.eval"

// scriptVersion is the version of ScriptCommand this build proposes
// (and EVAL_RO runs): 1 had cjson and bit, 2 adds cmsgpack, 3 struct, 4
// refuses denyoom calls as Redis does (scriptRun.refuseOOM).
const scriptVersion = 4

// ScriptLoadCommand caches a script on every node: "statehouse.scriptload
// body". ScriptFlushCommand empties every node's cache.
const (
	ScriptLoadCommand  = "statehouse.scriptload"
	ScriptFlushCommand = "statehouse.scriptflush"
)

// scriptBudget is how many Lua instructions one script may run (about a
// second's worth). Every replica must use the same: only tests change it
// (SetScriptBudget).
var scriptBudget atomic.Int64

func init() { scriptBudget.Store(100_000_000) }

// SetScriptBudget sets the instruction budget of scripts and returns the
// one it replaces. For tests: replicas must agree on it.
func SetScriptBudget(n int64) int64 { return scriptBudget.Swap(n) }

// ScriptSHA is the SHA-1 hex name Redis gives a script.
func ScriptSHA(body []byte) string {
	sum := sha1.Sum(body)
	return hex.EncodeToString(sum[:])
}

// ScriptBody returns a cached script by its SHA-1 (EVALSHA).
func (f *FSM) ScriptBody(sha string) ([]byte, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.scripts[strings.ToLower(sha)]
	return b, ok
}

func (f *FSM) cacheScript(body []byte) string {
	sha := ScriptSHA(body)
	if f.scripts == nil {
		f.scripts = map[string][]byte{}
	}
	if _, ok := f.scripts[sha]; !ok {
		f.scripts[sha] = append([]byte(nil), body...)
	}
	return sha
}

func scriptLoadCmd(c *Ctx, args [][]byte) {
	if _, err := compileScript(args[1]); err != nil {
		c.Error(err.Error())
		return
	}
	c.BulkString(c.f.cacheScript(args[1]))
}

func scriptFlushCmd(c *Ctx, args [][]byte) {
	c.f.scripts = nil
	c.OK()
}

// ParseNumKeys checks EVAL's numkeys against its arguments (args starts
// at numkeys) as Redis does.
func ParseNumKeys(args [][]byte) (int, string) {
	n, ok := resp.ParseInt(args[0])
	switch {
	case !ok:
		return 0, resp.ErrNotInt
	case n < 0:
		return 0, "ERR Number of keys can't be negative"
	case n > int64(len(args)-1):
		return 0, "ERR Number of keys can't be greater than number of args"
	}
	return int(n), ""
}

// evalCmd applies "statehouse.eval body numkeys key... arg...".
func evalCmd(c *Ctx, args [][]byte) {
	c.f.cacheScript(args[1])
	c.runScript(args[1], args[2:], false)
}

// EvalRO runs an EVAL_RO script against db, as Read runs a command.
func (f *FSM) EvalRO(db int, now int64, rnd uint64, body []byte, rest [][]byte, user *ACLUser, out []byte) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if db < 0 || db >= NumDBs {
		return resp.AppendError(out, resp.ErrDBIndex)
	}
	c := Ctx{f: f, ks: f.dbs[db], DB: db, Now: max(now, f.now), Rand: rnd, Version: scriptVersion, Out: out, user: user}
	c.runScript(body, rest, true)
	return c.Out
}

// ScriptError is a script's failure as Redis words it.
func scriptError(msg, sha, chunk string, line int) string {
	return fmt.Sprintf("%s script: %s, on @%s:%d.", msg, sha, chunk, line)
}

// ScriptNoWrites reads a script's shebang line ("#!lua flags=no-writes")
// as Redis 7 does: whether the script declares it does not write, or the
// error for a shebang Redis would refuse.
func ScriptNoWrites(body []byte) (bool, string) {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return false, ""
	}
	line, _, _ := strings.Cut(string(body), "\n")
	words := strings.Fields(line[2:])
	if len(words) == 0 || words[0] != "lua" {
		engine := ""
		if len(words) > 0 {
			engine = words[0]
		}
		return false, "ERR Could not find engine '" + engine + "'"
	}
	noWrites := false
	for _, w := range words[1:] {
		flags, ok := strings.CutPrefix(w, "flags=")
		if !ok {
			return false, "ERR Unknown lua shebang option: " + w
		}
		for _, f := range strings.Split(flags, ",") {
			switch f {
			case "no-writes":
				noWrites = true
			case "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys", "":
			default:
				return false, "ERR Unexpected flag in script shebang: " + f
			}
		}
	}
	return noWrites, ""
}

// parseLua compiles a script's body as Redis names it ("user_script"),
// its shebang line left out (the lines after it keep their numbers).
func parseLua(body []byte) (*lua.FunctionProto, error) { return parseChunk(body, "user_script") }

// parseChunk compiles body, its shebang line left out, under the chunk
// name Redis gives it: "user_script" for EVAL, "user_function" for a
// library.
func parseChunk(body []byte, name string) (*lua.FunctionProto, error) {
	src := string(body)
	if strings.HasPrefix(src, "#!") {
		_, rest, _ := strings.Cut(src, "\n")
		src = "\n" + rest
	}
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	return lua.Compile(chunk, name)
}

// compiled caches compiled scripts by SHA-1: a FunctionProto is never
// changed once compiled, and gopher-lua lets states share one.
var compiled struct {
	sync.Mutex
	protos map[string]*lua.FunctionProto
}

// compiledMax bounds the cache; past it the cache starts again.
const compiledMax = 1024

func compileScript(body []byte) (*lua.FunctionProto, error) {
	return compileChunk(body, "user_script", "ERR Error compiling script (new function): ")
}

// compileChunk compiles body under a chunk name, through the cache; a
// failure is worded errPrefix + the parser's message.
func compileChunk(body []byte, name, errPrefix string) (*lua.FunctionProto, error) {
	sha := name + ":" + ScriptSHA(body)
	compiled.Lock()
	proto, ok := compiled.protos[sha]
	compiled.Unlock()
	if ok {
		return proto, nil
	}
	proto, err := parseChunk(body, name)
	if err != nil {
		return nil, errors.New(errPrefix + err.Error())
	}
	compiled.Lock()
	if compiled.protos == nil || len(compiled.protos) >= compiledMax {
		compiled.protos = map[string]*lua.FunctionProto{}
	}
	compiled.protos[sha] = proto
	compiled.Unlock()
	return proto, nil
}

// runScript runs a script with its keys and arguments (rest: numkeys,
// keys, args), writing its reply to c.Out.
func (c *Ctx) runScript(body []byte, rest [][]byte, readOnly bool) {
	numkeys, msg := ParseNumKeys(rest)
	if msg != "" {
		c.Error(msg)
		return
	}
	sha := ScriptSHA(body)
	noWrites, msg := ScriptNoWrites(body)
	if msg != "" {
		c.Error(msg)
		return
	}
	readOnly = readOnly || noWrites
	proto, err := compileScript(body)
	if err != nil {
		c.Error(err.Error())
		return
	}
	L := newScriptState(c.Rev^c.Rand, c.Version)
	defer L.Close()
	n := scriptBudget.Load()
	budget := &instructionBudget{Context: context.Background(), left: n, size: n}
	L.SetContext(budget)
	keys, argv := L.NewTable(), L.NewTable()
	for _, k := range rest[1 : 1+numkeys] {
		keys.Append(lua.LString(k))
	}
	for _, a := range rest[1+numkeys:] {
		argv.Append(lua.LString(a))
	}
	L.SetGlobal("KEYS", keys)
	L.SetGlobal("ARGV", argv)
	r := &scriptRun{c: c, readOnly: readOnly, sha: sha, chunk: "user_script", oom: c.f.oom(), liveOOM: c.Version < 4}
	r.install(L)
	protectGlobals(L)
	var undo *scriptUndo
	if c.Write {
		undo = &scriptUndo{events: len(c.f.events)}
		c.f.undo = undo
		defer func() { c.f.undo = nil }()
		c.f.saveDB(c.DB)
	}
	fn := L.NewFunctionFromProto(proto)
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		if undo != nil {
			undo.rollBack(c)
		}
		c.Error(r.failure(L, err, budget))
		return
	}
	ret := L.Get(-1)
	c.Out = luaToResp(c.Out, ret, 0)
}

// failure words a script's error as Redis does.
func (r *scriptRun) failure(L *lua.LState, err error, b *instructionBudget) string {
	if b.left < 0 {
		return scriptError("ERR Script exceeded its budget of "+strconv.FormatInt(b.size, 10)+" Lua instructions (statehouse's deterministic stand-in for a time limit)", r.sha, r.chunk, max(r.line, 1))
	}
	var ae *lua.ApiError
	if errors.As(err, &ae) {
		if t, ok := ae.Object.(*lua.LTable); ok {
			if e, ok := t.RawGetString("err").(lua.LString); ok {
				return scriptError(string(e), r.sha, r.chunk, r.line)
			}
		}
		msg := ae.Object.String()
		if s, ok := ae.Object.(lua.LString); ok {
			msg = string(s)
		}
		line := r.line
		if l := luaErrorLine(msg, r.chunk); l > 0 {
			line = l
		}
		return scriptError("ERR "+msg, r.sha, r.chunk, line)
	}
	return scriptError("ERR "+err.Error(), r.sha, r.chunk, r.line)
}

// luaErrorLine reads the line of "user_script:N: ..." (chunk: its name).
func luaErrorLine(msg, chunk string) int {
	rest, ok := strings.CutPrefix(msg, chunk+":")
	if !ok {
		return 0
	}
	n, _, _ := strings.Cut(rest, ":")
	v, _ := strconv.Atoi(n)
	return v
}

// instructionBudget is a context gopher-lua asks, before every
// instruction, whether it is done: it is once the budget is spent. The
// same script on the same data spends it at the same instruction on every
// replica, unlike a clock.
type instructionBudget struct {
	context.Context // no deadline, no values
	left, size      int64
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (b *instructionBudget) Err() error {
	if b.left < 0 {
		return context.DeadlineExceeded
	}
	return nil
}
func (b *instructionBudget) Done() <-chan struct{} {
	if b.left--; b.left < 0 {
		return closedChan
	}
	return nil // a nil channel: gopher-lua's select runs the instruction
}

// newScriptState is a Lua state with only what behaves the same on every
// replica.
func newScriptState(seed uint64, version int) *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 64, RegistrySize: 256, RegistryGrowStep: 256, RegistryMaxSize: 1 << 20, MinimizeStackMemory: true})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "print", "_printregs", "collectgarbage", "module", "require", "newproxy"} {
		L.SetGlobal(name, lua.LNil)
	}
	openCJSON(L)
	openBit(L)
	// An entry of an older leader ran without what came later: so do its
	// replays.
	if version >= 2 {
		openCMsgpack(L)
	}
	if version >= 3 {
		openStruct(L)
	}
	// tostring of a table or function would show its address, which
	// differs between replicas: it shows the type alone.
	tostring := L.GetGlobal("tostring").(*lua.LFunction)
	L.SetGlobal("tostring", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		switch v.Type() {
		case lua.LTTable, lua.LTFunction, lua.LTUserData, lua.LTThread, lua.LTChannel:
			if L.GetMetaField(v, "__tostring") == lua.LNil {
				L.Push(lua.LString(v.Type().String()))
				return 1
			}
		}
		L.Push(tostring)
		L.Push(v)
		L.Call(1, 1)
		return 1
	}))
	// math.random from a generator seeded by the entry, not the clock.
	rng := seed | 1
	next := func() uint64 {
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return rng
	}
	math := L.GetGlobal("math").(*lua.LTable)
	math.RawSetString("random", L.NewFunction(func(L *lua.LState) int {
		f := float64(next()>>11) / (1 << 53)
		switch L.GetTop() {
		case 0:
			L.Push(lua.LNumber(f))
		case 1:
			m := int64(L.CheckNumber(1))
			if m < 1 {
				L.ArgError(1, "interval is empty")
			}
			L.Push(lua.LNumber(int64(f*float64(m)) + 1))
		default:
			lo, hi := int64(L.CheckNumber(1)), int64(L.CheckNumber(2))
			if lo > hi {
				L.ArgError(2, "interval is empty")
			}
			L.Push(lua.LNumber(lo + int64(f*float64(hi-lo+1))))
		}
		return 1
	}))
	math.RawSetString("randomseed", L.NewFunction(func(L *lua.LState) int {
		rng = uint64(L.CheckNumber(1)) | 1
		return 0
	}))
	return L
}

// protectGlobals refuses reads of undefined globals and new globals, as
// Redis does.
func protectGlobals(L *lua.LState) {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.CheckString(2))
		return 0
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	L.SetMetatable(L.Get(lua.GlobalsIndex), mt)
}

// scriptRun is one script's redis.* functions.
type scriptRun struct {
	c        *Ctx
	readOnly bool
	sha      string // the script's SHA-1, or the function's name
	chunk    string // "user_script", or "user_function" for FCALL
	line     int    // of the last redis.call, for error messages
	allowOOM bool   // a function flagged allow-oom: denyoom calls run over the limit
	// oom: the limit was passed when the script started; wrote: it has
	// called a write since; liveOOM: an op of an older version, which
	// read the limit at each call.
	oom, wrote, liveOOM bool
}

// refuseOOM says whether a denyoom call is refused. As Redis
// (scriptVerifyOOM): only over the limit as the script found it, and
// before its first write, so a script is never stopped halfway through
// its writes and an -OOM from a script means it changed nothing. Ops of
// EVAL before scriptVersion 4 and of FCALL before version 2 refused any
// denyoom call made over the limit, and replay so.
func (r *scriptRun) refuseOOM() bool {
	if r.allowOOM {
		return false
	}
	if r.liveOOM {
		return r.c.f.oom()
	}
	return r.oom && !r.wrote
}

func (r *scriptRun) install(L *lua.LState) {
	t := L.NewTable()
	t.RawSetString("call", L.NewFunction(func(L *lua.LState) int { return r.call(L, true) }))
	t.RawSetString("pcall", L.NewFunction(func(L *lua.LState) int { return r.call(L, false) }))
	t.RawSetString("sha1hex", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(ScriptSHA([]byte(L.CheckString(1)))))
		return 1
	}))
	t.RawSetString("error_reply", L.NewFunction(func(L *lua.LState) int {
		L.Push(errorTable(L, "-"+strings.TrimPrefix(L.CheckString(1), "-")))
		return 1
	}))
	t.RawSetString("status_reply", L.NewFunction(func(L *lua.LState) int {
		s := L.NewTable()
		s.RawSetString("ok", lua.LString(L.CheckString(1)))
		L.Push(s)
		return 1
	}))
	noop := L.NewFunction(func(L *lua.LState) int { return 0 })
	t.RawSetString("log", noop)
	t.RawSetString("set_repl", noop)
	t.RawSetString("replicate_commands", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LTrue); return 1 }))
	t.RawSetString("setresp", L.NewFunction(func(L *lua.LState) int {
		if L.CheckInt(1) != 2 {
			L.RaiseError("RESP version must be 2: statehouse speaks RESP2")
		}
		return 0
	}))
	for i, name := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		t.RawSetString(name, lua.LNumber(i))
	}
	for name, v := range map[string]int{"REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": 3} {
		t.RawSetString(name, lua.LNumber(v))
	}
	L.SetGlobal("redis", t)
}

// errorTable is Redis's error table for "-CODE msg" (luaPushErrorBuff).
func errorTable(L *lua.LState, e string) *lua.LTable {
	code, msg := "ERR", strings.TrimPrefix(e, "-")
	if strings.HasPrefix(e, "-") {
		if c, m, ok := strings.Cut(e[1:], " "); ok {
			code, msg = c, m
		}
	}
	t := L.NewTable()
	t.RawSetString("err", lua.LString(code+" "+strings.TrimRight(msg, "\r\n")))
	return t
}

// call is redis.call (raise) and redis.pcall (return the error table).
func (r *scriptRun) call(L *lua.LState, raise bool) int {
	if dbg, ok := L.GetStack(1); ok {
		L.GetInfo("l", dbg, lua.LNil)
		r.line = dbg.CurrentLine
	}
	fail := func(e string) int {
		t := errorTable(L, e)
		if raise {
			L.Error(t, 0)
			return 0
		}
		L.Push(t)
		return 1
	}
	n := L.GetTop()
	if n == 0 {
		return fail("-ERR Please specify at least one argument for this redis lib call")
	}
	args := make([][]byte, n)
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			args[i-1] = []byte(v)
		case lua.LNumber:
			args[i-1] = []byte(formatLuaNumber(float64(v)))
		default:
			return fail("-ERR Lua redis lib command arguments must be strings or integers")
		}
	}
	if resp.EqualFold(args[0], "time") && len(args) == 1 {
		// The entry's time, the same on every replica.
		t := L.NewTable()
		t.RawSetInt(1, lua.LString(strconv.FormatInt(r.c.Now/1000, 10)))
		t.RawSetInt(2, lua.LString(strconv.FormatInt(r.c.Now%1000*1000, 10)))
		L.Push(t)
		return 1
	}
	cmd := ownTable.Lookup(args[0]) // ownTable: the table's rows hold this function
	if cmd == nil || cmd.Flags&FlagInternal != 0 {
		if frontDoorNoScript(args) {
			return fail("-ERR This Redis command is not allowed from script")
		}
		return fail("-ERR Unknown Redis command called from script")
	}
	if cmd.Flags&FlagNoScript != 0 {
		return fail("-ERR This Redis command is not allowed from script")
	}
	if !cmd.ArityOK(len(args)) {
		return fail("-ERR Wrong number of args calling Redis command from script")
	}
	if cmd.IsWrite() && (r.readOnly || !r.c.Write) {
		return fail("-ERR Write commands are not allowed from read-only scripts.")
	}
	if cmd.Flags&FlagDenyOOM != 0 && r.refuseOOM() {
		return fail("-" + OOMError)
	}
	if u := r.c.user; u != nil {
		if d, obj := u.Check(cmd, args); d != "" {
			return fail("-" + NoPermError(d, obj))
		}
	}
	if cmd.IsWrite() {
		r.wrote = true
	}
	sub := *r.c
	sub.Out = nil
	sub.Version = cmd.version()
	cmd.Handler(&sub, args)
	v, _ := respToLua(L, sub.Out)
	if t, ok := v.(*lua.LTable); ok && raise {
		if e, ok := t.RawGetString("err").(lua.LString); ok {
			L.Error(errorTable(L, "-"+string(e)), 0)
			return 0
		}
	}
	L.Push(v)
	return 1
}

// formatLuaNumber converts a number argument as Redis does ("%.17g").
func formatLuaNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e17 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 17, 64)
}

// respToLua converts a command's reply to Lua as Redis does: integers to
// numbers, bulk strings to strings, a null to false, arrays to tables,
// a status to {ok=...}, an error to {err=...}.
func respToLua(L *lua.LState, b []byte) (lua.LValue, []byte) {
	if len(b) == 0 {
		return lua.LFalse, b
	}
	line, rest, ok := cutLine(b[1:])
	if !ok {
		return lua.LFalse, nil
	}
	switch b[0] {
	case ':':
		n, _ := strconv.ParseInt(line, 10, 64)
		return lua.LNumber(n), rest
	case '+':
		t := L.NewTable()
		t.RawSetString("ok", lua.LString(line))
		return t, rest
	case '-':
		t := L.NewTable()
		t.RawSetString("err", lua.LString(line))
		return t, rest
	case '$':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		if n+2 > len(rest) {
			return lua.LFalse, nil
		}
		return lua.LString(rest[:n]), rest[n+2:]
	case '*':
		n, _ := strconv.Atoi(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		t := L.NewTable()
		for i := 0; i < n; i++ {
			var v lua.LValue
			v, rest = respToLua(L, rest)
			t.RawSetInt(i+1, v)
		}
		return t, rest
	}
	return lua.LFalse, nil
}

func cutLine(b []byte) (string, []byte, bool) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return string(b[:i]), b[i+2:], true
		}
	}
	return "", nil, false
}

// luaToResp converts a script's return value as Redis does.
func luaToResp(out []byte, v lua.LValue, depth int) []byte {
	if depth > 64 {
		return resp.AppendError(out, "ERR reached lua stack limit")
	}
	switch v := v.(type) {
	case lua.LString:
		return resp.AppendBulkString(out, string(v))
	case lua.LNumber:
		return resp.AppendInt(out, int64(v))
	case lua.LBool:
		if v {
			return resp.AppendInt(out, 1)
		}
		return resp.AppendNull(out)
	case *lua.LUserData: // cjson.null
		return resp.AppendNull(out)
	case *lua.LTable:
		if e, ok := v.RawGetString("err").(lua.LString); ok {
			return resp.AppendError(out, string(e))
		}
		if s, ok := v.RawGetString("ok").(lua.LString); ok {
			return resp.AppendStatus(out, string(s))
		}
		var items []lua.LValue
		for i := 1; ; i++ {
			e := v.RawGetInt(i)
			if e == lua.LNil {
				break
			}
			items = append(items, e)
		}
		out = resp.AppendArray(out, len(items))
		for _, e := range items {
			out = luaToResp(out, e, depth+1)
		}
		return out
	}
	return resp.AppendNull(out)
}

// scriptUndo takes back the writes of a script that fails: a script is
// all or nothing. Keyspaces are copied on write in O(1) (their trees share
// nodes until written), so the state before the script is kept by copying
// each database the script may write, the first time it may.
type scriptUndo struct {
	dbs    [NumDBs]*keyspace
	events int // keyspace notifications before the script
}

// saveDB keeps db as it was before the running script, if one runs.
func (f *FSM) saveDB(db int) {
	if u := f.undo; u != nil && u.dbs[db] == nil {
		u.dbs[db] = f.dbs[db].copy()
	}
}

func (u *scriptUndo) rollBack(c *Ctx) {
	for db, ks := range u.dbs {
		if ks != nil {
			c.f.dbs[db] = ks
		}
	}
	c.ks = c.f.dbs[c.DB]
	c.f.events = c.f.events[:u.events]
}

// frontDoor is the server's whole command table (SetFrontDoorTable): a
// script runs only the fsm's commands, but names one of the front door's
// that Redis refuses in scripts (EVAL, FCALL, MULTI, SUBSCRIBE, CLIENT
// ID...) in Redis's words. Every replica runs the same build, so the
// answer is the same on each.
var frontDoor atomic.Pointer[Table]

// SetFrontDoorTable gives scripts the server's command table.
func SetFrontDoorTable(t *Table) { frontDoor.Store(t) }

// frontDoorNoScript reports whether args name a front-door command (or
// subcommand) flagged noscript.
func frontDoorNoScript(args [][]byte) bool {
	t := frontDoor.Load()
	if t == nil {
		return false
	}
	c := t.Lookup(args[0])
	if c == nil || c.Flags&FlagInternal != 0 {
		return false
	}
	if c.Subcommands != nil && len(args) > 1 {
		if sub := c.Sub(args[1]); sub != nil {
			c = sub
		}
	}
	return c.Flags&FlagNoScript != 0
}
