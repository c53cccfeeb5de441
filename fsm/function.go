package fsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"sort"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
	lua "github.com/yuin/gopher-lua"
)

// Redis 7 functions (FUNCTION LOAD, FCALL...), on the machinery of
// scripting (script.go). A library is its code alone: every replica keeps
// the same libraries (each change is one log op), and a function runs as
// EVAL does: a fresh Lua state per call, the library's code run again to
// register its functions, then the one called. The code is compiled once
// (the compiled cache); running it again costs what its top level does.
//
// While the library's code runs, its globals hold only redis.register_function,
// redis.log and the version constants, as in Redis 7.0; once it has run,
// its functions see what EVAL scripts see.

// Log forms of the FUNCTION commands and FCALL.
const (
	FunctionLoadCommand    = "statehouse.fnload"    // replace("0"|"1") code
	FunctionDeleteCommand  = "statehouse.fndelete"  // library
	FunctionFlushCommand   = "statehouse.fnflush"   //
	FunctionRestoreCommand = "statehouse.fnrestore" // policy payload
	FcallCommand           = "statehouse.fcall"     // function numkeys key... arg...
)

// fcallVersion is the version of FcallCommand this build proposes: 2
// refuses denyoom calls as Redis does (scriptRun.refuseOOM).
const fcallVersion = 2

// functionLibs is the version of the Lua libraries functions see (that of
// scriptVersion 3: cjson, bit, cmsgpack, struct).
const functionLibs = 3

// Function flags, in the order Redis lists them.
const (
	fnNoWrites = 1 << iota
	fnAllowOOM
	fnAllowStale
	fnNoCluster
	fnAllowCrossSlot
)

var fnFlagNames = []string{"no-writes", "allow-oom", "allow-stale", "no-cluster", "allow-cross-slot-keys"}

// library is one loaded library; never changed once built.
type library struct {
	name, code string
	funcs      []libFunc // by name
}

type libFunc struct {
	name, desc string
	hasDesc    bool
	flags      int
}

const (
	errLibName  = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
	errFnRegPre = "ERR Error registering functions: "
)

// parseLibMeta reads "#!lua name=<lib>" as Redis 7.0 does.
func parseLibMeta(code []byte) (string, string) {
	if !strings.HasPrefix(string(code), "#!") {
		return "", "ERR Missing library metadata"
	}
	line, _, ok := strings.Cut(string(code[2:]), "\n")
	if !ok {
		return "", "ERR Invalid library metadata"
	}
	parts := strings.Fields(line)
	if len(parts) == 0 {
		return "", "ERR Engine '' not found"
	}
	if !strings.EqualFold(parts[0], "lua") {
		return "", "ERR Engine '" + parts[0] + "' not found"
	}
	name, named := "", false
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(p, "name=")
		if !ok {
			return "", "ERR Invalid metadata value given: " + p
		}
		if named {
			return "", "ERR Invalid metadata value, name argument was given multiple times"
		}
		name, named = v, true
	}
	if !named {
		return "", "ERR Library name was not given"
	}
	if !validFnName(name) {
		return "", errLibName
	}
	return name, ""
}

func validFnName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// libRun is a library's code run in a Lua state: its functions and
// their callbacks.
type libRun struct {
	lib       *library
	callbacks map[string]*lua.LFunction
	loading   bool
}

