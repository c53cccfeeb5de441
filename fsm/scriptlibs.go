package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The libraries Redis gives scripts beyond Lua's own: cjson and bit (as
// lua-cjson and LuaBitOp behave), deterministic like the rest.

// openCJSON installs cjson.encode, cjson.decode and cjson.null.
func openCJSON(L *lua.LState) {
	null := L.NewUserData()
	t := L.NewTable()
	t.RawSetString("null", null)
	t.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
		var b bytes.Buffer
		if err := encodeJSON(&b, L.CheckAny(1), null, 0); err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(lua.LString(b.String()))
		return 1
	}))
	t.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
		d := json.NewDecoder(strings.NewReader(L.CheckString(1)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			L.RaiseError("%s", err.Error())
		}
		L.Push(decodedToLua(L, v, null))
		return 1
	}))
	L.SetGlobal("cjson", t)
}

func encodeJSON(b *bytes.Buffer, v lua.LValue, null lua.LValue, depth int) error {
	if depth > 1000 {
		return fmt.Errorf("Cannot serialise, excessive nesting (1001)")
	}
	switch v := v.(type) {
	case *lua.LNilType:
		b.WriteString("null")
	case lua.LBool:
		b.WriteString(strconv.FormatBool(bool(v)))
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("Cannot serialise number: must not be NaN or Inf")
		}
		b.WriteString(strconv.FormatFloat(f, 'g', 14, 64))
	case lua.LString:
		writeJSONString(b, string(v))
	case *lua.LUserData:
		if v != null {
			return fmt.Errorf("Cannot serialise userdata: type not supported")
		}
		b.WriteString("null")
	case *lua.LTable:
		n := v.MaxN()
		isArray := n > 0
		count := 0
		eachPair(v, func(k, _ lua.LValue) {
			count++
			if num, ok := k.(lua.LNumber); !ok || float64(num) != math.Trunc(float64(num)) || num < 1 || int(num) > n {
				isArray = false
			}
		})
		if isArray && count == n {
			b.WriteByte('[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b.WriteByte(',')
				}
				if err := encodeJSON(b, v.RawGetInt(i), null, depth+1); err != nil {
					return err
				}
			}
			b.WriteByte(']')
			return nil
		}
		b.WriteByte('{')
		first := true
		var err error
		eachPair(v, func(k, val lua.LValue) {
			if err != nil {
				return
			}
			var key string
			switch k := k.(type) {
			case lua.LString:
				key = string(k)
			case lua.LNumber:
				key = strconv.FormatFloat(float64(k), 'g', 14, 64)
			default:
				err = fmt.Errorf("Cannot serialise %s: table key must be a number or string", k.Type())
				return
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeJSONString(b, key)
			b.WriteByte(':')
			err = encodeJSON(b, val, null, depth+1)
		})
		if err != nil {
			return err
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("Cannot serialise %s: type not supported", v.Type())
	}
	return nil
}

// writeJSONString escapes as lua-cjson does ('/' too).
func writeJSONString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}

func decodedToLua(L *lua.LState, v any, null lua.LValue) lua.LValue {
	switch v := v.(type) {
	case nil:
		return null
	case bool:
		return lua.LBool(v)
	case json.Number:
		f, _ := v.Float64()
		return lua.LNumber(f)
	case string:
		return lua.LString(v)
	case []any:
		t := L.NewTable()
		for i, e := range v {
			t.RawSetInt(i+1, decodedToLua(L, e, null))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys) // a Go map's order is random: replicas must agree
		for _, k := range keys {
			t.RawSetString(k, decodedToLua(L, v[k], null))
		}
		return t
	}
	return lua.LNil
}

// openBit installs LuaBitOp's bit library: 32-bit operations.
func openBit(L *lua.LState) {
	tobit := func(L *lua.LState, i int) int32 {
		f := float64(L.CheckNumber(i))
		return int32(uint32(int64(math.Mod(math.Trunc(f), 4294967296))))
	}
	push := func(L *lua.LState, v int32) int {
		L.Push(lua.LNumber(v))
		return 1
	}
	fold := func(op func(a, b int32) int32) lua.LGFunction {
		return func(L *lua.LState) int {
			v := tobit(L, 1)
			for i := 2; i <= L.GetTop(); i++ {
				v = op(v, tobit(L, i))
			}
			return push(L, v)
		}
	}
	t := L.NewTable()
	t.RawSetString("tobit", L.NewFunction(func(L *lua.LState) int { return push(L, tobit(L, 1)) }))
	t.RawSetString("bnot", L.NewFunction(func(L *lua.LState) int { return push(L, ^tobit(L, 1)) }))
	t.RawSetString("band", L.NewFunction(fold(func(a, b int32) int32 { return a & b })))
	t.RawSetString("bor", L.NewFunction(fold(func(a, b int32) int32 { return a | b })))
	t.RawSetString("bxor", L.NewFunction(fold(func(a, b int32) int32 { return a ^ b })))
	shift := func(op func(v int32, n uint) int32) lua.LGFunction {
		return func(L *lua.LState) int { return push(L, op(tobit(L, 1), uint(tobit(L, 2))&31)) }
	}
	t.RawSetString("lshift", L.NewFunction(shift(func(v int32, n uint) int32 { return int32(uint32(v) << n) })))
	t.RawSetString("rshift", L.NewFunction(shift(func(v int32, n uint) int32 { return int32(uint32(v) >> n) })))
	t.RawSetString("arshift", L.NewFunction(shift(func(v int32, n uint) int32 { return v >> n })))
	t.RawSetString("rol", L.NewFunction(shift(func(v int32, n uint) int32 { return int32(uint32(v)<<n | uint32(v)>>(32-n)) })))
	t.RawSetString("ror", L.NewFunction(shift(func(v int32, n uint) int32 { return int32(uint32(v)>>n | uint32(v)<<(32-n)) })))
	t.RawSetString("bswap", L.NewFunction(func(L *lua.LState) int {
		u := uint32(tobit(L, 1))
		return push(L, int32(u>>24|u>>8&0xff00|u<<8&0xff0000|u<<24))
	}))
	t.RawSetString("tohex", L.NewFunction(func(L *lua.LState) int {
		v := uint32(tobit(L, 1))
		n := 8
		if L.GetTop() >= 2 {
			n = int(tobit(L, 2))
		}
		digits := "0123456789abcdef"
		if n < 0 {
			n, digits = -n, "0123456789ABCDEF"
		}
		n = min(n, 8)
		out := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			out[i] = digits[v&15]
			v >>= 4
		}
		L.Push(lua.LString(out))
		return 1
	}))
	L.SetGlobal("bit", t)
}

// eachPair walks a table as pairs() does, in its insertion order:
// gopher-lua's ForEach walks Go maps, whose order differs from run to run
// (and so would differ between replicas).
func eachPair(t *lua.LTable, fn func(k, v lua.LValue)) {
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		fn(k, v)
	}
}
