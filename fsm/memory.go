package fsm

import "strconv"

// Memory accounting and the memory limit.
//
// used_memory is not the heap: it is a deterministic estimate of the live
// data, kept incrementally as items are put and removed (keyspace.used),
// so every replica that applied the same log reports the same figure and
// makes the same decisions from it. Each item's estimate (itemSize) is a
// function of the item alone: its key, its value by kind, and overheads
// calibrated against Go's heap (memory_test.go measures how close).
//
// The limit (maxmemory, maxmemory-policy, maxmemory-samples) is cluster
// state set through the log ("statehouse.memconfig"), like
// notify-keyspace-events. What it does, on every replica alike:
//
//   - A command Redis flags denyoom (one that may grow memory) is refused
//     with Redis's -OOM error while used_memory is over the limit, checked
//     in Apply from the deterministic used_memory, so every replica gives
//     the same answer: noeviction refuses at maxmemory; a policy that
//     evicts refuses at maxmemory plus evictSlack, the room the leader's
//     eviction has to catch up with a writer. Reads and deletes go on.
//   - Eviction is decided by the leader alone (cluster/evict.go), from
//     samples the fsm gives it (Sample), and proposed as conditional
//     deletes ("statehouse.evict key rev"): a key is evicted only if it
//     still has the revision the leader saw, the policy still allows it
//     (volatile-* only keys with a TTL) and used_memory is still over
//     the limit when the op applies. A follower never evicts on its own.

// OOMError is Redis's reply to a denyoom command over the limit.
const OOMError = "OOM command not allowed when used memory > 'maxmemory'."

// ExecAbortOOM is Redis's reply to an EXEC holding a denyoom command over
// the limit: the transaction is discarded.
const ExecAbortOOM = "EXECABORT Transaction discarded because of: " + OOMError

// Policy is a maxmemory-policy.
type Policy int32

const (
	PolicyNoEviction Policy = iota
	PolicyAllKeysLRU
	PolicyVolatileLRU
	PolicyAllKeysLFU
	PolicyVolatileLFU
	PolicyAllKeysRandom
	PolicyVolatileRandom
	PolicyVolatileTTL
)

var policyNames = [...]string{"noeviction", "allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random", "volatile-random", "volatile-ttl"}

func (p Policy) String() string {
	if p < 0 || int(p) >= len(policyNames) {
		return "noeviction"
	}
	return policyNames[p]
}

// Volatile reports whether the policy evicts only keys with a TTL.
func (p Policy) Volatile() bool {
	return p == PolicyVolatileLRU || p == PolicyVolatileLFU || p == PolicyVolatileRandom || p == PolicyVolatileTTL
}

// ParsePolicy reads a maxmemory-policy name.
func ParsePolicy(s string) (Policy, bool) {
	for i, n := range policyNames {
		if s == n {
			return Policy(i), true
		}
	}
	return 0, false
}

// PolicyError is Redis's CONFIG SET reason for an unknown policy.
const PolicyError = "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction"

// MemConfigCommand sets maxmemory, maxmemory-policy or maxmemory-samples
// through the log: "statehouse.memconfig name value".
const MemConfigCommand = "statehouse.memconfig"

// EvictCommand is the leader's conditional delete: "statehouse.evict key rev".
const EvictCommand = "statehouse.evict"

// MemConfig is the cluster's memory limit.
type MemConfig struct {
	MaxMemory int64 // bytes of used_memory; 0 = no limit
	Policy    Policy
	Samples   int // keys sampled per eviction round per database (Redis: 5)
}

// EvictSlack is how far over maxmemory a policy that evicts lets
// used_memory go before it refuses denyoom commands too: the room the
// leader's eviction has to catch up with a writer (1/16 of the limit,
// at least 256 KiB).
func EvictSlack(limit int64) int64 { return max(limit/16, 256<<10) }

// MemConfig returns the cluster's memory limit.
func (f *FSM) MemConfig() MemConfig {
	return MemConfig{MaxMemory: f.maxMemory.Load(), Policy: Policy(f.policy.Load()), Samples: int(f.samples.Load())}
}

// UsedMemory returns the estimate of the live data's size (used_memory),
// as of the last entry applied.
func (f *FSM) UsedMemory() int64 { return f.used.Load() }

// PeakMemory is the largest UsedMemory since the node started.
func (f *FSM) PeakMemory() int64 { return f.peak.Load() }

// EvictedKeys counts the keys this node's fsm evicted (evicted_keys).
func (f *FSM) EvictedKeys() int64 { return f.evicted.Load() }

// usedNow sums the databases' estimates; the apply lock is held.
func (f *FSM) usedNow() int64 {
	var n int64
	for _, ks := range f.dbs {
		n += ks.used
	}
	return n
}

// noteUsed publishes usedNow after an entry or a restore; the lock is held.
func (f *FSM) noteUsed() {
	u := f.usedNow()
	f.used.Store(u)
	if u > f.peak.Load() {
		f.peak.Store(u)
	}
}

