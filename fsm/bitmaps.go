package fsm

import (
	"math"
	"math/bits"

	"github.com/statehouse/statehouse/internal/resp"
)

// Bitmap commands: bit-level operations on string values, as Redis 7.0's
// bitops.c. A write builds a new string (values are immutable), so a
// SETBIT copies the string it changes. Offsets are bounded as in Redis: a
// bit offset's byte must lie below proto-max-bulk-len (maxStringLen, the
// bound APPEND and SETRANGE keep), so no command grows a string past it.

var bitmapCommands = []*Command{
	{Name: "setbit", Arity: 4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: setbitCmd},
	{Name: "getbit", Arity: 3, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: getbitCmd},
	{Name: "bitcount", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: bitcountCmd},
	{Name: "bitpos", Arity: -3, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: bitposCmd},
	{Name: "bitop", Arity: -4, Flags: FlagWrite | FlagDenyOOM, FirstKey: 2, LastKey: -1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: bitopCmd},
	{Name: "bitfield", Arity: -2, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: bitfieldCmd},
	{Name: "bitfield_ro", Arity: -2, Flags: FlagReadOnly | FlagFast, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatBitmap, Group: "bitmap", Handler: bitfieldroCmd},
}

const (
	errBitOffset     = "ERR bit offset is not an integer or out of range"
	errBitValue      = "ERR bit is not an integer or out of range"
	errBitposBit     = "ERR The bit argument must be 1 or 0."
	errBitopNot      = "ERR BITOP NOT must be called with a single source key."
	errBitfieldType  = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errBitfieldOver  = "ERR Invalid OVERFLOW type specified"
	errBitfieldROSet = "ERR BITFIELD_RO only supports the GET subcommand"
)

// bitOffset is Redis's getBitOffsetFromArgument: a non-negative bit offset
// whose byte lies below proto-max-bulk-len; with hash, "#N" means N*width.
func bitOffset(c *Ctx, arg []byte, hash bool, width int) (uint64, bool) {
	use := hash && len(arg) > 0 && arg[0] == '#'
	if use {
		arg = arg[1:]
	}
	n, ok := resp.ParseInt(arg)
	if use {
		n *= int64(width) // wraps as Redis's does; the range check below catches it
	}
	if !ok || n < 0 || n>>3 >= maxStringLen {
		c.Error(errBitOffset)
		return 0, false
	}
	return uint64(n), true
}

// bitString looks key up for a bitmap write (Redis's
// lookupStringForBitCommand): the string's bytes grown with zeros to hold
// bit maxbit, and whether that created or grew it.
func bitString(c *Ctx, key []byte, maxbit uint64) (buf []byte, it *item, grew, ok bool) {
	it, ok = stringItem(c, key)
	if !ok {
		return nil, nil, false, false
	}
	size := int(maxbit>>3) + 1
	old := ""
	if it != nil {
		old = it.str
	}
	buf = make([]byte, max(size, len(old)))
	copy(buf, old)
	return buf, it, it == nil || size > len(old), true
}

// putBits stores buf as key's string, keeping the key's TTL.
func putBits(c *Ctx, key []byte, it *item, buf []byte) {
	nit := newString(key, string(buf))
	if it != nil {
		nit.deadline = it.deadline
	}
	c.Put(nit)
}

// SETBIT key offset value -> the bit's old value.
func setbitCmd(c *Ctx, args [][]byte) {
	off, ok := bitOffset(c, args[2], false, 0)
	if !ok {
		return
	}
	on, ok := resp.ParseInt(args[3])
	if !ok || on&^1 != 0 {
		c.Error(errBitValue)
		return
	}
	buf, it, grew, ok := bitString(c, args[1], off)
	if !ok {
		return
	}
	mask := byte(1) << (7 - off&7)
	old := buf[off>>3] & mask
	if grew || (old != 0) != (on == 1) { // as Redis 7.0: an unchanged bit is no write
		if on == 1 {
			buf[off>>3] |= mask
		} else {
			buf[off>>3] &^= mask
		}
		putBits(c, args[1], it, buf)
		c.notify(NotifyString, "setbit", args[1])
	}
	if old != 0 {
		c.Int(1)
	} else {
		c.Int(0)
	}
}

