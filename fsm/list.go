package fsm

import "slices"

// list is the value of a KindList key: an immutable sequence of strings.
//
// Why this shape. A stored value is never changed (snapshots stream while
// writes go on), so a write builds a new list. Copying the elements on
// every write would make LPUSH onto a 100k-element list cost 100k string
// headers; a chunked list whose spine is a plain slice still copies the
// spine (n/64 pointers). So a list is a persistent B-tree keyed by
// position (a rope): leaves hold up to listLeafMax elements, inner nodes
// up to listNodeMax children and the element count under each. A write
// copies only the nodes on the path to what it changes: LPUSH/RPUSH/LPOP/
// RPOP/LSET/LINDEX cost O(log n) (about 1.5 KiB copied for a push onto a
// list of a million), and the old list, which a snapshot may still be
// reading, is untouched.
//
// One command often changes a list many times (LPUSH of 100 elements,
// LREM, LTRIM). Nodes carry the edit session that made them (listEdit, as
// Clojure's transients do): a session changes its own nodes in place and
// copies any other node before touching it. A session ends with the
// command; its nodes are then as immutable as the rest, since no later
// session shares their owner.
type list struct {
	root *lnode
	n    int
}

const (
	listLeafMax = 64
	listLeafMin = listLeafMax / 4
	listNodeMax = 32
	listNodeMin = listNodeMax / 4
)

// lnode is a leaf (elems) or an inner node (kids, with sizes[i] elements
// under kids[i]). Every leaf is at the same depth.
type lnode struct {
	own   *listEdit
	elems []string
	kids  []*lnode
	sizes []int
}

func (n *lnode) leaf() bool { return n.kids == nil }

// width is how many entries the node holds itself (elements or children).
func (n *lnode) width() int {
	if n.leaf() {
		return len(n.elems)
	}
	return len(n.kids)
}

// count is how many elements are under n.
func (n *lnode) count() int {
	if n.leaf() {
		return len(n.elems)
	}
	t := 0
	for _, s := range n.sizes {
		t += s
	}
	return t
}

// find returns the child holding element i and i's offset within it.
// i == count is the end: the last child, at its end (for inserts).
func (n *lnode) find(i int) (int, int) {
	for k, s := range n.sizes {
		if i < s {
			return k, i
		}
		i -= s
	}
	last := len(n.sizes) - 1
	return last, i + n.sizes[last]
}

// listEdit is an edit session's identity. It has a size so that each new
// one has its own address.
type listEdit struct{ _ byte }

// newList builds a list of elems (which it keeps).
func newList(elems []string) *list {
	if len(elems) == 0 {
		return &list{}
	}
	var level []*lnode
	for i := 0; i < len(elems); i += listLeafMax {
		level = append(level, &lnode{elems: elems[i:min(i+listLeafMax, len(elems)):min(i+listLeafMax, len(elems))]})
	}
	for len(level) > 1 {
		var up []*lnode
		for i := 0; i < len(level); i += listNodeMax {
			kids := level[i:min(i+listNodeMax, len(level))]
			p := &lnode{kids: slices.Clone(kids), sizes: make([]int, len(kids))}
			for k, kid := range kids {
				p.sizes[k] = kid.count()
			}
			up = append(up, p)
		}
		level = up
	}
	return &list{root: level[0], n: len(elems)}
}

func (l *list) len() int { return l.n }

// at returns element i (0 <= i < len).
func (l *list) at(i int) string {
	n := l.root
	for !n.leaf() {
		var k int
		k, i = n.find(i)
		n = n.kids[k]
	}
	return n.elems[i]
}

// scan calls fn with each element from index from (its position, the
// element) until fn returns false or the list ends.
func (l *list) scan(from int, fn func(i int, v string) bool) {
	if from < 0 || from >= l.n {
		return
	}
	l.root.scan(from, from, fn)
}

