package fsm

import (
	"encoding/binary"
	"math"
)

// HyperLogLog commands, with Redis 7.0's own representation (hyperloglog.c)
// so that a value is byte-for-byte what redis-server holds after the same
// PFADDs and PFMERGEs, and a value restored from Redis keeps working.
//
// A HyperLogLog is a string: a 16-byte header ("HYLL", the encoding, three
// unused bytes, the cached cardinality little-endian with its top bit set
// when invalid) and 16384 6-bit registers, either dense (12288 bytes) or
// sparse (run-length opcodes ZERO 00xxxxxx, XZERO 01xxxxxx yyyyyyyy, VAL
// 1vvvvvxx). A sparse value becomes dense when a register needs a value
// above 32 or the value would grow past hll-sparse-max-bytes (3000).
//
// One difference from Redis: PFCOUNT is a read here (no log entry), so it
// never writes the cached cardinality back into the value. Redis does, so
// after a PFCOUNT the two values may differ in those 8 bytes (and a later
// PFMERGE into a dense value carries them along); the registers, and every
// count, are the same.

var hllCommands = []*Command{
	{Name: "pfadd", Arity: -2, Flags: FlagWrite | FlagDenyOOM | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatHyperLogLog, Group: "hyperloglog", Handler: pfaddCmd},
	{Name: "pfcount", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatHyperLogLog, Group: "hyperloglog", Handler: pfcountCmd},
	{Name: "pfmerge", Arity: -2, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: -1, Step: 1, Categories: CatHyperLogLog, Group: "hyperloglog", Handler: pfmergeCmd},
}

const (
	hllP              = 14
	hllQ              = 64 - hllP
	hllRegisters      = 1 << hllP
	hllBits           = 6
	hllRegisterMax    = 1<<hllBits - 1
	hllHdrSize        = 16
	hllDenseSize      = hllHdrSize + (hllRegisters*hllBits+7)/8
	hllDense          = 0
	hllSparse         = 1
	hllSparseMaxBytes = 3000 // Redis's hll-sparse-max-bytes default
	hllAlphaInf       = 0.721347520444481703680

	errHLLNotValid = "WRONGTYPE Key is not a valid HyperLogLog string value."
	errHLLInvalid  = "INVALIDOBJ Corrupted HLL object detected"
)

// murmurHash64A is MurmurHash2, 64-bit, endian-neutral, as Redis hashes
// elements.
func murmurHash64A(key []byte, seed uint64) uint64 {
	const m = 0xc6a4a7935bd1e995
	const r = 47
	h := seed ^ (uint64(len(key)) * m)
	n := len(key) &^ 7
	for i := 0; i < n; i += 8 {
		k := binary.LittleEndian.Uint64(key[i:])
		k *= m
		k ^= k >> r
		k *= m
		h ^= k
		h *= m
	}
	tail := key[n:]
	if len(tail) > 0 {
		for i := len(tail) - 1; i >= 0; i-- {
			h ^= uint64(tail[i]) << (8 * i)
		}
		h *= m
	}
	h ^= h >> r
	h *= m
	h ^= h >> r
	return h
}

// hllPatLen is the register an element hashes to and the length of its
// 000..1 pattern (1 to Q+1).
func hllPatLen(ele []byte) (index int, count uint8) {
	hash := murmurHash64A(ele, 0xadc83b19)
	index = int(hash & (hllRegisters - 1))
	hash >>= hllP
	hash |= 1 << hllQ
	count = 1
	for bit := uint64(1); hash&bit == 0; bit <<= 1 {
		count++
	}
	return index, count
}

// Dense registers; r must have one byte past the last register's bytes
// (Redis relies on the string's NUL terminator for it).
func denseGet(r []byte, i int) uint8 {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	return uint8((uint(r[b])>>fb | uint(r[b+1])<<(8-fb)) & hllRegisterMax)
}

func denseSet(r []byte, i int, v uint8) {
	b := i * hllBits / 8
	fb := uint(i * hllBits & 7)
	r[b] &^= byte(hllRegisterMax << fb)
	r[b] |= byte(uint(v) << fb)
	r[b+1] &^= byte(hllRegisterMax >> (8 - fb))
	r[b+1] |= byte(uint(v) >> (8 - fb))
}

// denseMax sets register i to count if that is larger; 1 if it did.
func denseMax(r []byte, i int, count uint8) int {
	if count > denseGet(r, i) {
		denseSet(r, i, count)
		return 1
	}
	return 0
}

