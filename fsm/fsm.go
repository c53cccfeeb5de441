package fsm

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/statehouse/statehouse/internal/resp"
)

// NumDBs is the number of numbered databases, as in standalone Redis.
const NumDBs = 16

// FSM is the replicated keyspace. Apply is called with log entries in order;
// reads run concurrently with each other under a read lock.
type FSM struct {
	mu      sync.RWMutex
	dbs     [NumDBs]*keyspace
	now     int64  // largest Entry.Now applied: time never runs backwards
	applied uint64 // index of the last entry applied
	acl     aclState
	aclRev  atomic.Uint64 // acl.rev, read on every command without the lock

	scripts     map[string][]byte   // the script cache, by SHA-1 (script.go)
	undo        *scriptUndo         // while a script writes: how to take its writes back
	libs        map[string]*library // function libraries by name (function.go)
	fnIndex     map[string]*library // each function's library
	notifyFlags atomic.Int64        // notify-keyspace-events (notify.go)
	events      []Event             // of the entry being applied
	onEvents    atomic.Pointer[func([]Event)]
	onACL       atomic.Pointer[func()]
	quietUntil  atomic.Uint64                  // no notifications for entries up to it (a restart's replay)
	onListWrite func(db int, key string)       // see OnListWrite
	encLimits   atomic.Pointer[EncodingLimits] // OBJECT ENCODING's thresholds (object.go)

	// The memory limit, replicated (memory.go), and this node's figures.
	maxMemory  atomic.Int64
	policy     atomic.Int32
	samples    atomic.Int32
	used       atomic.Int64 // usedNow after the last entry applied
	peak       atomic.Int64
	evicted    atomic.Int64
	onMem      atomic.Pointer[func(MemConfig)]
	memChanged bool // by the entry being applied
}

// New returns an empty keyspace.
func New() *FSM {
	f := &FSM{}
	for i := range f.dbs {
		f.dbs[i] = newKeyspace()
	}
	f.samples.Store(defaultSamples)
	return f
}

// Apply applies one log entry at index and returns one reply per request,
// each the RESP bytes the requesting client receives.
func (f *FSM) Apply(index uint64, e *Entry) [][]byte {
	aclBefore := f.aclRev.Load()
	out, events := f.apply(index, e)
	if len(events) > 0 && index > f.quietUntil.Load() {
		if fn := f.onEvents.Load(); fn != nil {
			(*fn)(events)
		}
	}
	if f.memChanged {
		f.memChanged = false
		f.memConfigChanged()
	}
	if f.aclRev.Load() != aclBefore {
		if fn := f.onACL.Load(); fn != nil {
			(*fn)()
		}
	}
	return out
}

// OnACLChange sets what the fsm calls after applying an entry that
// changed the users (the server disconnects deleted users' clients).
func (f *FSM) OnACLChange(fn func()) { f.onACL.Store(&fn) }

func (f *FSM) apply(index uint64, e *Entry) ([][]byte, []Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e.Now > f.now {
		f.now = e.Now
	}
	out := make([][]byte, len(e.Reqs))
	for i := range e.Reqs {
		out[i] = f.applyRequest(index, &e.Reqs[i], nil)
	}
	f.applied = index
	f.noteUsed()
	events := f.events
	f.events = nil
	return out, events
}

func (f *FSM) applyRequest(index uint64, r *Request, out []byte) []byte {
	if r.Atomic && f.oom() && denyOOM(r.Ops) {
		// As Redis refuses an EXEC holding a denyoom command, before it
		// looks at the WATCHed keys (processCommand's OOM check runs
		// before execCommand).
		return resp.AppendError(out, ExecAbortOOM)
	}
	if !f.condsHold(r.Conds) {
		if r.Atomic {
			return resp.AppendNullArray(out)
		}
		for range r.Ops {
			out = resp.AppendError(out, "EXECABORT Transaction discarded because of WATCH")
		}
		return out
	}
	if r.Atomic {
		out = resp.AppendArray(out, len(r.Ops))
	}
	c := Ctx{f: f, Now: f.now, Rev: index, Write: true, Out: out}
	if f.acl.rev != 0 {
		user := r.User
		if user == "" {
			user = "default"
		}
		c.user = f.acl.compiled[user] // scripts check their calls against it; nil: the implicit default user
	}
	denied := f.checkRequest(r)
	for i := range r.Ops {
		if denied != nil && denied[i] != "" {
			c.Error(denied[i])
			continue
		}
		c.exec(&r.Ops[i], r.Atomic)
	}
	return c.Out
}