func (n *lnode) scan(off, pos int, fn func(int, string) bool) bool {
	if n.leaf() {
		for _, v := range n.elems[off:] {
			if !fn(pos, v) {
				return false
			}
			pos++
		}
		return true
	}
	k, off := n.find(off)
	for ; k < len(n.kids); k++ {
		if !n.kids[k].scan(off, pos, fn) {
			return false
		}
		pos += n.sizes[k] - off
		off = 0
	}
	return true
}

// rscan is scan backwards: from index from down to 0.
func (l *list) rscan(from int, fn func(i int, v string) bool) {
	if from < 0 || from >= l.n {
		return
	}
	l.root.rscan(from, from, fn)
}

func (n *lnode) rscan(off, pos int, fn func(int, string) bool) bool {
	if n.leaf() {
		for j := off; j >= 0; j-- {
			if !fn(pos, n.elems[j]) {
				return false
			}
			pos--
		}
		return true
	}
	k, off := n.find(off)
	for ; k >= 0; k-- {
		if !n.kids[k].rscan(off, pos, fn) {
			return false
		}
		pos -= off + 1
		if k > 0 {
			off = n.sizes[k-1] - 1
		}
	}
	return true
}

// slice returns elements [i, j) as a new slice.
func (l *list) slice(i, j int) []string {
	out := make([]string, 0, j-i)
	l.scan(i, func(k int, v string) bool {
		if k >= j {
			return false
		}
		out = append(out, v)
		return true
	})
	return out
}

// listWriter makes a new list from an old one within one command. The old
// list is never changed.
type listWriter struct {
	own *listEdit
	l   list
}

func (l *list) writer() *listWriter {
	return &listWriter{own: new(listEdit), l: *l}
}

// done returns the new list; the writer must not be used after.
func (w *listWriter) done() *list {
	l := w.l
	return &l
}

func (w *listWriter) len() int { return w.l.n }

// mut returns n itself if this session made it, else a copy it may change.
func (w *listWriter) mut(n *lnode) *lnode {
	if n.own == w.own {
		return n
	}
	c := &lnode{own: w.own}
	if n.leaf() {
		c.elems = make([]string, len(n.elems), len(n.elems)+1)
		copy(c.elems, n.elems)
	} else {
		c.kids = slices.Clone(n.kids)
		c.sizes = slices.Clone(n.sizes)
	}
	return c
}

// insert puts v at index i (0 <= i <= len).
func (w *listWriter) insert(i int, v string) {
	if w.l.root == nil {
		w.l.root = &lnode{own: w.own, elems: []string{v}}
		w.l.n = 1
		return
	}
	root := w.mut(w.l.root)
	if right := w.insertAt(root, i, v); right != nil {
		root = &lnode{own: w.own, kids: []*lnode{root, right}, sizes: []int{root.count(), right.count()}}
	}
	w.l.root = root
	w.l.n++
}

// insertAt inserts into n (already this session's) and returns the new
// right sibling if n had to split.
func (w *listWriter) insertAt(n *lnode, i int, v string) *lnode {
	if n.leaf() {
		n.elems = slices.Insert(n.elems, i, v)
		if len(n.elems) <= listLeafMax {
			return nil
		}
		// Split where the list grows: a push at either end leaves a full
		// leaf behind and starts a new one, so pushes fill leaves.
		cut := len(n.elems) / 2
		switch i {
		case 0:
			cut = 1
		case len(n.elems) - 1:
			cut = len(n.elems) - 1
		}
		right := &lnode{own: w.own, elems: slices.Clone(n.elems[cut:])}
		n.elems = slices.Clone(n.elems[:cut])
		return right
	}
	k, off := n.find(i)
	kid := w.mut(n.kids[k])
	n.kids[k] = kid
	right := w.insertAt(kid, off, v)
	if right == nil {
		n.sizes[k]++
		return nil
	}
	n.sizes[k] = kid.count()
	n.kids = slices.Insert(n.kids, k+1, right)
	n.sizes = slices.Insert(n.sizes, k+1, right.count())
	if len(n.kids) <= listNodeMax {
		return nil
	}
	cut := len(n.kids) / 2
	switch k + 1 {
	case 1:
		cut = 1
	case len(n.kids) - 1:
		cut = len(n.kids) - 1
	}
	r := &lnode{own: w.own, kids: slices.Clone(n.kids[cut:]), sizes: slices.Clone(n.sizes[cut:])}
	n.kids, n.sizes = slices.Clone(n.kids[:cut]), slices.Clone(n.sizes[:cut])
	return r
}

