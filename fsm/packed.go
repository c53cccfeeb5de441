package fsm

import (
	"encoding/binary"
	"slices"
	"sort"
	"strings"

	"github.com/tidwall/btree"
)

// A small hash or set is packed in one string, as Redis packs it in a
// listpack: a session's few fields cost one allocation instead of a tree
// node, a string header per field and value, and an allocation each.
//
// The packed form is a uvarint count, then the entries in byte order of
// their first element, each element a uvarint length and its bytes (a
// hash entry is its field then its value; a set entry its member). The
// string is never changed in place: a write builds a new one, so a
// snapshot or a clone sharing the old one is untouched.
//
// Whether a collection is packed is a function of its contents alone
// (fitsPacked), never of its history: a replica that loaded a snapshot
// holds every value as the one that applied the log does, so both count
// the same used_memory.
const (
	packMaxEntries = 128  // entries in a packed collection, at most
	packMaxBytes   = 4096 // bytes of a packed string, at most
)

// fitsPacked reports whether n entries whose elements total b bytes are
// held packed.
func fitsPacked(n, b int) bool { return n <= packMaxEntries && b <= packMaxBytes }

// packedLen is the number of entries in p.
func packedLen(p string) int {
	n, _ := uvarintString(p)
	return int(n)
}

// uvarintString decodes a uvarint at the start of s: its value and size.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0 // only a corrupt string: packed strings are built here
}

// packedIter walks the elements of p: next returns one element, or ok
// false at the end.
type packedIter struct {
	p   string
	off int
}

func newPackedIter(p string) packedIter {
	_, n := uvarintString(p)
	return packedIter{p: p, off: n}
}

func (it *packedIter) next() (s string, ok bool) {
	if it.off >= len(it.p) {
		return "", false
	}
	l, n := uvarintString(it.p[it.off:])
	start := it.off + n
	it.off = start + int(l)
	return it.p[start:it.off], true
}

// packedSize is the length of the packed string holding elems, entries
// of width elements each.
func packedSize(elems []string, width int) int {
	n := uvarintLen(uint64(len(elems) / width))
	for _, e := range elems {
		n += uvarintLen(uint64(len(e))) + len(e)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// pack builds the packed string of entries of width elements each
// (2 for a hash, 1 for a set), elems already in entry order.
func pack(elems []string, width int) string {
	var b strings.Builder
	b.Grow(packedSize(elems, width))
	var tmp [binary.MaxVarintLen64]byte
	b.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(elems)/width))])
	for _, e := range elems {
		b.Write(tmp[:binary.PutUvarint(tmp[:], uint64(len(e)))])
		b.WriteString(e)
	}
	return b.String()
}

// unpack returns p's elements; they share p's bytes.
func unpack(p string, width int) []string {
	out := make([]string, 0, packedLen(p)*width)
	for it := newPackedIter(p); ; {
		e, ok := it.next()
		if !ok {
			return out
		}
		out = append(out, e)
	}
}

// --- hashes ------------------------------------------------------------------

// A hash item holds its fields packed in it.str while they fit, else in
// the tree it.hash (nil while packed). These methods read either.

func (it *item) hashLen() int {
	if it.hash != nil {
		return it.hash.Len()
	}
	return packedLen(it.str)
}

func (it *item) hashGet(f string) (string, bool) {
	if it.hash != nil {
		return it.hash.Get(f)
	}
	for p := newPackedIter(it.str); ; {
		k, ok := p.next()
		if !ok {
			return "", false
		}
		v, _ := p.next()
		switch {
		case k == f:
			return v, true
		case k > f: // entries are in order: it is not there
			return "", false
		}
	}
}

// hashScan calls fn for each field and value in field order until fn
// returns false.
func (it *item) hashScan(fn func(k, v string) bool) {
	it.hashAscend("", fn)
}

// hashAscend is hashScan from the first field >= pivot.
func (it *item) hashAscend(pivot string, fn func(k, v string) bool) {
	if it.hash != nil {
		it.hash.Ascend(pivot, fn)
		return
	}
	for p := newPackedIter(it.str); ; {
		k, ok := p.next()
		if !ok {
			return
		}
		v, _ := p.next()
		if k >= pivot && !fn(k, v) {
			return
		}
	}
}

// hashAt returns the i-th field and value in field order.
func (it *item) hashAt(i int) (k, v string) {
	if it.hash != nil {
		k, v, _ = it.hash.GetAt(i)
		return k, v
	}
	p := newPackedIter(it.str)
	for range i {
		p.next()
		p.next()
	}
	k, _ = p.next()
	v, _ = p.next()
	return k, v
}

