package fsm

import (
	"encoding/binary"
	"math"

	lua "github.com/yuin/gopher-lua"
)

// struct, as Redis's lua_struct.c has it (Roberto Ierusalimschy's struct
// library): struct.pack(fmt, ...), struct.unpack(fmt, s [, pos]) and
// struct.size(fmt), with the sizes and byte order of the x86-64 Linux
// build Redis runs as: short 2, int 4, long and size_t 8, native little
// endian, maximum alignment 8.
//
//	> big endian      < little endian    ![n] alignment (power of 2)
//	x padding byte    b/B char           h/H short       l/L long
//	T size_t          i/I[n] int of n bytes (up to 32)   f float  d double
//	c[n] n chars (pack c0: the whole string; unpack c0: the previous number)
//	s zero-terminated string             ' ' ignored

const (
	structMaxIntSize = 32
	structMaxAlign   = 8
	structMaxResults = 8000 // Lua's LUAI_MAXCSTACK: "too many results" beyond
)

type structHeader struct {
	big   bool
	align int
}

type structFmt struct {
	L     *lua.LState
	fname string
	f     string
	i     int
}

func (p *structFmt) more() bool { return p.i < len(p.f) }

func (p *structFmt) next() byte { c := p.f[p.i]; p.i++; return c }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (p *structFmt) num(def int) int {
	if !p.more() || !isDigit(p.f[p.i]) {
		return def
	}
	a := 0
	for p.more() && isDigit(p.f[p.i]) {
		d := int(p.f[p.i] - '0')
		if a > math.MaxInt32/10 || a*10 > math.MaxInt32-d {
			p.L.RaiseError("integral size overflow")
		}
		a = a*10 + d
		p.i++
	}
	return a
}

// size is optsize: the size of option opt, 0 for those without one.
func (p *structFmt) size(opt byte) int {
	switch opt {
	case 'B', 'b':
		return 1
	case 'H', 'h':
		return 2
	case 'L', 'l', 'T', 'd':
		return 8
	case 'f':
		return 4
	case 'x':
		return 1
	case 'c':
		return p.num(1)
	case 'i', 'I':
		sz := p.num(4)
		if sz > structMaxIntSize {
			p.L.RaiseError("integral size %d is larger than limit of %d", sz, structMaxIntSize)
		}
		return sz
	}
	return 0
}

func structToAlign(pos uint64, h *structHeader, opt byte, size int) uint64 {
	if size == 0 || opt == 'c' {
		return 0
	}
	s := uint64(min(size, h.align))
	return (s - (pos & (s - 1))) & (s - 1)
}

// control is controloptions: byte order, alignment, spaces; anything else
// is an invalid option.
func (p *structFmt) control(opt byte, h *structHeader) {
	switch opt {
	case ' ':
	case '>':
		h.big = true
	case '<':
		h.big = false
	case '!':
		a := p.num(structMaxAlign)
		if a <= 0 || a&(a-1) != 0 {
			p.L.RaiseError("alignment %d is not a power of 2", a)
		}
		h.align = a
	default:
		p.L.RaiseError("bad argument #1 to '%s' (invalid format option '%c')", p.fname, opt)
	}
}

func openStruct(L *lua.LState) {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(structPack))
	t.RawSetString("unpack", L.NewFunction(structUnpack))
	t.RawSetString("size", L.NewFunction(structSize))
	L.SetGlobal("struct", t)
}

// packArg: struct.pack pushes a nil above its arguments before it reads
// them, so the first one missing is "nil" to lauxlib, not "no value".
func packArg(L *lua.LState, n int) {
	if n == L.GetTop()+1 {
		L.Push(lua.LNil)
	}
}

func luaCheckNumber(L *lua.LState, n int, fname string) float64 {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return float64(v)
	case lua.LString:
		if f, err := parseLuaNumber(string(v)); err == nil {
			return f
		}
	}
	luaArgType(L, n, fname, "number")
	return 0
}

func structPutUint(b []byte, v uint64, size int, big bool) []byte {
	buf := make([]byte, size)
	for i := 0; i < size; i++ {
		j := i
		if big {
			j = size - 1 - i
		}
		buf[j] = byte(v)
		v >>= 8
	}
	return append(b, buf...)
}

func structPack(L *lua.LState) int {
	p := &structFmt{L: L, fname: "pack", f: luaCheckString(L, 1, "pack")}
	h := structHeader{align: 1}
	arg := 2
	packArg(L, L.GetTop()+1)
	var b []byte
	for p.more() {
		opt := p.next()
		size := p.size(opt)
		pad := structToAlign(uint64(len(b)), &h, opt, size)
		b = append(b, make([]byte, pad)...)
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			n := luaCheckNumber(L, arg, "pack")
			arg++
			var v uint64
			if n < 0 {
				v = uint64(int64(n))
			} else {
				v = uint64(n)
			}
			b = structPutUint(b, v, size, h.big)
		case 'x':
			b = append(b, 0)
		case 'f':
			f := float32(luaCheckNumber(L, arg, "pack"))
			arg++
			b = structPutUint(b, uint64(math.Float32bits(f)), 4, h.big)
		case 'd':
			d := luaCheckNumber(L, arg, "pack")
			arg++
			b = structPutUint(b, math.Float64bits(d), 8, h.big)
		case 'c', 's':
			s := luaCheckString(L, arg, "pack")
			arg++
			if size == 0 {
				size = len(s)
			}
			if len(s) < size {
				L.RaiseError("bad argument #%d to 'pack' (string too short)", arg) // lua_struct.c names the next argument
			}
			b = append(b, s[:size]...)
			if opt == 's' {
				b = append(b, 0)
			}
		default:
			p.control(opt, &h)
		}
	}
	L.Push(lua.LString(b))
	return 1
}