// runLibrary runs a library's code in L and collects what it registers.
// On failure it returns Redis's error text.
func runLibrary(L *lua.LState, name string, code []byte) (*libRun, string) {
	proto, err := compileChunk(code, "user_function", "ERR Error compiling function: ")
	if err != nil {
		return nil, err.Error()
	}
	lr := &libRun{lib: &library{name: name, code: string(code)}, callbacks: map[string]*lua.LFunction{}, loading: true}
	loader := L.NewTable()
	loader.RawSetString("register_function", L.NewFunction(lr.register))
	loader.RawSetString("log", L.NewFunction(func(L *lua.LState) int { return 0 }))
	for i, n := range []string{"LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING"} {
		loader.RawSetString(n, lua.LNumber(i))
	}
	setRedisVersion(loader)
	lmt := L.NewTable()
	lmt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.CheckString(2))
		return 0
	}))
	L.SetMetatable(loader, lmt)
	// The library's globals: while it loads only the loader; after, what
	// a script sees. Its functions keep this table as their environment.
	global := L.Get(lua.GlobalsIndex).(*lua.LTable)
	env := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k := L.CheckString(2)
		var v lua.LValue = lua.LNil
		if lr.loading {
			if k == "redis" {
				v = loader
			}
		} else {
			v = global.RawGetString(k)
		}
		if v == lua.LNil {
			L.RaiseError("Script attempted to access nonexistent global variable '%s'", k)
		}
		L.Push(v)
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	L.SetMetatable(env, mt)
	fn := L.NewFunctionFromProto(proto)
	fn.Env = env
	n := scriptBudget.Load()
	budget := &instructionBudget{Context: context.Background(), left: n, size: n}
	L.SetContext(budget)
	L.Push(fn)
	err = L.PCall(0, 0, nil)
	L.RemoveContext()
	lr.loading = false
	if err != nil {
		if budget.left < 0 {
			return nil, errFnRegPre + "ERR library code exceeded its budget of Lua instructions"
		}
		if ae, ok := err.(*lua.ApiError); ok {
			if t, ok := ae.Object.(*lua.LTable); ok {
				if e, ok := t.RawGetString("err").(lua.LString); ok {
					return nil, errFnRegPre + string(e)
				}
			}
			if s, ok := ae.Object.(lua.LString); ok {
				return nil, errFnRegPre + "ERR " + string(s)
			}
		}
		return nil, errFnRegPre + "ERR " + err.Error()
	}
	if len(lr.lib.funcs) == 0 {
		return nil, "ERR No functions registered"
	}
	sort.Slice(lr.lib.funcs, func(i, j int) bool { return lr.lib.funcs[i].name < lr.lib.funcs[j].name })
	return lr, ""
}

// setRedisVersion sets redis.REDIS_VERSION and REDIS_VERSION_NUM: the
// Redis statehouse answers as, as INFO says (EVAL scripts do not see them: that would
// change scriptVersion 3).
func setRedisVersion(t *lua.LTable) {
	t.RawSetString("REDIS_VERSION", lua.LString("7.0.0"))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(0x070000))
}

// register is redis.register_function, in both its forms.
func (lr *libRun) register(L *lua.LState) int {
	fail := func(msg string) int {
		L.Error(errorTable(L, "-"+msg), 0)
		return 0
	}
	if !lr.loading {
		return fail("ERR redis.register_function can only be called on FUNCTION LOAD command")
	}
	var f libFunc
	var cb lua.LValue = lua.LNil
	var name lua.LValue = lua.LNil
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			return fail("ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).")
		}
		bad := false
		t.ForEach(func(k, _ lua.LValue) {
			switch k {
			case lua.LString("function_name"), lua.LString("callback"), lua.LString("flags"), lua.LString("description"):
			default:
				bad = true
			}
		})
		if bad {
			return fail("ERR unknown argument given to redis.register_function")
		}
		name, cb = t.RawGetString("function_name"), t.RawGetString("callback")
		if d := t.RawGetString("description"); d != lua.LNil {
			s, ok := luaStringish(d)
			if !ok {
				return fail("ERR description argument given to redis.register_function must be a string")
			}
			f.desc, f.hasDesc = s, true
		}
		if fl := t.RawGetString("flags"); fl != lua.LNil {
			ft, ok := fl.(*lua.LTable)
			if !ok {
				return fail("ERR flags argument to redis.register_function must be a table representing function flags")
			}
			for i := 1; i <= ft.Len(); i++ {
				s, ok := ft.RawGetInt(i).(lua.LString)
				j := -1
				if ok {
					for k, n := range fnFlagNames {
						if n == string(s) {
							j = k
						}
					}
				}
				if j < 0 {
					return fail("ERR unknown flag given")
				}
				f.flags |= 1 << j
			}
		}
	case 2:
		name, cb = L.Get(1), L.Get(2)
	default:
		return fail("ERR wrong number of arguments to redis.register_function")
	}
	s, ok := luaStringish(name)
	if name == lua.LNil || !ok {
		return fail("ERR redis.register_function must get a function name argument")
	}
	fn, ok := cb.(*lua.LFunction)
	if !ok {
		return fail("ERR callback argument given to redis.register_function must be a function")
	}
	if !validFnName(s) {
		return fail(errLibName)
	}
	if _, dup := lr.callbacks[s]; dup {
		return fail("ERR Function already exists in the library")
	}
	if len(lr.callbacks) >= maxLibFunctions {
		return fail("ERR too many functions in one library")
	}
	f.name = s
	lr.callbacks[s] = fn
	lr.lib.funcs = append(lr.lib.funcs, f)
	return 0
}