// set replaces element i.
func (w *listWriter) set(i int, v string) {
	n := w.mut(w.l.root)
	w.l.root = n
	for !n.leaf() {
		k, off := n.find(i)
		kid := w.mut(n.kids[k])
		n.kids[k] = kid
		n, i = kid, off
	}
	n.elems[i] = v
}

// remove deletes element i and returns it.
func (w *listWriter) remove(i int) string {
	root := w.mut(w.l.root)
	v := w.removeAt(root, i)
	for !root.leaf() && len(root.kids) == 1 {
		root = root.kids[0]
	}
	w.l.n--
	if w.l.n == 0 {
		root = nil
	}
	w.l.root = root
	return v
}

func (w *listWriter) removeAt(n *lnode, i int) string {
	if n.leaf() {
		v := n.elems[i]
		n.elems = slices.Delete(n.elems, i, i+1)
		return v
	}
	k, off := n.find(i)
	kid := w.mut(n.kids[k])
	n.kids[k] = kid
	v := w.removeAt(kid, off)
	n.sizes[k]--
	w.rebalance(n, k)
	return v
}

// rebalance keeps child k of n from running too small: it is merged with
// a neighbour, or takes entries from it, so the tree stays shallow and its
// nodes reasonably full whatever is removed.
func (w *listWriter) rebalance(n *lnode, k int) {
	kid := n.kids[k]
	low, high := listNodeMin, listNodeMax
	if kid.leaf() {
		low, high = listLeafMin, listLeafMax
	}
	switch {
	case kid.width() >= low:
		return
	case kid.width() == 0: // nothing left under it
		n.kids = slices.Delete(n.kids, k, k+1)
		n.sizes = slices.Delete(n.sizes, k, k+1)
		return
	case len(n.kids) == 1:
		return
	}
	a := k
	if k+1 == len(n.kids) {
		a = k - 1
	}
	left, right := w.mut(n.kids[a]), w.mut(n.kids[a+1])
	n.kids[a], n.kids[a+1] = left, right
	if left.width()+right.width() <= high { // merge right into left
		if left.leaf() {
			left.elems = append(left.elems, right.elems...)
		} else {
			left.kids = append(left.kids, right.kids...)
			left.sizes = append(left.sizes, right.sizes...)
		}
		n.sizes[a] += n.sizes[a+1]
		n.kids = slices.Delete(n.kids, a+1, a+2)
		n.sizes = slices.Delete(n.sizes, a+1, a+2)
		return
	}
	// Share evenly: move entries across the boundary.
	total := left.width() + right.width()
	want := total / 2
	if left.leaf() {
		all := append(slices.Clip(left.elems), right.elems...)
		left.elems = slices.Clone(all[:want])
		right.elems = slices.Clone(all[want:])
	} else {
		kids := append(slices.Clip(left.kids), right.kids...)
		sizes := append(slices.Clip(left.sizes), right.sizes...)
		left.kids, right.kids = slices.Clone(kids[:want]), slices.Clone(kids[want:])
		left.sizes, right.sizes = slices.Clone(sizes[:want]), slices.Clone(sizes[want:])
	}
	n.sizes[a], n.sizes[a+1] = left.count(), right.count()
}

// removeRange deletes elements [i, j). Removing most of a list rebuilds
// it from what stays; removing a few deletes them one by one.
func (w *listWriter) removeRange(i, j int) {
	if j <= i {
		return
	}
	if keep := w.l.n - (j - i); keep < j-i {
		cur := w.done()
		elems := append(cur.slice(0, i), cur.slice(j, cur.n)...)
		w.l = *newList(elems)
		return
	}
	for k := i; k < j; k++ {
		w.remove(i)
	}
}
