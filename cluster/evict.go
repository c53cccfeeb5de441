package cluster

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/statehouse/statehouse/fsm"
)

// Eviction: the leader alone decides which keys go when used_memory is
// over maxmemory, and proposes them as conditional deletes
// ("statehouse.evict key rev"), which every replica applies alike (fsm/memory.go).
// A follower never evicts on its own.
//
// The choice follows Redis's approximation: each round samples
// maxmemory-samples keys of every database (keys with a TTL alone under
// volatile-*) into a pool of the 16 best candidates, and takes the best.
// Scores:
//
//   - LRU: idle time in log indexes, from the later of the key's last
//     write (its revision, replicated) and the last read this leader
//     served (its access table below). Reads served by followers do not
//     reach the leader and do not count; nor do reads before this node
//     led.
//   - LFU: Redis's 8-bit logarithmic counter with its one-per-minute
//     decay, kept in the access table for reads and writes this leader's
//     clients sent; a key it never saw counts as new (LFU_INIT_VAL 5).
//   - TTL: the nearest deadline first.
//   - random: the sample itself.
//
// The access table is a fixed array indexed by a hash of db and key
// (accessSlots entries, 1 MiB): two keys sharing a slot share their
// history, the key that touched it last owning it; memory stays bounded
// whatever the key count.

const (
	evictPool   = 16  // Redis's EVPOOL_SIZE
	evictBatch  = 256 // keys per proposal at most
	evictRounds = 64  // proposals per wake at most, so writes are not crowded out
	accessSlots = 1 << 16
	lfuInitVal  = 5
	lfuLogFac   = 10 // Redis's lfu-log-factor
)

// evictEvery is how often the leader checks used_memory against the limit.
const evictEvery = 10 * time.Millisecond

type accessSlot struct {
	tag  atomic.Uint64 // hash of db and key
	last atomic.Uint64 // applied index when last touched
	lfu  atomic.Uint32 // minutes<<8 | counter
}

type accessTable struct{ slots [accessSlots]accessSlot }

func accessHash(db int, key []byte) uint64 {
	return xxhash.Sum64(key) ^ uint64(db)*0x9e3779b97f4a7c15
}

func minutesNow() uint32 { return uint32(time.Now().Unix()/60) & 0xffffff }

// lfuDecayed is the counter after Redis's decay (lfu-decay-time 1): one
// less per idle minute.
func lfuDecayed(v uint32, now uint32) uint32 {
	ctr, at := v&0xff, v>>8
	idle := (now - at) & 0xffffff
	if idle >= ctr {
		return 0
	}
	return ctr - idle
}

func (t *accessTable) touch(db int, key []byte, applied uint64) {
	h := accessHash(db, key)
	s := &t.slots[h%accessSlots]
	now := minutesNow()
	var ctr uint32 = lfuInitVal
	if s.tag.Load() == h {
		ctr = lfuDecayed(s.lfu.Load(), now)
		// LFULogIncr: harder to grow the higher it is.
		if ctr < 255 {
			base := float64(ctr) - lfuInitVal
			if base < 0 {
				base = 0
			}
			if rand.Float64() < 1/(base*lfuLogFac+1) {
				ctr++
			}
		}
	}
	s.tag.Store(h)
	s.last.Store(applied)
	s.lfu.Store(now<<8 | ctr)
}

// lookup returns what the table knows of a key: the index of its last
// access and its LFU counter.
func (t *accessTable) lookup(db int, key string) (uint64, uint32, bool) {
	h := accessHash(db, []byte(key))
	s := &t.slots[h%accessSlots]
	if s.tag.Load() != h {
		return 0, lfuInitVal, false
	}
	return s.last.Load(), lfuDecayed(s.lfu.Load(), minutesNow()), true
}

// Touch records that a client of this node accessed keys of db. Only a
// leader's record is used (for LRU and LFU eviction); the server calls it
// only while the policy needs it.
func (n *Node) Touch(db int, keys [][]byte) {
	if !n.IsLeader() {
		return
	}
	applied := n.fsm.Applied()
	for _, k := range keys {
		n.access.touch(db, k, applied)
	}
}

// runEviction proposes evictions while this node leads and used_memory is
// over maxmemory.
func (n *Node) runEviction() {
	defer n.wg.Done()
	tick := time.NewTicker(evictEvery)
	defer tick.Stop()
	var pool []evictCand
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
		}
		if _, over := n.fsm.OverLimit(); !over || !n.IsLeader() || !n.ready.Load() {
			pool = pool[:0]
			continue
		}
		pool = n.evict(pool)
	}
}

type evictKey struct {
	db  int
	key string
}

type evictCand struct {
	fsm.Candidate
	score float64 // higher goes first
}