// Sparse opcodes.
func spIsZero(b byte) bool  { return b&0xc0 == 0 }
func spIsXZero(b byte) bool { return b&0xc0 == 0x40 }
func spIsVal(b byte) bool   { return b&0x80 != 0 }
func spZeroLen(b byte) int  { return int(b&0x3f) + 1 }
func spValValue(b byte) int { return int(b>>2&0x1f) + 1 }
func spValLen(b byte) int   { return int(b&3) + 1 }
func spVal(v, n int) byte   { return byte((v-1)<<2|(n-1)) | 0x80 }

// spXZeroLen reads an XZERO at p; a truncated one reads its missing byte
// as 0, as Redis reads the string's terminator.
func spXZeroLen(s []byte, p int) int {
	lo := 0
	if p+1 < len(s) {
		lo = int(s[p+1])
	}
	return (int(s[p]&0x3f)<<8 | lo) + 1
}

func appendXZero(seq []byte, n int) []byte {
	return append(seq, byte((n-1)>>8)|0x40, byte((n-1)&0xff))
}

func appendZeroRun(seq []byte, n int) []byte {
	if n > 64 {
		return appendXZero(seq, n)
	}
	return append(seq, byte(n-1))
}

// newHLL is Redis's createHLLObject: sparse, every register zero, cache 0.
func newHLL() []byte {
	b := make([]byte, hllHdrSize, hllHdrSize+2)
	copy(b, "HYLL")
	b[4] = hllSparse
	return appendXZero(b, hllRegisters)
}

// hllValid is Redis's isHLLObjectOrReply past the type check.
func hllValid(s string) bool {
	if len(s) < hllHdrSize || s[:4] != "HYLL" || s[4] > hllSparse {
		return false
	}
	return s[4] != hllDense || len(s) == hllDenseSize
}

func hllInvalidate(b []byte) { b[15] |= 0x80 }

// sparseToDense converts a sparse value to dense (with its padding byte),
// keeping the header (and so the cached cardinality); ok is false if the
// sparse value does not cover exactly 16384 registers.
func sparseToDense(s []byte) (dense []byte, ok bool) {
	dense = make([]byte, hllDenseSize+1)
	copy(dense, s[:hllHdrSize])
	dense[4] = hllDense
	r := dense[hllHdrSize:]
	idx := 0
	for p := hllHdrSize; p < len(s); {
		switch {
		case spIsZero(s[p]):
			idx += spZeroLen(s[p])
			p++
		case spIsXZero(s[p]):
			idx += spXZeroLen(s, p)
			p += 2
		default:
			n, v := spValLen(s[p]), spValValue(s[p])
			if n+idx > hllRegisters {
				return nil, false
			}
			for range n {
				denseSet(r, idx, uint8(v))
				idx++
			}
			p++
		}
	}
	return dense, idx == hllRegisters
}

// sparseSet is Redis's hllSparseSet: register index becomes count if that
// is larger, splitting and merging opcodes in place, or promoting the value
// to dense. It returns the new value (dense ones carry the padding byte)
// and 1 if a register changed, 0 if not, -1 if the value is corrupt.
func sparseSet(s []byte, index int, count uint8) ([]byte, int) {
	if count > 32 {
		return promoteSet(s, index, count)
	}
	p, first, prev, span := hllHdrSize, 0, -1, 0
	for p < len(s) {
		oplen := 1
		switch {
		case spIsZero(s[p]):
			span = spZeroLen(s[p])
		case spIsVal(s[p]):
			span = spValLen(s[p])
		default:
			span = spXZeroLen(s, p)
			oplen = 2
		}
		if index <= first+span-1 {
			break
		}
		prev = p
		p += oplen
		first += span
	}
	if span == 0 || p >= len(s) {
		return s, -1
	}
	op := s[p]
	isZero, isXZero, isVal := spIsZero(op), spIsXZero(op), spIsVal(op)
	var runlen int
	switch {
	case isZero:
		runlen = spZeroLen(op)
	case isXZero:
		runlen = spXZeroLen(s, p)
	default:
		runlen = spValLen(op)
	}
	updated := false
	if isVal {
		if spValValue(op) >= int(count) {
			return s, 0
		}
		if runlen == 1 {
			s[p] = spVal(int(count), 1)
			updated = true
		}
	}
	if !updated && isZero && runlen == 1 {
		s[p] = spVal(int(count), 1)
		updated = true
	}
	if !updated {
		var seq []byte
		last := first + span - 1
		if isZero || isXZero {
			if index != first {
				seq = appendZeroRun(seq, index-first)
			}
			seq = append(seq, spVal(int(count), 1))
			if index != last {
				seq = appendZeroRun(seq, last-index)
			}
		} else {
			cur := spValValue(op)
			if index != first {
				seq = append(seq, spVal(cur, index-first))
			}
			seq = append(seq, spVal(int(count), 1))
			if index != last {
				seq = append(seq, spVal(cur, last-index))
			}
		}
		oldlen := 1
		if isXZero {
			oldlen = 2
		}
		if delta := len(seq) - oldlen; delta > 0 && len(s)+delta > hllSparseMaxBytes {
			return promoteSet(s, index, count)
		}
		// Redis writes seq over the old opcode and sets the length to
		// len+delta: for a corrupt value whose last XZERO lost its second
		// byte, that cuts seq's last byte, and so does this.
		n := len(s) + len(seq) - oldlen
		ns := make([]byte, 0, n+3)
		ns = append(append(append(ns, s[:p]...), seq...), s[min(p+oldlen, len(s)):]...)
		s = ns[:n]
	}
	// Merge adjacent VAL opcodes of equal value, up to 5 opcodes from prev.
	p = prev
	if p < 0 {
		p = hllHdrSize
	}
	for scan := 5; p < len(s) && scan > 0; scan-- {
		switch {
		case spIsXZero(s[p]):
			p += 2
			continue
		case spIsZero(s[p]):
			p++
			continue
		}
		if p+1 < len(s) && spIsVal(s[p+1]) {
			v1, v2 := spValValue(s[p]), spValValue(s[p+1])
			if n := spValLen(s[p]) + spValLen(s[p+1]); v1 == v2 && n <= 4 {
				s[p+1] = spVal(v1, n)
				s = append(s[:p], s[p+1:]...)
				continue
			}
		}
		p++
	}
	hllInvalidate(s)
	return s, 1
}