// hashSet sets fields (field, value, field, value...; a later one wins)
// in a hash item a write owns (a clone, or new) and returns how many were
// new. A tree must be the item's own copy (mutHash).
func (it *item) hashSet(pairs ...string) (added int) {
	if it.hash != nil {
		for i := 0; i < len(pairs); i += 2 {
			if _, replaced := it.hash.Set(pairs[i], pairs[i+1]); !replaced {
				added++
			}
		}
		if it.hash.Len() <= packMaxEntries { // a value may have shrunk
			it.settleHash()
		}
		return added
	}
	if packedLen(it.str)+len(pairs)/2 > packMaxEntries { // many at once: into a tree
		t := new(btree.Map[string, string])
		it.hashScan(func(k, v string) bool {
			t.Set(strings.Clone(k), strings.Clone(v))
			return true
		})
		it.str, it.hash = "", t
		return it.hashSet(pairs...) // packs again if fields repeated
	}
	elems := unpack(it.str, 2)
	for i := 0; i < len(pairs); i += 2 {
		f, v := pairs[i], pairs[i+1]
		j := sort.Search(len(elems)/2, func(j int) bool { return elems[2*j] >= f })
		if 2*j < len(elems) && elems[2*j] == f {
			elems[2*j+1] = v
			continue
		}
		elems = slices.Insert(elems, 2*j, f, v)
		added++
	}
	it.setHashElems(elems)
	return added
}

// hashDel removes fields from a hash item a write owns and returns how
// many were there.
func (it *item) hashDel(fields ...string) (removed int) {
	if it.hash != nil {
		for _, f := range fields {
			if _, ok := it.hash.Delete(f); ok {
				removed++
			}
		}
		if removed > 0 && it.hash.Len() <= packMaxEntries {
			it.settleHash()
		}
		return removed
	}
	elems := unpack(it.str, 2)
	for _, f := range fields {
		j := sort.Search(len(elems)/2, func(j int) bool { return elems[2*j] >= f })
		if 2*j < len(elems) && elems[2*j] == f {
			elems = slices.Delete(elems, 2*j, 2*j+2)
			removed++
		}
	}
	if removed > 0 {
		it.setHashElems(elems)
	}
	return removed
}

// setHashElems stores a hash's fields and values (in field order) in the
// form its contents call for.
func (it *item) setHashElems(elems []string) {
	if fitsPacked(len(elems)/2, packedSize(elems, 2)) {
		it.str, it.hash = pack(elems, 2), nil
		return
	}
	t := new(btree.Map[string, string])
	for i := 0; i < len(elems); i += 2 {
		// Copied out of the packed string, which is dropped.
		t.Set(strings.Clone(elems[i]), strings.Clone(elems[i+1]))
	}
	it.str, it.hash = "", t
}

// settleHash packs a tree hash that has come to fit.
func (it *item) settleHash() {
	n := it.hash.Len()
	if n > packMaxEntries {
		return
	}
	elems := make([]string, 0, 2*n)
	it.hash.Scan(func(k, v string) bool {
		elems = append(elems, k, v)
		return true
	})
	if fitsPacked(n, packedSize(elems, 2)) {
		it.str, it.hash = pack(elems, 2), nil
	}
}

// fillHash makes it, a new hash item, hold pairs (field, value, ...),
// which must name distinct fields; it reports false if a field repeats.
func (it *item) fillHash(pairs []string) bool {
	if len(pairs)/2 > packMaxEntries {
		t := new(btree.Map[string, string])
		for i := 0; i < len(pairs); i += 2 {
			if _, dup := t.Set(pairs[i], pairs[i+1]); dup {
				return false
			}
		}
		it.str, it.hash = "", t
		return true
	}
	idx := make([]int, len(pairs)/2)
	for i := range idx {
		idx[i] = 2 * i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(pairs[a], pairs[b]) })
	elems := make([]string, 0, len(pairs))
	for n, i := range idx {
		if n > 0 && pairs[i] == elems[len(elems)-2] {
			return false
		}
		elems = append(elems, pairs[i], pairs[i+1])
	}
	it.setHashElems(elems)
	return true
}

// hashIndexed returns a function giving a hash item's i-th field and
// value, unpacking a packed hash once so that many picks do not each walk
// it (indexed is the same for sets).
func (it *item) hashIndexed() func(i int) (string, string) {
	if it.hash != nil {
		return it.hashAt
	}
	elems := unpack(it.str, 2)
	return func(i int) (string, string) { return elems[2*i], elems[2*i+1] }
}

// --- sets --------------------------------------------------------------------

// setReader is what reading a set needs: a set item's members, packed or
// a tree, or a set computed by the set algebra.
type setReader interface {
	Len() int
	Contains(m string) bool
	Scan(fn func(m string) bool)
	Ascend(pivot string, fn func(m string) bool)
	GetAt(i int) (string, bool)
}

// packedSet is a set's packed string.
type packedSet string

func (p packedSet) Len() int { return packedLen(string(p)) }