// evict proposes batches until used_memory is under the limit or nothing
// more can be evicted; it returns the pool for the next wake.
func (n *Node) evict(pool []evictCand) []evictCand {
	for round := 0; round < evictRounds; round++ {
		over, ok := n.fsm.OverLimit()
		if !ok {
			return pool[:0]
		}
		var ops []fsm.Op
		pool, ops = n.pickEvictions(pool, over)
		if len(ops) == 0 {
			return pool // nothing the policy may evict: denyoom writes get -OOM
		}
		ctx, cancel := context.WithTimeout(context.Background(), reapTimeout)
		_, _, err := n.proposeLocal(ctx, fsm.Request{Ops: ops})
		cancel()
		if errors.Is(err, ErrDiskFull) {
			return pool[:0]
		}
		if err != nil {
			n.log.Warn("evicting keys failed", "err", err, "keys", len(ops))
			return pool[:0]
		}
	}
	return pool
}

// pickEvictions chooses keys whose estimates add up to need bytes.
func (n *Node) pickEvictions(pool []evictCand, need int64) ([]evictCand, []fsm.Op) {
	cfg := n.fsm.MemConfig()
	if cfg.Policy == fsm.PolicyNoEviction {
		return pool[:0], nil
	}
	keys, vol := n.fsm.KeyCounts()
	applied := n.fsm.Applied()
	pick := func(total int) int { return rand.IntN(total) }
	chosen := map[evictKey]bool{}
	var ops []fsm.Op
	var freed int64
	for tries := 0; freed < need && len(ops) < evictBatch && tries < 4*evictBatch; tries++ {
		if cfg.Policy == fsm.PolicyAllKeysRandom || cfg.Policy == fsm.PolicyVolatileRandom {
			// Redis: one random key, databases taken in turn.
			c, ok := n.randomCandidate(cfg.Policy.Volatile(), keys, vol, pick)
			if !ok {
				break
			}
			id := evictKey{c.DB, c.Key}
			if !chosen[id] {
				chosen[id] = true
				ops = append(ops, evictOp(c))
				freed += c.Mem
			}
			continue
		}
		sampled := false
		for db := 0; db < fsm.NumDBs; db++ {
			if (cfg.Policy.Volatile() && vol[db] == 0) || keys[db] == 0 {
				continue
			}
			for _, c := range n.fsm.Sample(db, cfg.Samples, cfg.Policy.Volatile(), pick) {
				sampled = true
				pool = poolInsert(pool, evictCand{c, n.score(cfg.Policy, c, applied)}, chosen)
			}
		}
		if !sampled || len(pool) == 0 {
			break
		}
		best := pool[len(pool)-1]
		pool = pool[:len(pool)-1]
		id := evictKey{best.DB, best.Key}
		if chosen[id] {
			continue
		}
		chosen[id] = true
		ops = append(ops, evictOp(best.Candidate))
		freed += best.Mem
	}
	return pool, ops
}

func (n *Node) randomCandidate(volatile bool, keys, vol [fsm.NumDBs]int, pick func(int) int) (fsm.Candidate, bool) {
	start := rand.IntN(fsm.NumDBs)
	for i := 0; i < fsm.NumDBs; i++ {
		db := (start + i) % fsm.NumDBs
		if (volatile && vol[db] == 0) || keys[db] == 0 {
			continue
		}
		if cs := n.fsm.Sample(db, 1, volatile, pick); len(cs) > 0 {
			return cs[0], true
		}
	}
	return fsm.Candidate{}, false
}

func evictOp(c fsm.Candidate) fsm.Op {
	return fsm.Op{DB: c.DB, Args: [][]byte{[]byte(fsm.EvictCommand), []byte(c.Key), []byte(uitoa(c.Rev))}}
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// score ranks a candidate under the policy: the higher, the sooner it goes.
func (n *Node) score(p fsm.Policy, c fsm.Candidate, applied uint64) float64 {
	switch p {
	case fsm.PolicyAllKeysLRU, fsm.PolicyVolatileLRU:
		last := c.Rev
		if at, _, ok := n.access.lookup(c.DB, c.Key); ok && at > last {
			last = at
		}
		if last > applied {
			return 0
		}
		return float64(applied - last)
	case fsm.PolicyAllKeysLFU, fsm.PolicyVolatileLFU:
		_, ctr, _ := n.access.lookup(c.DB, c.Key)
		return float64(255 - ctr)
	case fsm.PolicyVolatileTTL:
		return math.MaxInt64 - float64(c.Deadline)
	}
	return 0
}

// poolInsert keeps the pool sorted by score, ascending (the best last),
// at most evictPool entries, one per key.
func poolInsert(pool []evictCand, c evictCand, chosen map[evictKey]bool) []evictCand {
	if chosen[evictKey{c.DB, c.Key}] {
		return pool
	}
	for i := range pool {
		if pool[i].DB == c.DB && pool[i].Key == c.Key {
			pool[i] = c // fresher facts
			sortPool(pool)
			return pool
		}
	}
	if len(pool) == evictPool {
		if c.score <= pool[0].score {
			return pool
		}
		pool = pool[1:]
	}
	pool = append(pool, c)
	sortPool(pool)
	return pool
}

func sortPool(pool []evictCand) {
	for i := 1; i < len(pool); i++ {
		for j := i; j > 0 && pool[j].score < pool[j-1].score; j-- {
			pool[j], pool[j-1] = pool[j-1], pool[j]
		}
	}
}