// GETBIT key offset -> the bit, 0 past the end.
func getbitCmd(c *Ctx, args [][]byte) {
	off, ok := bitOffset(c, args[2], false, 0)
	if !ok {
		return
	}
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil || off>>3 >= uint64(len(it.str)) || it.str[off>>3]&(1<<(7-off&7)) == 0 {
		c.Int(0)
		return
	}
	c.Int(1)
}

// bitRange is the [start end [BYTE|BIT]] part of BITCOUNT and BITPOS,
// resolved against a string of n bytes as Redis does: byte positions
// start..end and, for BIT, masks of the bits of the first and last byte
// that lie outside the range. empty means start > end.
type bitRange struct {
	start, end          int64
	firstMask, lastMask byte
}

func resolveBitRange(start, end, n int64, isBit bool) bitRange {
	total := n
	if isBit {
		total <<= 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	r := bitRange{start: start, end: end}
	if isBit && start <= end {
		r.firstMask = ^byte((1 << (8 - start&7)) - 1)
		r.lastMask = byte((1 << (7 - end&7)) - 1)
		r.start, r.end = start>>3, end>>3
	}
	return r
}

// bitUnit reads BYTE or BIT.
func bitUnit(c *Ctx, arg []byte) (isBit, ok bool) {
	switch {
	case resp.EqualFold(arg, "bit"):
		return true, true
	case resp.EqualFold(arg, "byte"):
		return false, true
	}
	c.Error(resp.ErrSyntax)
	return false, false
}

// BITCOUNT key [start end [BYTE|BIT]] -> number of set bits.
func bitcountCmd(c *Ctx, args [][]byte) {
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(0)
		return
	}
	s := it.str
	var r bitRange
	switch len(args) {
	case 2:
		r = bitRange{start: 0, end: int64(len(s)) - 1}
	case 4, 5:
		start, ok1 := resp.ParseInt(args[2])
		if !ok1 {
			c.Error(resp.ErrNotInt)
			return
		}
		end, ok2 := resp.ParseInt(args[3])
		if !ok2 {
			c.Error(resp.ErrNotInt)
			return
		}
		if start < 0 && end < 0 && start > end { // before BYTE|BIT is read, as in Redis
			c.Int(0)
			return
		}
		isBit := false
		if len(args) == 5 {
			if isBit, ok = bitUnit(c, args[4]); !ok {
				return
			}
		}
		r = resolveBitRange(start, end, int64(len(s)), isBit)
	default:
		c.Error(resp.ErrSyntax)
		return
	}
	if r.start > r.end {
		c.Int(0)
		return
	}
	var n int
	for i := r.start; i <= r.end; i++ {
		n += bits.OnesCount8(s[i])
	}
	n -= bits.OnesCount8(s[r.start] & r.firstMask)
	n -= bits.OnesCount8(s[r.end] & r.lastMask)
	c.Int(int64(n))
}

// firstBit is Redis's redisBitpos: the position of the first bit equal to
// bit in b; for bit 1 none is -1, for bit 0 none is the bit just past b.
func firstBit(b []byte, bit int) int64 {
	for i, ch := range b {
		if bit == 1 && ch != 0 {
			return int64(i)*8 + int64(bits.LeadingZeros8(ch))
		}
		if bit == 0 && ch != 0xff {
			return int64(i)*8 + int64(bits.LeadingZeros8(^ch))
		}
	}
	if bit == 1 {
		return -1
	}
	return int64(len(b)) * 8
}