func (p packedSet) Contains(m string) bool {
	for it := newPackedIter(string(p)); ; {
		e, ok := it.next()
		switch {
		case !ok || e > m:
			return false
		case e == m:
			return true
		}
	}
}

func (p packedSet) Scan(fn func(m string) bool) { p.Ascend("", fn) }

func (p packedSet) Ascend(pivot string, fn func(m string) bool) {
	for it := newPackedIter(string(p)); ; {
		e, ok := it.next()
		if !ok || (e >= pivot && !fn(e)) {
			return
		}
	}
}

func (p packedSet) GetAt(i int) (string, bool) {
	it := newPackedIter(string(p))
	for range i {
		it.next()
	}
	return it.next()
}

// members is a set item's members.
func (it *item) members() setReader {
	if it.set != nil {
		return it.set
	}
	return packedSet(it.str)
}

// indexed returns a function giving s's i-th member, unpacking a packed
// set once so that many picks do not each walk it.
func indexed(s setReader) func(i int) string {
	if p, ok := s.(packedSet); ok {
		elems := unpack(string(p), 1)
		return func(i int) string { return elems[i] }
	}
	return func(i int) string { m, _ := s.GetAt(i); return m }
}

// setAdd adds members to a set item a write owns (a clone with mutSet,
// or new) and returns how many were new.
func (it *item) setAdd(ms ...string) (added int) {
	if it.set != nil {
		for _, m := range ms {
			if !it.set.Contains(m) {
				it.set.Insert(m)
				added++
			}
		}
		return added // a set only grows here: still a tree
	}
	if packedLen(it.str)+len(ms) > packMaxEntries { // many at once: into a tree
		it.set = toTree(packedSet(it.str))
		it.str = ""
		added = it.setAdd(ms...)
		it.settleSet() // members may have repeated
		return added
	}
	elems := unpack(it.str, 1)
	for _, m := range ms {
		j, found := slices.BinarySearch(elems, m)
		if !found {
			elems = slices.Insert(elems, j, m)
			added++
		}
	}
	it.setSetElems(elems)
	return added
}

// setDel removes members from a set item a write owns and returns how
// many were there.
func (it *item) setDel(ms ...string) (removed int) {
	if it.set != nil {
		for _, m := range ms {
			if it.set.Contains(m) {
				it.set.Delete(m)
				removed++
			}
		}
		if removed > 0 && it.set.Len() <= packMaxEntries {
			it.settleSet()
		}
		return removed
	}
	elems := unpack(it.str, 1)
	for _, m := range ms {
		if j, found := slices.BinarySearch(elems, m); found {
			elems = slices.Delete(elems, j, j+1)
			removed++
		}
	}
	if removed > 0 {
		it.setSetElems(elems)
	}
	return removed
}

// setSetElems stores a set's members (in order) in the form its contents
// call for.
func (it *item) setSetElems(elems []string) {
	if fitsPacked(len(elems), packedSize(elems, 1)) {
		it.str, it.set = pack(elems, 1), nil
		return
	}
	t := new(btree.Set[string])
	for _, m := range elems {
		t.Insert(strings.Clone(m)) // out of the packed string, which is dropped
	}
	it.str, it.set = "", t
}

// settleSet packs a tree set that has come to fit.
func (it *item) settleSet() {
	n := it.set.Len()
	if n > packMaxEntries {
		return
	}
	elems := make([]string, 0, n)
	it.set.Scan(func(m string) bool {
		elems = append(elems, m)
		return true
	})
	if fitsPacked(n, packedSize(elems, 1)) {
		it.str, it.set = pack(elems, 1), nil
	}
}

// fillSet makes it, a new set item, hold members (any order); it reports
// false if a member repeats.
func (it *item) fillSet(members []string) bool {
	if len(members) > packMaxEntries { // too many to pack
		t := new(btree.Set[string])
		for _, m := range members {
			if t.Contains(m) {
				return false
			}
			t.Insert(m)
		}
		it.str, it.set = "", t
		return true
	}
	elems := slices.Clone(members)
	slices.Sort(elems)
	for i := 1; i < len(elems); i++ {
		if elems[i] == elems[i-1] {
			return false
		}
	}
	it.setSetElems(elems)
	return true
}

// setItemOf is a set item holding the tree t, which it takes over (the
// set algebra's result).
func setItemOf(key string, t *btree.Set[string]) *item {
	it := &item{key: key, kind: KindSet, set: t}
	it.settleSet()
	return it
}

// toTree is a tree of s's members the caller may change.
func toTree(s setReader) *btree.Set[string] {
	if t, ok := s.(*btree.Set[string]); ok {
		return t.Copy()
	}
	t := new(btree.Set[string])
	s.Scan(func(m string) bool {
		t.Insert(strings.Clone(m)) // not holding on to the packed string
		return true
	})
	return t
}