// oom reports whether a denyoom command must be refused now; the apply
// lock is held. It reads only replicated state.
func (f *FSM) oom() bool {
	max := f.maxMemory.Load()
	if max <= 0 {
		return false
	}
	limit := max
	if Policy(f.policy.Load()) != PolicyNoEviction {
		limit += EvictSlack(max)
	}
	return f.usedNow() > limit
}

// OOM reports whether denyoom commands are being refused, as of the
// last entry applied: the front door refuses to queue commands in MULTI
// then, as Redis does.
func (f *FSM) OOM() bool {
	max := f.maxMemory.Load()
	if max <= 0 {
		return false
	}
	limit := max
	if Policy(f.policy.Load()) != PolicyNoEviction {
		limit += EvictSlack(max)
	}
	return f.used.Load() > limit
}

// OverLimit reports whether used_memory is over maxmemory (the leader
// evicts while it is), and by how much.
func (f *FSM) OverLimit() (int64, bool) {
	max := f.maxMemory.Load()
	if max <= 0 {
		return 0, false
	}
	u := f.used.Load()
	return u - max, u > max
}

func memConfigCmd(c *Ctx, args [][]byte) {
	v := string(args[2])
	switch string(args[1]) {
	case "maxmemory":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			c.Error("ERR argument must be a memory value")
			return
		}
		c.f.maxMemory.Store(n)
	case "maxmemory-policy":
		p, ok := ParsePolicy(v)
		if !ok {
			c.Error("ERR " + PolicyError)
			return
		}
		c.f.policy.Store(int32(p))
	case "maxmemory-samples":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			c.Error("ERR argument must be between 1 and 2147483647 inclusive")
			return
		}
		c.f.samples.Store(int32(n))
	default:
		c.Error("ERR unknown memory setting '" + string(args[1]) + "'")
		return
	}
	c.f.memChanged = true
	c.OK()
}

// OnMemConfig sets what the fsm calls, outside its lock, after an entry
// or a restore changed the memory settings (the server moves Go's soft
// memory limit with maxmemory).
func (f *FSM) OnMemConfig(fn func(MemConfig)) { f.onMem.Store(&fn) }

func (f *FSM) memConfigChanged() {
	if fn := f.onMem.Load(); fn != nil {
		(*fn)(f.MemConfig())
	}
}

// evictCmd applies the leader's "statehouse.evict key rev".
func evictCmd(c *Ctx, args [][]byte) {
	rev, err := strconv.ParseUint(string(args[2]), 10, 64)
	if err != nil {
		c.Int(0)
		return
	}
	f := c.f
	max := f.maxMemory.Load()
	p := Policy(f.policy.Load())
	it := c.ks.raw(string(args[1]))
	if max <= 0 || p == PolicyNoEviction || f.usedNow() <= max || it == nil || it.rev != rev || (p.Volatile() && it.deadline == 0) {
		c.Int(0)
		return
	}
	c.ks.remove(it.key, c.Rev)
	f.evicted.Add(1)
	c.notify(NotifyEvicted, "evicted", args[1])
	c.Int(1)
}

// Candidate is one key the leader may evict: what Sample tells it.
type Candidate struct {
	DB       int
	Key      string
	Rev      uint64 // the log index of its last write: the evict op's condition
	Deadline int64
	Mem      int64
}

// Sample returns up to n keys of db picked by pick (given the number of
// keys to choose from, it returns an index), from the keys with a TTL
// alone when volatile. The leader calls it; the randomness is its own,
// since what it proposes names the keys.
func (f *FSM) Sample(db, n int, volatile bool, pick func(int) int) []Candidate {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if db < 0 || db >= NumDBs {
		return nil
	}
	ks := f.dbs[db]
	var out []Candidate
	if volatile {
		total := ks.ttls.Len()
		for i := 0; i < n && total > 0; i++ {
			r, _ := ks.ttls.GetAt(pick(total))
			if it := ks.raw(r.key); it != nil {
				out = append(out, Candidate{DB: db, Key: it.key, Rev: it.rev, Deadline: it.deadline, Mem: it.mem})
			}
		}
		return out
	}
	total := ks.keys.Len()
	for i := 0; i < n && total > 0; i++ {
		it, _ := ks.keys.GetAt(pick(total))
		out = append(out, Candidate{DB: db, Key: it.key, Rev: it.rev, Deadline: it.deadline, Mem: it.mem})
	}
	return out
}

// KeyCounts returns each database's number of keys and of keys with a TTL.
func (f *FSM) KeyCounts() (keys, volatile [NumDBs]int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i, ks := range f.dbs {
		keys[i], volatile[i] = ks.keys.Len(), ks.ttls.Len()
	}
	return
}