// BITPOS key bit [start [end [BYTE|BIT]]] -> position of the first bit
// equal to bit, as Redis 7.0's bitposCommand computes it.
func bitposCmd(c *Ctx, args [][]byte) {
	b, ok := resp.ParseInt(args[2])
	if !ok {
		c.Error(resp.ErrNotInt)
		return
	}
	if b != 0 && b != 1 {
		c.Error(errBitposBit)
		return
	}
	bit := int(b)
	it, ok := stringItem(c, args[1])
	if !ok {
		return
	}
	if it == nil {
		c.Int(-int64(bit))
		return
	}
	s := it.str
	n := int64(len(s))
	var r bitRange
	endGiven := false
	switch {
	case len(args) > 3 && len(args) <= 6:
		start, ok := resp.ParseInt(args[3])
		if !ok {
			c.Error(resp.ErrNotInt)
			return
		}
		isBit := false
		if len(args) == 6 {
			if isBit, ok = bitUnit(c, args[5]); !ok {
				return
			}
		}
		total := n
		if isBit {
			total <<= 3
		}
		end := total - 1
		if len(args) >= 5 {
			if end, ok = resp.ParseInt(args[4]); !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			endGiven = true
		}
		r = resolveBitRange(start, end, n, isBit)
	case len(args) == 3:
		r = bitRange{start: 0, end: n - 1}
	default:
		c.Error(resp.ErrSyntax)
		return
	}
	if r.start > r.end {
		c.Int(-1)
		return
	}
	start, bytes := r.start, r.end-r.start+1
	pos := int64(-1)
	done := false
	if r.firstMask != 0 {
		tmp := s[start]
		if bit == 1 {
			tmp &^= r.firstMask
		} else {
			tmp |= r.firstMask
		}
		if r.lastMask != 0 && bytes == 1 {
			if bit == 1 {
				tmp &^= r.lastMask
			} else {
				tmp |= r.lastMask
			}
		}
		pos = firstBit([]byte{tmp}, bit)
		if bytes == 1 || (pos != -1 && pos != 8) {
			done = true
		} else {
			start++
			bytes--
		}
	}
	if !done {
		cur := bytes
		if r.lastMask != 0 {
			cur--
		}
		if cur > 0 {
			pos = firstBit([]byte(s[start:start+cur]), bit)
			if bytes == cur || (pos != -1 && pos != cur<<3) {
				done = true
			} else {
				start += cur
				bytes -= cur
			}
		}
	}
	if !done {
		tmp := s[r.end]
		if bit == 1 {
			tmp &^= r.lastMask
		} else {
			tmp |= r.lastMask
		}
		pos = firstBit([]byte{tmp}, bit)
	}
	if endGiven && bit == 0 && pos == bytes<<3 {
		c.Int(-1)
		return
	}
	if pos != -1 {
		pos += start << 3
	}
	c.Int(pos)
}

// BITOP AND|OR|XOR|NOT destkey key [key ...] -> length of the result,
// stored at destkey (without TTL; deleted when empty).
func bitopCmd(c *Ctx, args [][]byte) {
	op := args[1]
	var kind byte
	switch {
	case resp.EqualFold(op, "and"):
		kind = '&'
	case resp.EqualFold(op, "or"):
		kind = '|'
	case resp.EqualFold(op, "xor"):
		kind = '^'
	case resp.EqualFold(op, "not"):
		kind = '~'
	default:
		c.Error(resp.ErrSyntax)
		return
	}
	if kind == '~' && len(args) != 4 {
		c.Error(errBitopNot)
		return
	}
	srcs := make([]string, 0, len(args)-3)
	maxlen := 0
	for _, k := range args[3:] {
		it, ok := stringItem(c, k)
		if !ok {
			return
		}
		s := ""
		if it != nil {
			s = it.str
		}
		srcs = append(srcs, s)
		maxlen = max(maxlen, len(s))
	}
	at := func(s string, j int) byte {
		if j < len(s) {
			return s[j]
		}
		return 0
	}
	if maxlen == 0 {
		if c.Del(args[2]) {
			c.notify(NotifyGeneric, "del", args[2])
		}
		c.Int(0)
		return
	}
	res := make([]byte, maxlen)
	for j := range res {
		out := at(srcs[0], j)
		if kind == '~' {
			out = ^out
		}
		for _, s := range srcs[1:] {
			switch kind {
			case '&':
				out &= at(s, j)
			case '|':
				out |= at(s, j)
			case '^':
				out ^= at(s, j)
			}
		}
		res[j] = out
	}
	c.Put(newString(args[2], string(res)))
	c.notify(NotifyString, "set", args[2])
	c.Int(int64(maxlen))
}