func promoteSet(s []byte, index int, count uint8) ([]byte, int) {
	d, ok := sparseToDense(s)
	if !ok {
		return s, -1
	}
	denseMax(d[hllHdrSize:], index, count)
	return d, 1
}

// hllAdd adds one element to b (dense with its padding byte, or sparse).
func hllAdd(b []byte, ele []byte) ([]byte, int) {
	index, count := hllPatLen(ele)
	if b[4] == hllDense {
		return b, denseMax(b[hllHdrSize:], index, count)
	}
	return sparseSet(b, index, count)
}

// hllWorking copies a stored value into a buffer writes may change: a dense
// one gets its padding byte.
func hllWorking(s string) []byte {
	if s[4] == hllDense {
		b := make([]byte, len(s)+1)
		copy(b, s)
		return b
	}
	return []byte(s)
}

// hllStored is the value to store from a working buffer.
func hllStored(b []byte) string {
	if b[4] == hllDense {
		return string(b[:hllDenseSize])
	}
	return string(b)
}

// hllMerge sets max[i] to the larger of it and register i of s (a valid
// HLL value); false if a sparse value is corrupt.
func hllMerge(maxr *[hllRegisters]uint8, s string) bool {
	if s[4] == hllDense {
		r := make([]byte, hllDenseSize-hllHdrSize+1)
		copy(r, s[hllHdrSize:])
		for i := range maxr {
			maxr[i] = max(maxr[i], denseGet(r, i))
		}
		return true
	}
	b := []byte(s)
	i := 0
	for p := hllHdrSize; p < len(b); {
		switch {
		case spIsZero(b[p]):
			i += spZeroLen(b[p])
			p++
		case spIsXZero(b[p]):
			i += spXZeroLen(b, p)
			p += 2
		default:
			n, v := spValLen(b[p]), uint8(spValValue(b[p]))
			if n+i > hllRegisters {
				return false
			}
			for range n {
				maxr[i] = max(maxr[i], v)
				i++
			}
			p++
		}
	}
	return i == hllRegisters
}

// hllHisto is the register histogram of a stored value; ok is false for a
// sparse value that does not cover exactly 16384 registers.
func hllHisto(s string) (h [64]int, ok bool) {
	if s[4] == hllDense {
		r := make([]byte, hllDenseSize-hllHdrSize+1)
		copy(r, s[hllHdrSize:])
		for i := range hllRegisters {
			h[denseGet(r, i)]++
		}
		return h, true
	}
	b := []byte(s)
	idx := 0
	for p := hllHdrSize; p < len(b); {
		switch {
		case spIsZero(b[p]):
			n := spZeroLen(b[p])
			idx += n
			h[0] += n
			p++
		case spIsXZero(b[p]):
			n := spXZeroLen(b, p)
			idx += n
			h[0] += n
			p += 2
		default:
			n := spValLen(b[p])
			idx += n
			h[spValValue(b[p])] += n
			p++
		}
	}
	return h, idx == hllRegisters
}

// hllSigma and hllTau are the helpers of Ertl's estimator ("New
// cardinality estimation algorithms for HyperLogLog sketches"), as Redis
// computes them; the explicit conversions keep every step rounded to a
// float64 (no fused multiply-add), so the count is Redis's on every CPU.
func hllSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x = float64(x * x)
		zp := z
		z += float64(x * y)
		y += y
		if zp == z {
			return z
		}
	}
}

func hllTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		zp := z
		y *= 0.5
		d := 1 - x
		z -= float64(float64(d*d) * y)
		if zp == z {
			return z / 3
		}
	}
}

// hllCount is Redis's hllCount from a register histogram.
func hllCount(h *[64]int) uint64 {
	m := float64(hllRegisters)
	z := float64(m * hllTau((m-float64(h[hllQ+1]))/m))
	for j := hllQ; j >= 1; j-- {
		z += float64(h[j])
		z *= 0.5
	}
	z += float64(m * hllSigma(float64(h[0])/m))
	return uint64(math.Round(float64(float64(hllAlphaInf*m)*m) / z))
}

// hllItem looks key up for a HyperLogLog command: nil if missing, false
// (error written) if it holds something else or not an HLL string.
func hllItem(c *Ctx, key []byte) (*item, bool) {
	it, ok := stringItem(c, key)
	if !ok {
		return nil, false
	}
	if it != nil && !hllValid(it.str) {
		c.Error(errHLLNotValid)
		return nil, false
	}
	return it, true
}

// putHLL stores a working buffer at key, keeping the TTL of what was there.
func putHLL(c *Ctx, key []byte, it *item, b []byte) {
	nit := newString(key, hllStored(b))
	if it != nil {
		nit.deadline = it.deadline
	}
	c.Put(nit)
}

// PFADD key [element ...] -> 1 if a register changed (or the key was made).
func pfaddCmd(c *Ctx, args [][]byte) {
	it, ok := hllItem(c, args[1])
	if !ok {
		return
	}
	updated := 0
	var b []byte
	if it == nil {
		b = newHLL()
		updated++
	} else {
		b = hllWorking(it.str)
	}
	for _, ele := range args[2:] {
		var r int
		b, r = hllAdd(b, ele)
		if r < 0 {
			if updated > 0 { // Redis keeps what it changed before the corrupt part
				putHLL(c, args[1], it, b)
			}
			c.Error(errHLLInvalid)
			return
		}
		updated += r
	}
	if updated == 0 {
		c.Int(0)
		return
	}
	hllInvalidate(b)
	putHLL(c, args[1], it, b)
	c.notify(NotifyString, "pfadd", args[1])
	c.Int(1)
}

// PFCOUNT key [key ...] -> estimated cardinality (of the union). A read:
// the cached cardinality is used when valid and never written back.
func pfcountCmd(c *Ctx, args [][]byte) {
	if len(args) > 2 {
		var maxr [hllRegisters]uint8
		for _, k := range args[1:] {
			it, ok := hllItem(c, k)
			if !ok {
				return
			}
			if it != nil && !hllMerge(&maxr, it.str) {
				c.Error(errHLLInvalid)
				return
			}
		}
		var h [64]int
		for _, v := range maxr {
			h[v]++
		}
		c.Int(int64(hllCount(&h)))
		return
	}
	it, ok := hllItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	if it.str[15]&0x80 == 0 {
		c.Int(int64(binary.LittleEndian.Uint64([]byte(it.str[8:16]))))
		return
	}
	h, ok := hllHisto(it.str)
	if !ok {
		c.Error(errHLLInvalid)
		return
	}
	c.Int(int64(hllCount(&h)))
}

// PFMERGE destkey [sourcekey ...] -> OK; destkey holds the union (dense
// if any input was), as Redis's pfmergeCommand builds it.
func pfmergeCmd(c *Ctx, args [][]byte) {
	var maxr [hllRegisters]uint8
	useDense := false
	var dest *item
	for i, k := range args[1:] {
		it, ok := hllItem(c, k)
		if !ok {
			return
		}
		if it == nil {
			continue
		}
		if i == 0 {
			dest = it
		}
		if it.str[4] == hllDense {
			useDense = true
		}
		if !hllMerge(&maxr, it.str) {
			c.Error(errHLLInvalid)
			return
		}
	}
	var b []byte
	if dest == nil {
		b = newHLL()
	} else {
		b = hllWorking(dest.str)
	}
	if useDense && b[4] == hllSparse {
		d, ok := sparseToDense(b)
		if !ok {
			c.Error(errHLLInvalid)
			return
		}
		b = d
	}
	for j, v := range maxr {
		if v == 0 {
			continue
		}
		if b[4] == hllDense {
			denseMax(b[hllHdrSize:], j, v)
		} else {
			b, _ = sparseSet(b, j, v)
		}
	}
	hllInvalidate(b)
	putHLL(c, args[1], dest, b)
	c.notify(NotifyString, "pfadd", args[1])
	c.OK()
}