func structGetUint(s string, big, signed bool, size int) float64 {
	var l uint64
	for i := 0; i < size; i++ {
		j := size - 1 - i
		if big {
			j = i
		}
		l = l<<8 | uint64(s[j])
	}
	if !signed {
		return float64(l)
	}
	mask := ^uint64(0) << (uint(size*8-1) & 63) // x86 takes the shift count mod 64
	if l&mask != 0 {
		l |= mask
	}
	return float64(int64(l))
}

func structUnpack(L *lua.LState) int {
	p := &structFmt{L: L, fname: "unpack", f: luaCheckString(L, 1, "unpack")}
	data := luaCheckString(L, 2, "unpack")
	pos := uint64(int64(1))
	if L.Get(3) != lua.LNil {
		pos = uint64(int64(luaCheckNumber(L, 3, "unpack")))
	}
	if pos == 0 {
		L.RaiseError("bad argument #3 to 'unpack' (offset must be 1 or greater)")
	}
	pos--
	ld := uint64(len(data))
	h := structHeader{align: 1}
	var out []lua.LValue
	tooShort := func(size uint64) {
		if size > ld || pos > ld-size {
			L.RaiseError("bad argument #2 to 'unpack' (data string too short)")
		}
	}
	for p.more() {
		opt := p.next()
		size := uint64(p.size(opt))
		pos += structToAlign(pos, &h, opt, int(size))
		tooShort(size)
		if L.GetTop()+len(out)+2 > structMaxResults {
			L.RaiseError("stack overflow (too many results)")
		}
		switch opt {
		case 'b', 'B', 'h', 'H', 'l', 'L', 'T', 'i', 'I':
			signed := opt >= 'a'
			out = append(out, lua.LNumber(structGetUint(data[pos:pos+size], h.big, signed, int(size))))
		case 'x':
		case 'f':
			v := uint32(structGetUint(data[pos:pos+4], h.big, false, 4))
			out = append(out, lua.LNumber(math.Float32frombits(v)))
		case 'd':
			var v uint64
			if h.big {
				v = binary.BigEndian.Uint64([]byte(data[pos : pos+8]))
			} else {
				v = binary.LittleEndian.Uint64([]byte(data[pos : pos+8]))
			}
			out = append(out, lua.LNumber(math.Float64frombits(v)))
		case 'c':
			if size == 0 {
				var prev lua.LValue = lua.LNil
				if len(out) > 0 {
					prev = out[len(out)-1]
				}
				n, ok := luaToNumber(prev)
				if len(out) == 0 || !ok {
					L.RaiseError("format 'c0' needs a previous size")
				}
				size = uint64(int64(n))
				if n < 0 {
					size = uint64(int64(n)) // size_t of a negative: huge, too short
				}
				out = out[:len(out)-1]
				tooShort(size)
			}
			out = append(out, lua.LString(data[pos:pos+size]))
		case 's':
			e := -1
			for i := pos; i < ld; i++ {
				if data[i] == 0 {
					e = int(i)
					break
				}
			}
			if e < 0 {
				L.RaiseError("unfinished string in data")
			}
			size = uint64(e) - pos + 1
			out = append(out, lua.LString(data[pos:uint64(e)]))
		default:
			p.control(opt, &h)
		}
		pos += size
	}
	for _, v := range out {
		L.Push(v)
	}
	L.Push(lua.LNumber(int64(pos + 1)))
	return len(out) + 1
}

func luaToNumber(v lua.LValue) (float64, bool) {
	switch v := v.(type) {
	case lua.LNumber:
		return float64(v), true
	case lua.LString:
		f, err := parseLuaNumber(string(v))
		return f, err == nil
	}
	return 0, false
}

func structSize(L *lua.LState) int {
	p := &structFmt{L: L, fname: "size", f: luaCheckString(L, 1, "size")}
	h := structHeader{align: 1}
	var pos uint64
	for p.more() {
		opt := p.next()
		size := p.size(opt)
		pos += structToAlign(pos, &h, opt, size)
		switch {
		case opt == 's':
			L.RaiseError("bad argument #1 to 'size' (option 's' has no fixed size)")
		case opt == 'c' && size == 0:
			L.RaiseError("bad argument #1 to 'size' (option 'c0' has no fixed size)")
		}
		if !(isDigit(opt) || opt >= 'a' && opt <= 'z' || opt >= 'A' && opt <= 'Z') {
			p.control(opt, &h)
		}
		pos += uint64(size)
	}
	L.Push(lua.LNumber(int64(pos)))
	return 1
}