// maxLibFunctions bounds what one library registers (statehouse's own
// limit: each is listed and indexed on every replica).
const maxLibFunctions = 10000

func luaStringish(v lua.LValue) (string, bool) {
	switch v := v.(type) {
	case lua.LString:
		return string(v), true
	case lua.LNumber:
		return v.String(), true
	}
	return "", false
}

// compileLibrary checks a library's code: its name and what it registers.
func compileLibrary(code []byte) (*library, string) {
	name, msg := parseLibMeta(code)
	if msg != "" {
		return nil, msg
	}
	L := newScriptState(0, functionLibs)
	defer L.Close()
	lr, msg := runLibrary(L, name, code)
	if msg != "" {
		return nil, msg
	}
	return lr.lib, ""
}

// addLibrary adds lib to f's libraries, replacing one of its name if
// replace; it returns Redis's error if it may not.
func (f *FSM) addLibrary(lib *library, replace bool) string {
	old := f.libs[lib.name]
	if old != nil && !replace {
		return "ERR Library '" + lib.name + "' already exists"
	}
	for _, fn := range lib.funcs {
		if other, ok := f.fnIndex[strings.ToLower(fn.name)]; ok && other != old {
			return "ERR Function " + fn.name + " already exists"
		}
	}
	if f.libs == nil {
		f.libs, f.fnIndex = map[string]*library{}, map[string]*library{}
	}
	f.removeLibrary(lib.name)
	f.libs[lib.name] = lib
	for _, fn := range lib.funcs {
		f.fnIndex[strings.ToLower(fn.name)] = lib
	}
	return ""
}

func (f *FSM) removeLibrary(name string) bool {
	old := f.libs[name]
	if old == nil {
		return false
	}
	for _, fn := range old.funcs {
		delete(f.fnIndex, strings.ToLower(fn.name))
	}
	delete(f.libs, name)
	return true
}

func (f *FSM) libNames() []string {
	names := make([]string, 0, len(f.libs))
	for n := range f.libs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func functionLoadCmd(c *Ctx, args [][]byte) {
	name, msg := parseLibMeta(args[2])
	if msg != "" {
		c.Error(msg)
		return
	}
	replace := string(args[1]) == "1"
	if c.f.libs[name] != nil && !replace {
		c.Error("ERR Library '" + name + "' already exists")
		return
	}
	lib, msg := compileLibrary(args[2])
	if msg == "" {
		msg = c.f.addLibrary(lib, replace)
	}
	if msg != "" {
		c.Error(msg)
		return
	}
	c.BulkString(name)
}

func functionDeleteCmd(c *Ctx, args [][]byte) {
	if !c.f.removeLibrary(string(args[1])) {
		c.Error("ERR Library not found")
		return
	}
	c.OK()
}

func functionFlushCmd(c *Ctx, args [][]byte) {
	c.f.libs, c.f.fnIndex = nil, nil
	c.OK()
}

// FunctionFlags tells whether a function exists and whether it is
// flagged no-writes (FCALL runs those on the read path).
func (f *FSM) FunctionFlags(name string) (exists, noWrites bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn, ok := f.function(name)
	return ok, fn.flags&fnNoWrites != 0
}

// function finds a function by name; function names are
// case-insensitive, as in Redis.
func (f *FSM) function(name string) (libFunc, bool) {
	lib := f.fnIndex[strings.ToLower(name)]
	if lib == nil {
		return libFunc{}, false
	}
	for _, fn := range lib.funcs {
		if strings.EqualFold(fn.name, name) {
			return fn, true
		}
	}
	return libFunc{}, false
}

// fcallCmd applies "statehouse.fcall function numkeys key... arg...".
func fcallCmd(c *Ctx, args [][]byte) {
	c.runFunction(string(args[1]), args[2:], false)
}

// FcallNumKeys is ParseNumKeys as FCALL words its errors.
func FcallNumKeys(args [][]byte) (int, string) {
	n, msg := ParseNumKeys(args)
	if msg == resp.ErrNotInt {
		msg = "ERR Bad number of keys provided"
	}
	return n, msg
}

// FcallRO runs a function on the read path (FCALL_RO, or FCALL of a
// no-writes function).
func (f *FSM) FcallRO(db int, now int64, rnd uint64, name string, rest [][]byte, user *ACLUser, out []byte) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if db < 0 || db >= NumDBs {
		return resp.AppendError(out, resp.ErrDBIndex)
	}
	c := Ctx{f: f, ks: f.dbs[db], DB: db, Now: max(now, f.now), Rand: rnd, Version: scriptVersion, Out: out, user: user}
	c.runFunction(name, rest, true)
	return c.Out
}