// exec runs one op. Anything reaching here came through the log, so it is
// checked again: a bad op gets an error reply, never a panic or divergence.
func (c *Ctx) exec(op *Op, allowReads bool) {
	args := op.Args
	if len(args) == 0 {
		c.Error("ERR empty command")
		return
	}
	cmd := Lookup(args[0])
	if op.Version > 0 && (cmd == nil || op.Version > cmd.version()) {
		if !op.Ignorable {
			// Check refuses such an entry before Apply sees it.
			panic(fmt.Sprintf("fsm: applying an op this build does not know: %v", &UnknownOpError{Command: string(args[0]), Version: op.Version}))
		}
		c.Error("ERR unknown command '" + string(args[0]) + "'") // a newer build's, skipped
		return
	}
	if cmd == nil || (!cmd.IsWrite() && !allowReads) {
		c.Error("ERR unknown command '" + string(args[0]) + "'")
		return
	}
	if !cmd.ArityOK(len(args)) {
		c.WrongArity(args[0])
		return
	}
	if op.DB < 0 || op.DB >= NumDBs {
		c.Error(resp.ErrDBIndex)
		return
	}
	c.DB, c.ks, c.Version = op.DB, c.f.dbs[op.DB], max(op.Version, 1)
	if cmd = c.resolve(cmd, args); cmd == nil {
		return
	}
	if cmd.Flags&FlagDenyOOM != 0 && c.f.oom() {
		c.Error(OOMError)
		return
	}
	cmd.Handler(c, args)
}

// Stamp prepares a request for the log, on the leader: every op must be a
// command the fsm replicates (a write; inside MULTI, any keyspace
// command), and gets the version and ignorability its command has in this
// build. The leader stamps all it proposes, its own requests and those
// forwarded to it, so the log holds only ops its build can apply, marked
// so that an older replica knows whether it may skip them.
func Stamp(r *Request) error {
	for i := range r.Ops {
		op := &r.Ops[i]
		if len(op.Args) == 0 {
			return errors.New("empty command")
		}
		cmd := Lookup(op.Args[0])
		if cmd == nil || (!cmd.IsWrite() && !r.Atomic) {
			return fmt.Errorf("unknown command '%s'", op.Args[0])
		}
		op.Version, op.Ignorable = cmd.version(), cmd.Flags&FlagIgnorable != 0
	}
	return nil
}

// UnknownOpError is an op in a committed entry that this build cannot
// apply as the build that wrote it did: a command it does not know, or a
// newer version of one.
type UnknownOpError struct {
	Command string
	Version int // the op's
	Known   int // this build's version of the command; 0 if unknown
}

func (e *UnknownOpError) Error() string {
	if e.Known == 0 {
		return fmt.Sprintf("command '%s' (version %d) is unknown to this build", e.Command, e.Version)
	}
	return fmt.Sprintf("command '%s' is at version %d, this build knows up to version %d", e.Command, e.Version, e.Known)
}

// Check reports whether this build can apply e as every replica that
// knows its ops does. An op stamped with a command or a version this
// build does not know cannot be applied without diverging from them,
// unless it is ignorable: a node given such an entry must stop (and be
// upgraded) rather than apply it. Ops from builds before stamping
// (version 0) apply as they always did.
func Check(e *Entry) error {
	for _, r := range e.Reqs {
		for _, op := range r.Ops {
			if op.Version == 0 || op.Ignorable || len(op.Args) == 0 {
				continue
			}
			cmd := Lookup(op.Args[0])
			if cmd == nil {
				return &UnknownOpError{Command: string(op.Args[0]), Version: op.Version}
			}
			if op.Version > cmd.version() {
				return &UnknownOpError{Command: cmd.Name, Version: op.Version, Known: cmd.version()}
			}
		}
	}
	return nil
}

func (f *FSM) condsHold(conds []Cond) bool {
	for _, cd := range conds {
		if cd.DB < 0 || cd.DB >= NumDBs {
			return false
		}
		ks := f.dbs[cd.DB]
		it := ks.raw(string(cd.Key))
		var rev uint64
		if it != nil && !it.expired(f.now) {
			rev = it.rev
		}
		if rev != cd.Rev {
			return false
		}
		if rev == 0 {
			// Missing then and now: was it created (and deleted, or left
			// to expire) in between?
			if it != nil && it.rev > cd.Since {
				return false
			}
			if ks.delRev[keyHash(string(cd.Key))%delBuckets] > cd.Since {
				return false
			}
		}
	}
	return true
}

// Read runs a read-only command against db and appends its reply to out.
// now is the caller's clock; the keyspace uses max(now, last applied now).
// rnd feeds commands that pick at random (RANDOMKEY, HRANDFIELD).
func (f *FSM) Read(db int, now int64, rnd uint64, args [][]byte, out []byte) []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c := ctxPool.Get().(*Ctx)
	*c = Ctx{f: f, Now: max(now, f.now), Rand: rnd, Out: out}
	defer func() {
		c.Out = nil
		ctxPool.Put(c)
	}()
	if len(args) == 0 {
		c.Error("ERR empty command")
		return c.Out
	}
	cmd := Lookup(args[0])
	if cmd == nil || cmd.IsWrite() {
		c.Error("ERR unknown command '" + string(args[0]) + "'")
		return c.Out
	}
	if !cmd.ArityOK(len(args)) {
		c.WrongArity(args[0])
		return c.Out
	}
	if db < 0 || db >= NumDBs {
		c.Error(resp.ErrDBIndex)
		return c.Out
	}
	c.DB, c.ks, c.Version = db, f.dbs[db], cmd.version()
	if cmd = c.resolve(cmd, args); cmd != nil {
		cmd.Handler(c, args)
	}
	return c.Out
}

