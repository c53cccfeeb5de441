package fsm

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// cmsgpack, as Redis's lua_cmsgpack.c (0.4.0) has it: pack(...) encodes
// each argument and concatenates them; unpack(s) decodes every object of
// s; unpack_one(s [, offset]) and unpack_limit(s, limit [, offset]) decode
// one or limit objects and return first the offset of what follows (-1
// at the end of s).
//
// A table whose keys are exactly 1..n is an array, anything else a map;
// a map's pairs are written in the order Lua's next visits them, which
// for more than one pair differs between C Lua and gopher-lua (the bytes
// differ from Redis's then, the content does not). Tables nested deeper
// than 16 are written as nil, as Redis does.

const (
	msgpackMaxNesting = 16
	// msgpackMaxOutput bounds what one pack may build: a table that
	// holds itself many times, 16 levels deep, would otherwise ask for
	// more memory than any node has.
	msgpackMaxOutput = 64 << 20
)

func openCMsgpack(L *lua.LState) {
	t := L.NewTable()
	t.RawSetString("pack", L.NewFunction(msgpackPack))
	t.RawSetString("unpack", L.NewFunction(func(L *lua.LState) int {
		return msgpackUnpack(L, luaCheckString(L, 1, "unpack"), 0, 0)
	}))
	t.RawSetString("unpack_one", L.NewFunction(func(L *lua.LState) int {
		offset := luaOptInt(L, 2, "unpack_one", 0)
		return msgpackUnpack(L, luaCheckString(L, 1, "unpack_one"), 1, offset)
	}))
	t.RawSetString("unpack_limit", L.NewFunction(func(L *lua.LState) int {
		limit := luaCheckInt(L, 2, "unpack_limit")
		offset := luaOptInt(L, 3, "unpack_limit", 0)
		return msgpackUnpack(L, luaCheckString(L, 1, "unpack_limit"), limit, offset)
	}))
	t.RawSetString("_NAME", lua.LString("cmsgpack"))
	t.RawSetString("_VERSION", lua.LString("lua-cmsgpack 0.4.0"))
	t.RawSetString("_COPYRIGHT", lua.LString("Copyright (C) 2012, Salvatore Sanfilippo"))
	t.RawSetString("_DESCRIPTION", lua.LString("MessagePack C implementation for Lua"))
	L.SetGlobal("cmsgpack", t)
}

func msgpackPack(L *lua.LState) int {
	n := L.GetTop()
	if n == 0 {
		L.RaiseError("bad argument #0 to 'pack' (MessagePack pack needs input.)")
	}
	var b []byte
	for i := 1; i <= n; i++ {
		b = msgpackEncode(L, b, L.Get(i), 0)
	}
	L.Push(lua.LString(b))
	return 1
}

func msgpackEncode(L *lua.LState, b []byte, v lua.LValue, level int) []byte {
	if len(b) > msgpackMaxOutput {
		L.RaiseError("MessagePack pack output exceeds %d bytes", msgpackMaxOutput)
	}
	switch v := v.(type) {
	case lua.LBool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case lua.LNumber:
		f := float64(v)
		if !math.IsInf(f, 0) && !math.IsNaN(f) && f >= -9223372036854775808.0 && f < 9223372036854775808.0 && float64(int64(f)) == f {
			return msgpackInt(b, int64(f))
		}
		if f32 := float32(f); float64(f32) == f {
			return binary.BigEndian.AppendUint32(append(b, 0xca), math.Float32bits(f32))
		}
		return binary.BigEndian.AppendUint64(append(b, 0xcb), math.Float64bits(f))
	case lua.LString:
		n := len(v)
		switch {
		case n < 32:
			b = append(b, 0xa0|byte(n))
		case n <= 0xff:
			b = append(b, 0xd9, byte(n))
		case n <= 0xffff:
			b = binary.BigEndian.AppendUint16(append(b, 0xda), uint16(n))
		default:
			b = binary.BigEndian.AppendUint32(append(b, 0xdb), uint32(n))
		}
		return append(b, v...)
	case *lua.LTable:
		if level == msgpackMaxNesting {
			return append(b, 0xc0)
		}
		if n, ok := msgpackArrayLen(v); ok {
			b = msgpackHeader(b, n, 0x90, 0xdc, 0xdd)
			for i := 1; i <= n; i++ {
				b = msgpackEncode(L, b, v.RawGetInt(i), level+1)
			}
			return b
		}
		n := 0
		v.ForEach(func(lua.LValue, lua.LValue) { n++ })
		b = msgpackHeader(b, n, 0x80, 0xde, 0xdf)
		for k, val := v.Next(lua.LNil); k != lua.LNil; k, val = v.Next(k) {
			b = msgpackEncode(L, b, k, level+1)
			b = msgpackEncode(L, b, val, level+1)
		}
		return b
	}
	return append(b, 0xc0) // nil, functions, userdata...
}