// --- BITFIELD ----------------------------------------------------------------

type bfOp struct {
	op     byte // 'g'et, 's'et, 'i'ncrby
	offset uint64
	value  int64
	wrap   byte // 'w'rap, 's'at, 'f'ail
	bits   int
	signed bool
}

// bitfieldType reads i1..i64 or u1..u63 (Redis's getBitfieldTypeFromArgument).
func bitfieldType(c *Ctx, arg []byte) (signed bool, width int, ok bool) {
	arg = cString(arg)
	if len(arg) == 0 || (arg[0] != 'i' && arg[0] != 'u') {
		c.Error(errBitfieldType)
		return false, 0, false
	}
	signed = arg[0] == 'i'
	n, ok := resp.ParseInt(arg[1:])
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		c.Error(errBitfieldType)
		return false, 0, false
	}
	return signed, int(n), true
}

func getUnsignedField(p []byte, off uint64, width int) uint64 {
	var v uint64
	for range width {
		v = v<<1 | uint64(p[off>>3]>>(7-off&7)&1)
		off++
	}
	return v
}

func getSignedField(p []byte, off uint64, width int) int64 {
	v := getUnsignedField(p, off, width)
	if width < 64 && v&(1<<(width-1)) != 0 {
		v |= math.MaxUint64 << width
	}
	return int64(v)
}

func setField(p []byte, off uint64, width int, v uint64) {
	for j := range width {
		bit := byte(0)
		if v&(1<<(width-1-j)) != 0 {
			bit = 1
		}
		sh := 7 - off&7
		p[off>>3] = p[off>>3]&^(1<<sh) | bit<<sh
		off++
	}
}

// unsignedOverflow is Redis's checkUnsignedBitfieldOverflow: whether
// value+incr leaves a width-bit unsigned field, and the value WRAP or SAT
// makes of it.
func unsignedOverflow(value uint64, incr int64, width int, wrap byte) (bool, uint64) {
	maxv := uint64(1)<<width - 1
	maxincr := int64(maxv - value)
	minincr := -int64(value)
	wrapped := func() uint64 { return (value + uint64(incr)) &^ (math.MaxUint64 << width) }
	switch {
	case value > maxv || (incr > 0 && incr > maxincr):
		if wrap == 'w' {
			return true, wrapped()
		}
		return true, maxv
	case incr < 0 && incr < minincr:
		if wrap == 'w' {
			return true, wrapped()
		}
		return true, 0
	}
	return false, 0
}

// signedOverflow is Redis's checkSignedBitfieldOverflow.
func signedOverflow(value, incr int64, width int, wrap byte) (bool, int64) {
	maxv := int64(math.MaxInt64)
	if width != 64 {
		maxv = 1<<(width-1) - 1
	}
	minv := -maxv - 1
	maxincr := int64(uint64(maxv) - uint64(value))
	minincr := minv - value
	wrapped := func() int64 {
		r := uint64(value) + uint64(incr)
		if width < 64 {
			mask := uint64(math.MaxUint64) << width
			if r&(1<<(width-1)) != 0 {
				r |= mask
			} else {
				r &^= mask
			}
		}
		return int64(r)
	}
	switch {
	case value > maxv || (width != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr):
		if wrap == 'w' {
			return true, wrapped()
		}
		return true, maxv
	case value < minv || (width != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr):
		if wrap == 'w' {
			return true, wrapped()
		}
		return true, minv
	}
	return false, 0
}

func bitfieldCmd(c *Ctx, args [][]byte)   { bitfieldGeneric(c, args, false) }
func bitfieldroCmd(c *Ctx, args [][]byte) { bitfieldGeneric(c, args, true) }