// runFunction calls a function with its keys and arguments (rest:
// numkeys, keys, args), writing its reply to c.Out.
func (c *Ctx) runFunction(name string, rest [][]byte, readOnly bool) {
	fn, ok := c.f.function(name)
	if !ok {
		c.Error("ERR Function not found")
		return
	}
	lib := c.f.fnIndex[strings.ToLower(name)]
	if readOnly && fn.flags&fnNoWrites == 0 {
		c.Error("ERR Can not execute a script with write flag using *_ro command.")
		return
	}
	numkeys, msg := FcallNumKeys(rest)
	if msg != "" {
		c.Error(msg)
		return
	}
	// As Redis: over the memory limit, a function that may write runs
	// only if flagged allow-oom, and then its calls may grow memory.
	if c.Write && fn.flags&(fnNoWrites|fnAllowOOM) == 0 && c.f.oom() {
		c.Error(OOMError)
		return
	}
	L := newScriptState(c.Rev^c.Rand, functionLibs)
	defer L.Close()
	r := &scriptRun{c: c, readOnly: readOnly || fn.flags&fnNoWrites != 0, sha: name, chunk: "user_function", allowOOM: fn.flags&fnAllowOOM != 0,
		oom: c.f.oom(), liveOOM: c.Version < fcallVersion}
	r.install(L)
	setRedisVersion(L.GetGlobal("redis").(*lua.LTable))
	protectGlobals(L)
	lr, msg := runLibrary(L, lib.name, []byte(lib.code))
	if msg != "" { // it loaded when it was added: not on this build?
		c.Error(msg)
		return
	}
	cb := lr.callbacks[fn.name]
	keys, argv := L.NewTable(), L.NewTable()
	for _, k := range rest[1 : 1+numkeys] {
		keys.Append(lua.LString(k))
	}
	for _, a := range rest[1+numkeys:] {
		argv.Append(lua.LString(a))
	}
	n := scriptBudget.Load()
	budget := &instructionBudget{Context: context.Background(), left: n, size: n}
	L.SetContext(budget)
	var undo *scriptUndo
	if c.Write {
		undo = &scriptUndo{events: len(c.f.events)}
		c.f.undo = undo
		defer func() { c.f.undo = nil }()
		c.f.saveDB(c.DB)
	}
	L.Push(cb)
	L.Push(keys)
	L.Push(argv)
	if err := L.PCall(2, 1, nil); err != nil {
		if undo != nil {
			undo.rollBack(c)
		}
		c.Error(r.failure(L, err, budget))
		return
	}
	c.Out = luaToResp(c.Out, L.Get(-1), 0)
}

// FunctionList answers FUNCTION LIST: libraries matching pattern (nil:
// all), in name order, with their code if withCode.
func (f *FSM) FunctionList(pattern []byte, withCode bool) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var libs []*library
	for _, n := range f.libNames() {
		if pattern == nil || Match(bytes.ToLower(pattern), []byte(strings.ToLower(n))) { // as Redis: without case
			libs = append(libs, f.libs[n])
		}
	}
	out := resp.AppendArray(nil, len(libs))
	for _, lib := range libs {
		if withCode {
			out = resp.AppendArray(out, 8)
		} else {
			out = resp.AppendArray(out, 6)
		}
		out = resp.AppendBulkString(out, "library_name")
		out = resp.AppendBulkString(out, lib.name)
		out = resp.AppendBulkString(out, "engine")
		out = resp.AppendBulkString(out, "LUA")
		out = resp.AppendBulkString(out, "functions")
		out = resp.AppendArray(out, len(lib.funcs))
		for _, fn := range lib.funcs {
			out = resp.AppendArray(out, 6)
			out = resp.AppendBulkString(out, "name")
			out = resp.AppendBulkString(out, fn.name)
			out = resp.AppendBulkString(out, "description")
			if fn.hasDesc {
				out = resp.AppendBulkString(out, fn.desc)
			} else {
				out = resp.AppendNull(out)
			}
			out = resp.AppendBulkString(out, "flags")
			var flags []string
			for i, n := range fnFlagNames {
				if fn.flags&(1<<i) != 0 {
					flags = append(flags, n)
				}
			}
			out = resp.AppendStatusArray(out, flags...)
		}
		if withCode {
			out = resp.AppendBulkString(out, "library_code")
			out = resp.AppendBulkString(out, lib.code)
		}
	}
	return out
}