// MemoryUsage is MEMORY USAGE key [SAMPLES n]: the estimate of one item,
// nil if the key does not exist at now. samples < 0 gives the figure
// used_memory counts; 0 sizes every element; n > 0 samples n of them.
func (f *FSM) MemoryUsage(db int, now int64, key []byte, samples int) (int64, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if db < 0 || db >= NumDBs {
		return 0, false
	}
	it := f.dbs[db].live(string(key), max(now, f.now))
	if it == nil {
		return 0, false
	}
	if samples < 0 {
		return it.mem, true
	}
	return itemSizeSampled(it, samples), true
}

// MemoryStats are the fsm's figures for MEMORY STATS.
type MemoryStats struct {
	Used, Peak int64
	Keys       int
	Overhead   int64 // the per-key part of Used: items, keys, index entries
}

// MemoryStats returns the fsm's part of MEMORY STATS.
func (f *FSM) MemoryStats() MemoryStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	st := MemoryStats{Used: f.usedNow(), Peak: f.peak.Load()}
	for _, ks := range f.dbs {
		st.Keys += ks.keys.Len()
		st.Overhead += int64(ks.keys.Len())*itemOverhead + int64(ks.ttls.Len())*ttlEntry
	}
	return st
}

// The estimate's constants, in bytes. itemOverhead is an *item (its
// size class) and its slot in the keyspace tree; ttlEntry an entry in
// the deadline index; each kind's container overhead and per-element
// cost are the tree or list nodes' share per element. Strings are counted
// at the size class Go allocates them in. Calibrated against the heap
// by TestMemoryCalibration.
const (
	itemOverhead  = 128
	ttlEntry      = 48
	hashOverhead  = 128
	hashEntry     = 56
	setOverhead   = 96
	setEntry      = 22
	listOverhead  = 64
	listEntry     = 25
	zsetOverhead  = 192
	zsetEntry     = 94
	sizeSamples   = 32 // elements sized per collection; more are extrapolated
	largeAllocMin = 32 << 10
)

// itemSize is the estimate used_memory counts for it: one case per kind.
func itemSize(it *item) int64 { return itemSizeSampled(it, sizeSamples) }

// itemSizeSampled sizes it, sampling samples elements of a collection at
// evenly spaced positions (tree order: deterministic) and extrapolating;
// 0 sizes them all.
func itemSizeSampled(it *item, samples int) int64 {
	n := itemOverhead + allocSize(len(it.key))
	if it.deadline != 0 {
		n += ttlEntry
	}
	switch it.kind {
	case KindString:
		n += allocSize(len(it.str))
	case KindHash:
		if it.hash == nil { // packed: one string
			n += allocSize(len(it.str))
			break
		}
		n += hashOverhead + sampled(it.hash.Len(), samples, func(i int) int64 {
			k, v, _ := it.hash.GetAt(i)
			return hashEntry + allocSize(len(k)) + allocSize(len(v))
		})
	case KindSet:
		if it.set == nil { // packed: one string
			n += allocSize(len(it.str))
			break
		}
		n += setOverhead + sampled(it.set.Len(), samples, func(i int) int64 {
			m, _ := it.set.GetAt(i)
			return setEntry + allocSize(len(m))
		})
	case KindList:
		n += listOverhead + sampled(it.list.len(), samples, func(i int) int64 {
			return listEntry + allocSize(len(it.list.at(i)))
		})
	case KindZSet: // each member's bytes once: both trees share the string
		n += zsetOverhead + sampled(it.zset.len(), samples, func(i int) int64 {
			return zsetEntry + allocSize(len(it.zset.at(i).member))
		})
	}
	return n
}

// sampled sums size over n elements, or over samples of them spread
// evenly and scaled to n.
func sampled(n, samples int, size func(i int) int64) int64 {
	if samples <= 0 || n <= samples {
		var sum int64
		for i := 0; i < n; i++ {
			sum += size(i)
		}
		return sum
	}
	var sum int64
	for j := 0; j < samples; j++ {
		sum += size(int(int64(j) * int64(n) / int64(samples)))
	}
	return sum * int64(n) / int64(samples)
}

// sizeClasses are Go's small allocation size classes (runtime/sizeclasses.go).
var sizeClasses = [...]int32{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
	2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240,
	10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// allocSize is what Go allocates for a string of n bytes: its size class,
// or whole 8 KiB pages beyond 32 KiB.
func allocSize(n int) int64 {
	if n == 0 {
		return 0
	}
	if n > largeAllocMin {
		return (int64(n) + 8191) &^ 8191
	}
	lo, hi := 0, len(sizeClasses)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if int(sizeClasses[mid]) >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return int64(sizeClasses[lo])
}

// defaultSamples is Redis's maxmemory-samples.
const defaultSamples = 5

// denyOOM reports whether any op is of a denyoom command.
func denyOOM(ops []Op) bool {
	for i := range ops {
		if len(ops[i].Args) > 0 {
			if cmd := Lookup(ops[i].Args[0]); cmd != nil && cmd.Flags&FlagDenyOOM != 0 {
				return true
			}
		}
	}
	return false
}