// bitfieldGeneric is Redis's bitfieldGeneric: every operation is parsed
// (and checked) before any runs; a write grows the string once to its
// farthest bit. The key is stored if anything changed or the string grew,
// and "setbit" fires if a field changed, as in Redis.
func bitfieldGeneric(c *Ctx, args [][]byte, ro bool) {
	var ops []bfOp
	wrap := byte('w')
	readonly := true
	var highest uint64
	for j := 2; j < len(args); j++ {
		rem := len(args) - j - 1
		sub := cString(args[j])
		var op byte
		switch {
		case resp.EqualFold(sub, "get") && rem >= 2:
			op = 'g'
		case resp.EqualFold(sub, "set") && rem >= 3:
			op = 's'
		case resp.EqualFold(sub, "incrby") && rem >= 3:
			op = 'i'
		case resp.EqualFold(sub, "overflow") && rem >= 1:
			j++
			switch w := cString(args[j]); {
			case resp.EqualFold(w, "wrap"):
				wrap = 'w'
			case resp.EqualFold(w, "sat"):
				wrap = 's'
			case resp.EqualFold(w, "fail"):
				wrap = 'f'
			default:
				c.Error(errBitfieldOver)
				return
			}
			continue
		default:
			c.Error(resp.ErrSyntax)
			return
		}
		signed, width, ok := bitfieldType(c, args[j+1])
		if !ok {
			return
		}
		off, ok := bitOffset(c, args[j+2], true, width)
		if !ok {
			return
		}
		var v int64
		if op != 'g' {
			readonly = false
			highest = max(highest, off+uint64(width)-1)
			if v, ok = resp.ParseInt(args[j+3]); !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			j++
		}
		ops = append(ops, bfOp{op: op, offset: off, value: v, wrap: wrap, bits: width, signed: signed})
		j += 2
	}
	var buf []byte
	var it *item
	grew := false
	if readonly {
		var ok bool
		if it, ok = stringItem(c, args[1]); !ok {
			return
		}
		if it != nil {
			buf = []byte(it.str)
		}
	} else {
		if ro {
			c.Error(errBitfieldROSet)
			return
		}
		var ok bool
		if buf, it, grew, ok = bitString(c, args[1], highest); !ok {
			return
		}
	}
	changes := 0
	c.Array(len(ops))
	for _, o := range ops {
		if o.op == 'g' {
			var w [9]byte // up to 64 bits from any bit offset, zero-padded
			b := o.offset >> 3
			for i := uint64(0); i < 9 && b+i < uint64(len(buf)); i++ {
				w[i] = buf[b+i]
			}
			if o.signed {
				c.Int(getSignedField(w[:], o.offset-b*8, o.bits))
			} else {
				c.Int(int64(getUnsignedField(w[:], o.offset-b*8, o.bits)))
			}
			continue
		}
		if o.signed {
			old := getSignedField(buf, o.offset, o.bits)
			var nv, ret int64
			var over bool
			if o.op == 'i' {
				var wrapped int64
				over, wrapped = signedOverflow(old, o.value, o.bits, o.wrap)
				nv = old + o.value
				if over {
					nv = wrapped
				}
				ret = nv
			} else {
				var wrapped int64
				nv = o.value
				if over, wrapped = signedOverflow(nv, 0, o.bits, o.wrap); over {
					nv = wrapped
				}
				ret = old
			}
			if over && o.wrap == 'f' {
				c.Null()
				continue
			}
			c.Int(ret)
			setField(buf, o.offset, o.bits, uint64(nv))
			if grew || old != nv {
				changes++
			}
			continue
		}
		old := getUnsignedField(buf, o.offset, o.bits)
		var nv, ret uint64
		var over bool
		if o.op == 'i' {
			var wrapped uint64
			nv = old + uint64(o.value)
			if over, wrapped = unsignedOverflow(old, o.value, o.bits, o.wrap); over {
				nv = wrapped
			}
			ret = nv
		} else {
			var wrapped uint64
			nv = uint64(o.value)
			if over, wrapped = unsignedOverflow(nv, 0, o.bits, o.wrap); over {
				nv = wrapped
			}
			ret = old
		}
		if over && o.wrap == 'f' {
			c.Null()
			continue
		}
		c.Int(int64(ret))
		setField(buf, o.offset, o.bits, nv)
		if grew || old != nv {
			changes++
		}
	}
	if !readonly && (grew || changes > 0) {
		putBits(c, args[1], it, buf)
	}
	if changes > 0 {
		c.notify(NotifyString, "setbit", args[1])
	}
}