// FunctionStats answers FUNCTION STATS: no function is ever running
// when a command is answered (they run inside an apply or a read).
func (f *FSM) FunctionStats() []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := resp.AppendArray(nil, 4)
	out = resp.AppendBulkString(out, "running_script")
	out = resp.AppendNull(out)
	out = resp.AppendBulkString(out, "engines")
	out = resp.AppendArray(out, 2)
	out = resp.AppendBulkString(out, "LUA")
	out = resp.AppendArray(out, 4)
	out = resp.AppendBulkString(out, "libraries_count")
	out = resp.AppendInt(out, int64(len(f.libs)))
	out = resp.AppendBulkString(out, "functions_count")
	return resp.AppendInt(out, int64(len(f.fnIndex)))
}

// rdbOpcodeFunction2 is Redis 7.0's RDB opcode of a library (its code).
const rdbOpcodeFunction2 = 245

// FunctionDump answers FUNCTION DUMP as Redis 7.0 does: each library's
// code after the RDB opcode FUNCTION2, then the RDB version and a CRC-64,
// so the payload restores into redis-server and back.
func (f *FSM) FunctionDump() []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var b []byte
	for _, n := range f.libNames() {
		b = append(b, rdbOpcodeFunction2)
		b = appendRDBString(b, f.libs[n].code)
	}
	b = binary.LittleEndian.AppendUint16(b, rdbVersion)
	b = binary.LittleEndian.AppendUint64(b, crc64Redis(b))
	return resp.AppendBulk(nil, b)
}

// functionRestoreCmd applies "statehouse.fnrestore policy payload":
// every library of the payload is loaded, or none.
func functionRestoreCmd(c *Ctx, args [][]byte) {
	policy := strings.ToLower(string(args[1]))
	if policy != "flush" && policy != "append" && policy != "replace" {
		c.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
		return
	}
	body, ok := VerifyDump(args[2])
	if !ok {
		c.Error(errDumpPayload)
		return
	}
	r := &rdbReader{b: body}
	var libs []*library
	for len(r.b) > 0 {
		op, _ := r.byte()
		if op != rdbOpcodeFunction2 {
			c.Error("ERR given type is not a function")
			return
		}
		code, err := r.str()
		if err != nil {
			c.Error("ERR Failed loading library payload")
			return
		}
		lib, msg := compileLibrary([]byte(code))
		if msg == "" {
			for _, l := range libs {
				if l.name == lib.name {
					msg = "ERR Library '" + lib.name + "' already exists"
				}
			}
		}
		if msg != "" {
			c.Error(msg)
			return
		}
		libs = append(libs, lib)
	}
	// Built aside and swapped in whole: a collision leaves nothing changed.
	next := &FSM{}
	if policy != "flush" {
		for _, n := range c.f.libNames() {
			next.addLibrary(c.f.libs[n], false)
		}
	}
	for _, lib := range libs {
		if policy == "append" && next.libs[lib.name] != nil {
			c.Error("ERR Library " + lib.name + " already exists")
			return
		}
		if msg := next.addLibrary(lib, true); msg != "" {
			c.Error(msg)
			return
		}
	}
	c.f.libs, c.f.fnIndex = next.libs, next.fnIndex
	c.OK()
}

// FcallKeys finds FCALL's keys (and EVAL's): numkeys at index 2, the keys
// after it; none if numkeys is not a count the arguments hold.
func FcallKeys(args [][]byte) [][]byte {
	if len(args) < 3 {
		return nil
	}
	n, ok := resp.ParseInt(args[2])
	if !ok || n < 1 || n > int64(len(args)-3) {
		return nil
	}
	return args[3 : 3+n]
}