// msgpackArrayLen reports whether t's keys are exactly 1..n (an empty
// table is an empty array), as table_is_an_array does.
func msgpackArrayLen(t *lua.LTable) (int, bool) {
	count, top, ok := 0, 0, true
	t.ForEach(func(k, _ lua.LValue) {
		n, isNum := k.(lua.LNumber)
		if !isNum || float64(n) < 1 || float64(n) != math.Trunc(float64(n)) || float64(n) > math.MaxInt32 {
			ok = false
			return
		}
		count++
		top = max(top, int(n))
	})
	return count, ok && top == count
}

func msgpackHeader(b []byte, n int, fix, b16, b32 byte) []byte {
	switch {
	case n <= 15:
		return append(b, fix|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, b16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, b32), uint32(n))
}

func msgpackInt(b []byte, n int64) []byte {
	switch {
	case n >= 0 && n <= 127:
		return append(b, byte(n))
	case n >= 0 && n <= 0xff:
		return append(b, 0xcc, byte(n))
	case n >= 0 && n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(n))
	case n >= 0 && n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(n))
	case n >= 0:
		return binary.BigEndian.AppendUint64(append(b, 0xcf), uint64(n))
	case n >= -32:
		return append(b, byte(int8(n)))
	case n >= -128:
		return append(b, 0xd0, byte(int8(n)))
	case n >= -32768:
		return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(int16(n)))
	case n >= -2147483648:
		return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(int32(n)))
	}
	return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(n))
}

// msgpackUnpack is mp_unpack_full: limit 0 and offset 0 decode
// everything and return the objects alone.
func msgpackUnpack(L *lua.LState, s string, limit, offset int) int {
	all := limit == 0 && offset == 0
	switch {
	case offset < 0 || limit < 0:
		// Redis prints the input's length where it means the limit.
		L.RaiseError("Invalid request to unpack with offset of %d and limit of %d.", offset, len(s))
	case offset > len(s):
		L.RaiseError("Start offset %d greater than input length %d.", offset, len(s))
	}
	d := msgpackDecoder{L: L, s: s, pos: offset}
	var out []lua.LValue
	for cnt := 0; d.pos < len(s) && (all || cnt < limit); cnt++ {
		out = append(out, d.decode())
	}
	if !all {
		next := d.pos
		if next == len(s) {
			next = -1
		}
		L.Push(lua.LNumber(next))
	}
	for _, v := range out {
		L.Push(v)
	}
	if all {
		return len(out)
	}
	return len(out) + 1
}

type msgpackDecoder struct {
	L     *lua.LState
	s     string
	pos   int
	depth int
}

// msgpackMaxDepth bounds the nesting unpack follows (Redis recurses on
// its C stack as deep as the input says).
const msgpackMaxDepth = 10000

func (d *msgpackDecoder) need(n int) string {
	if n < 0 || len(d.s)-d.pos < n {
		d.L.RaiseError("Missing bytes in input.")
	}
	b := d.s[d.pos : d.pos+n]
	d.pos += n
	return b
}

func (d *msgpackDecoder) uint(n int) uint64 {
	var v uint64
	for _, c := range []byte(d.need(n)) {
		v = v<<8 | uint64(c)
	}
	return v
}