// ctxPool recycles read contexts: a read then allocates nothing of its own.
var ctxPool = sync.Pool{New: func() any { return new(Ctx) }}

// Watch returns the condition a WATCH of key records: the log index of the
// key's last write (0 if it does not exist or has expired at now) and the
// index applied when it was read.
func (f *FSM) Watch(db int, now int64, key []byte) Cond {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cd := Cond{DB: db, Key: key, Since: f.applied}
	if it := f.dbs[db].live(string(key), max(now, f.now)); it != nil {
		cd.Rev = it.rev
	}
	return cd
}

// WatchRev is Watch(...).Rev: the key's revision alone.
func (f *FSM) WatchRev(db int, now int64, key []byte) uint64 { return f.Watch(db, now, key).Rev }

// Applied returns the index of the last entry applied (or restored).
func (f *FSM) Applied() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// SetApplied records that the log up to index has been applied even though
// no entry reached Apply (Raft's own no-op and configuration entries).
func (f *FSM) SetApplied(index uint64) {
	f.mu.Lock()
	if index > f.applied {
		f.applied = index
	}
	f.mu.Unlock()
}

// Now returns the largest leader clock applied so far.
func (f *FSM) Now() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.now
}

// DBStats is one database's line in INFO keyspace.
type DBStats struct {
	DB      int
	Keys    int
	Expires int
}

// Stats returns the non-empty databases, counting keys not yet reclaimed.
func (f *FSM) Stats() []DBStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []DBStats
	for i, ks := range f.dbs {
		if n := ks.keys.Len(); n > 0 {
			out = append(out, DBStats{DB: i, Keys: n, Expires: ks.ttls.Len()})
		}
	}
	return out
}

// ReapCommand is the internal command the leader proposes to reclaim an
// expired key: "statehouse.reap key deadline". It deletes the key only if
// it still has that deadline and has expired, so a key re-SET after the
// leader looked is never lost.
const ReapCommand = "statehouse.reap"

// Expired returns up to limit reap ops for keys expired at now, oldest
// deadline first, across all databases. The leader proposes them.
func (f *FSM) Expired(now int64, limit int) []Op {
	f.mu.RLock()
	defer f.mu.RUnlock()
	now = max(now, f.now)
	var ops []Op
	for db, ks := range f.dbs {
		ks.ttls.Scan(func(r ttlRef) bool {
			if r.deadline >= now || len(ops) >= limit {
				return false
			}
			ops = append(ops, Op{DB: db, Args: [][]byte{
				[]byte(ReapCommand), []byte(r.key), strconv.AppendInt(nil, r.deadline, 10),
			}})
			return true
		})
	}
	return ops
}

var internalCommands = []*Command{
	{Name: ReapCommand, Arity: 3, Flags: FlagWrite | FlagInternal | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "internal", Handler: reapCmd},
	{Name: MemConfigCommand, Arity: 3, Flags: FlagWrite | FlagInternal | FlagFast, Group: "internal", Handler: memConfigCmd},
	{Name: EvictCommand, Arity: 3, Flags: FlagWrite | FlagInternal | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Group: "internal", Handler: evictCmd},
	{Name: NotifyCommand, Arity: 2, Flags: FlagWrite | FlagInternal | FlagFast, Group: "internal", Handler: configNotifyCmd},
	// Version 2: scripts see cmsgpack; 3: struct.
	{Name: ScriptCommand, Arity: -3, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: evalCmd, Version: scriptVersion},
	{Name: ScriptLoadCommand, Arity: 2, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: scriptLoadCmd},
	{Name: ScriptFlushCommand, Arity: 1, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: scriptFlushCmd},
	// Functions (function.go). Bump these versions when what the library
	// code or a function sees changes (functionLibs, register_function).
	{Name: FunctionLoadCommand, Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagInternal, Group: "internal", Handler: functionLoadCmd, Version: 1},
	{Name: FunctionDeleteCommand, Arity: 2, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: functionDeleteCmd, Version: 1},
	{Name: FunctionFlushCommand, Arity: 1, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: functionFlushCmd, Version: 1},
	{Name: FunctionRestoreCommand, Arity: 3, Flags: FlagWrite | FlagDenyOOM | FlagInternal, Group: "internal", Handler: functionRestoreCmd, Version: 1},
	{Name: FcallCommand, Arity: -3, Flags: FlagWrite | FlagInternal, Group: "internal", Handler: fcallCmd, Version: fcallVersion},
}

func reapCmd(c *Ctx, args [][]byte) {
	deadline, ok := resp.ParseInt(args[2])
	it := c.ks.raw(string(args[1]))
	if !ok || it == nil || it.deadline != deadline || !it.expired(c.Now) {
		c.Int(0)
		return
	}
	c.ks.remove(it.key, c.Rev)
	c.notify(NotifyExpired, "expired", args[1])
	c.Int(1)
}
