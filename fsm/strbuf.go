package fsm

import "unsafe"

// Growable strings: APPEND, and SETRANGE past a value's end, extend a
// long value in place instead of copying it whole (a 1-byte APPEND to a
// 200 MB string copied 200 MB on every replica, and left it for the GC).
//
// A grown value (item.grown) is a prefix of a buffer with room after it
// and a header before it: how far the buffer has been written (its tip)
// and how far it may be. Values are still never changed: every version of
// the value anyone holds (a snapshot's, a COPY's, the one a failed script
// puts back, a reply being written) is a prefix no longer than the tip,
// and extending writes only past the tip, so no version sees its bytes
// change. A version shorter than the tip (an older one, after another
// grew from it) is copied into a new buffer instead, as is a value that
// has no room left. used_memory counts the value's length, as for any
// string; the room is at most a quarter of it.

// growMin is the shortest value given room to grow: shorter ones are
// cheap to copy.
const growMin = 1024

type growHeader struct {
	tip  int // bytes of the buffer written (the longest version's length)
	size int // bytes the buffer holds
}

const growHeaderSize = int(unsafe.Sizeof(growHeader{}))

// growHeaderOf returns the header of a grown value's buffer.
func growHeaderOf(s string) *growHeader {
	return (*growHeader)(unsafe.Add(unsafe.Pointer(unsafe.StringData(s)), -growHeaderSize))
}

// extendString returns it's string value with pad zero bytes and then
// val after it, and whether the result is a grown value. In place when
// it is the buffer's longest version and the buffer has room; else in a
// new buffer with a quarter of room, when long enough to be worth it
// (make's memory is zero: the pad is cleared only in place).
func extendString(it *item, pad int, val []byte) (string, bool) {
	var old string
	grown := false
	if it != nil {
		old, grown = it.str, it.grown
	}
	n := len(old) + pad + len(val)
	if grown && len(old) > 0 {
		h := growHeaderOf(old)
		if h.tip == len(old) && n <= h.size {
			base := unsafe.StringData(old)
			tail := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(base), len(old))), n-len(old))
			clear(tail[:pad])
			copy(tail[pad:], val)
			h.tip = n
			return unsafe.String(base, n), true
		}
	}
	// A long value being extended gets room; a short one, or a new value
	// (SETRANGE on a missing key), its exact size.
	var base *byte
	room := n >= growMin && len(old) > 0
	if room {
		size := n + n/4
		// Allocated as words so the header is aligned.
		words := make([]uint64, (growHeaderSize+size+7)/8)
		h := (*growHeader)(unsafe.Pointer(unsafe.SliceData(words)))
		h.tip, h.size = n, size
		base = (*byte)(unsafe.Add(unsafe.Pointer(h), growHeaderSize))
	} else {
		base = unsafe.SliceData(make([]byte, n))
	}
	buf := unsafe.Slice(base, n)
	copy(buf, old)
	copy(buf[len(old)+pad:], val)
	return unsafe.String(base, n), room
}