func (d *msgpackDecoder) decode() lua.LValue {
	c := d.need(1)[0]
	switch {
	case c <= 0x7f:
		return lua.LNumber(c)
	case c >= 0xe0:
		return lua.LNumber(int8(c))
	case c >= 0xa0 && c <= 0xbf:
		return lua.LString(d.need(int(c & 0x1f)))
	case c >= 0x90 && c <= 0x9f:
		return d.array(int(c & 0xf))
	case c >= 0x80 && c <= 0x8f:
		return d.mapOf(int(c & 0xf))
	}
	switch c {
	case 0xcc:
		return lua.LNumber(d.uint(1))
	case 0xcd:
		return lua.LNumber(d.uint(2))
	case 0xce:
		return lua.LNumber(d.uint(4))
	case 0xcf:
		return lua.LNumber(d.uint(8))
	case 0xd0:
		return lua.LNumber(int8(d.uint(1)))
	case 0xd1:
		return lua.LNumber(int16(d.uint(2)))
	case 0xd2:
		return lua.LNumber(int32(d.uint(4)))
	case 0xd3:
		return lua.LNumber(int64(d.uint(8)))
	case 0xc0:
		return lua.LNil
	case 0xc3:
		return lua.LTrue
	case 0xc2:
		return lua.LFalse
	case 0xca:
		return lua.LNumber(math.Float32frombits(uint32(d.uint(4))))
	case 0xcb:
		return lua.LNumber(math.Float64frombits(d.uint(8)))
	case 0xd9:
		return lua.LString(d.need(int(d.uint(1))))
	case 0xda:
		return lua.LString(d.need(int(d.uint(2))))
	case 0xdb:
		return lua.LString(d.need(int(d.uint(4))))
	case 0xdc:
		return d.array(int(d.uint(2)))
	case 0xdd:
		return d.array(int(d.uint(4)))
	case 0xde:
		return d.mapOf(int(d.uint(2)))
	case 0xdf:
		return d.mapOf(int(d.uint(4)))
	}
	d.L.RaiseError("Bad data format in input.")
	return lua.LNil
}

// array and mapOf never size anything by the header: each element takes
// at least one byte of input, so a lying header runs out of input first.
func (d *msgpackDecoder) array(n int) lua.LValue {
	d.nest()
	defer func() { d.depth-- }()
	t := d.L.NewTable()
	for i := 1; i <= n; i++ {
		t.RawSetInt(i, d.decode())
	}
	return t
}

func (d *msgpackDecoder) mapOf(n int) lua.LValue {
	d.nest()
	defer func() { d.depth-- }()
	t := d.L.NewTable()
	for i := 0; i < n; i++ {
		k := d.decode()
		v := d.decode()
		if k == lua.LNil {
			d.L.RaiseError("table index is nil")
		}
		t.RawSet(k, v)
	}
	return t
}

func (d *msgpackDecoder) nest() {
	if d.depth++; d.depth > msgpackMaxDepth {
		d.L.RaiseError("MessagePack unpack nesting exceeds %d levels", msgpackMaxDepth)
	}
}

// luaCheckString, luaCheckInt and luaOptInt check a C function's argument
// as lauxlib does, with its words: "bad argument #1 to 'unpack' (string
// expected, got no value)".
func luaCheckString(L *lua.LState, n int, fname string) string {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	luaArgType(L, n, fname, "string")
	return ""
}

func luaCheckInt(L *lua.LState, n int, fname string) int {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return int(int64(v))
	case lua.LString:
		if f, err := parseLuaNumber(string(v)); err == nil {
			return int(int64(f))
		}
	}
	luaArgType(L, n, fname, "number")
	return 0
}

func luaOptInt(L *lua.LState, n int, fname string, def int) int {
	if L.Get(n) == lua.LNil {
		return def
	}
	return luaCheckInt(L, n, fname)
}

func luaArgType(L *lua.LState, n int, fname, want string) {
	got := "no value"
	if n <= L.GetTop() {
		got = L.Get(n).Type().String()
	}
	L.RaiseError("bad argument #%d to '%s' (%s expected, got %s)", n, fname, want, got)
}

func parseLuaNumber(s string) (float64, error) {
	return strconv.ParseFloat(strings.TrimSpace(s), 64)
}
