package fsm

import (
	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/btree"
)

// Kind is the type of a stored value.
type Kind uint8

const (
	KindString Kind = iota + 1
	KindHash
	KindSet
	KindList
	KindZSet
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindHash:
		return "hash"
	case KindSet:
		return "set"
	case KindList:
		return "list"
	case KindZSet:
		return "zset"
	}
	return "none"
}

// item is one key. Items are never mutated once in a tree: writes replace
// them with a modified copy, which is what keeps snapshots isolated.
type item struct {
	h        uint64 // keyHash(key): the tree orders by it, SCAN cursors are built on it
	key      string
	kind     Kind
	grown    bool                       // KindString: str is a prefix of a growable buffer (strbuf.go)
	str      string                     // KindString; a small hash or set packed (packed.go)
	hash     *btree.Map[string, string] // KindHash beyond packing, else nil
	set      *btree.Set[string]         // KindSet beyond packing, else nil
	list     *list                      // KindList: persistent, shared by copies (list.go)
	zset     *zset                      // KindZSet: copy-on-write trees (zset.go)
	deadline int64                      // unix ms, 0 = no TTL
	rev      uint64                     // log index of the last write; WATCH compares it
	mem      int64                      // itemSize, set by put: what used_memory counts for it
	wrote    int64                      // the entry's now at the last write (OBJECT IDLETIME); not in snapshots
}

// keyHash is the 63-bit order key of a key. Clearing the top bit lets a SCAN
// cursor be h+1 without overflow, keeping 0 for "start" and "done".
func keyHash(key string) uint64 { return xxhash.Sum64String(key) >> 1 }

func itemLess(a, b *item) bool {
	if a.h != b.h {
		return a.h < b.h
	}
	return a.key < b.key
}

type ttlRef struct {
	deadline int64
	h        uint64
	key      string
}

func ttlLess(a, b ttlRef) bool {
	if a.deadline != b.deadline {
		return a.deadline < b.deadline
	}
	if a.h != b.h {
		return a.h < b.h
	}
	return a.key < b.key
}

// delBuckets is how many deletion clocks a keyspace keeps for WATCH.
const delBuckets = 1024

// keyspace is one numbered database: the keys and a deadline index.
type keyspace struct {
	keys *btree.BTreeG[*item]
	ttls *btree.BTreeG[ttlRef]

	// For WATCH of a key that is missing: the last revision at which a key
	// hashing to each bucket was deleted (by any means, FLUSH included). A
	// missing key that was created and deleted again since the WATCH shows
	// up here (as does, rarely, another key of its bucket: an EXEC aborted
	// needlessly, never one let through).
	delRev [delBuckets]uint64

	used int64 // the sum of the items' mem (memory.go)
}

// flushed returns the empty keyspace that replaces ks in a FLUSH at rev:
// every key ks held counts as deleted then.
func (ks *keyspace) flushed(rev uint64) *keyspace {
	n := newKeyspace()
	n.delRev = ks.delRev
	marked := 0
	ks.keys.Scan(func(it *item) bool {
		if b := it.h % delBuckets; n.delRev[b] != rev {
			n.delRev[b] = rev
			marked++
		}
		return marked < delBuckets
	})
	return n
}

var treeOpts = btree.Options{NoLocks: true} // the FSM's RWMutex guards the live trees

func newKeyspace() *keyspace {
	return &keyspace{
		keys: btree.NewBTreeGOptions(itemLess, treeOpts),
		ttls: btree.NewBTreeGOptions(ttlLess, treeOpts),
	}
}

// copy is O(1): both trees are copy-on-write.
func (ks *keyspace) copy() *keyspace {
	return &keyspace{keys: ks.keys.Copy(), ttls: ks.ttls.Copy(), delRev: ks.delRev, used: ks.used}
}

// raw returns the stored item whether or not it has expired.
func (ks *keyspace) raw(key string) *item {
	return ks.rawProbe(&item{}, key)
}

// rawProbe is raw with a caller-owned search item, so hot paths that keep
// one (Ctx) do not allocate a new one per lookup. The probe is never stored.
func (ks *keyspace) rawProbe(probe *item, key string) *item {
	probe.h, probe.key = keyHash(key), key
	it, _ := ks.keys.Get(probe)
	probe.key = ""
	return it
}

// live returns the item if it exists and has not expired at now.
func (ks *keyspace) live(key string, now int64) *item {
	it := ks.raw(key)
	if it == nil || it.expired(now) {
		return nil
	}
	return it
}

func (it *item) expired(now int64) bool { return it.deadline != 0 && now > it.deadline }

// put stores it (replacing any item with the same key) and keeps the
// deadline index in step.
func (ks *keyspace) put(it *item) {
	if it.h == 0 {
		it.h = keyHash(it.key)
	}
	it.mem = itemSize(it)
	prev, replaced := ks.keys.Set(it)
	ks.used += it.mem
	if replaced {
		ks.used -= prev.mem
	}
	if replaced && prev.deadline != 0 && prev.deadline != it.deadline {
		ks.ttls.Delete(ttlRef{prev.deadline, prev.h, prev.key})
	}
	if it.deadline != 0 && (!replaced || prev.deadline != it.deadline) {
		ks.ttls.Set(ttlRef{it.deadline, it.h, it.key})
	}
}

// remove deletes key at revision rev and returns what was stored
// (expired or not), or nil.
func (ks *keyspace) remove(key string, rev uint64) *item {
	prev, ok := ks.keys.Delete(&item{h: keyHash(key), key: key})
	if !ok {
		return nil
	}
	ks.delRev[prev.h%delBuckets] = rev
	ks.used -= prev.mem
	if prev.deadline != 0 {
		ks.ttls.Delete(ttlRef{prev.deadline, prev.h, prev.key})
	}
	return prev
}

// clone returns a shallow copy of it that a write may change before put.
// Hash and set contents are shared until the writer calls mutHash/mutSet.
// The copy's string is not grown (strbuf.go): only the commands that
// extend a value set that, with the value extendString made, so a write
// that replaces the string of a grown value's copy cannot leave the flag
// on a string without the buffer's header.
func (it *item) clone() *item {
	c := *it
	c.grown = false
	return &c
}

// mutHash gives the clone its own copy-on-write view of the hash.
func (it *item) mutHash() {
	if it.hash != nil { // a packed hash is a string: never changed in place
		it.hash = it.hash.Copy()
	}
}

func (it *item) mutSet() {
	if it.set != nil { // a packed set is a string: never changed in place
		it.set = it.set.Copy()
	}
}
