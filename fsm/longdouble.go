package fsm

import (
	"math/big"
	"strings"
)

// x87 long double emulation, for INCRBYFLOAT.
//
// Redis keeps INCRBYFLOAT in C long double: on x86-64 the 80-bit extended
// format, a 64-bit significand with exponents down to 2^-16382 (normal) and
// 2^-16445 (subnormal). Values here are big.Floats of precision 64 rounded
// to nearest-even, with the exponent range checked by hand.

const (
	ldPrec   = 64
	ldMaxExp = 16384  // big.Float MantExp of the largest finite value
	ldMinExp = -16381 // MantExp of the smallest normal, 2^-16382
	ldSubBit = 16445  // the smallest subnormal is 2^-16445
	ldMaxLen = 5 * 1024
)

func ldIsSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r'
}

// parseLongDouble is Redis's string2ld: the whole string must be one strtold
// number (decimal, hexadecimal, inf or infinity; not NaN), with no leading
// space, shorter than 5 KiB, and neither overflow nor underflow to zero.
func parseLongDouble(s string) (*big.Float, bool) {
	if len(s) == 0 || len(s) >= ldMaxLen || ldIsSpace(s[0]) {
		return nil, false
	}
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	var z *big.Float
	var ok bool
	switch {
	case strings.EqualFold(s, "inf") || strings.EqualFold(s, "infinity"):
		z, ok = new(big.Float).SetInf(false), true
	case len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		z, ok = parseHexLD(s[2:])
	default:
		z, ok = parseDecLD(s)
	}
	if !ok {
		return nil, false
	}
	if neg {
		z.Neg(z)
	}
	return z, true
}

// ldScanDigits splits s into a mantissa's digits (without the point), the
// number of digits after the point, and the rest of s.
func ldScanDigits(s string, isDigit func(byte) bool) (digits string, frac int, rest string) {
	var b strings.Builder
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	b.WriteString(s[:i])
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		b.WriteString(s[i+1 : j])
		frac = j - i - 1
		i = j
	}
	return b.String(), frac, s[i:]
}

func ldIsDigit(ch byte) bool { return '0' <= ch && ch <= '9' }

func ldIsHex(ch byte) bool {
	return ldIsDigit(ch) || ('a' <= ch && ch <= 'f') || ('A' <= ch && ch <= 'F')
}

// ldParseExp parses an exponent "[+-]digits" that must be all of s, saturating
// far beyond any exponent that can matter.
func ldParseExp(s string) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var e int64
	for i := 0; i < len(s); i++ {
		if !ldIsDigit(s[i]) {
			return 0, false
		}
		if e < 1e9 {
			e = e*10 + int64(s[i]-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

func parseDecLD(s string) (*big.Float, bool) {
	digits, frac, rest := ldScanDigits(s, ldIsDigit)
	if digits == "" {
		return nil, false
	}
	var exp int64
	if rest != "" {
		if rest[0] != 'e' && rest[0] != 'E' {
			return nil, false
		}
		var ok bool
		if exp, ok = ldParseExp(rest[1:]); !ok {
			return nil, false
		}
	}
	exp -= int64(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return new(big.Float), true
	}
	for len(digits) > 1 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	// value = digits × 10^exp lies in [10^(nd-1+exp), 10^(nd+exp)).
	nd := int64(len(digits))
	if nd-1+exp > 4932 { // ≥ 10^4933: beyond the largest long double
		return nil, false
	}
	if nd+exp < -4951 { // < 10^-4952: rounds to zero
		return nil, false
	}
	num, _ := new(big.Int).SetString(digits, 10)
	den := big.NewInt(1)
	ten := big.NewInt(10)
	if exp > 0 {
		num.Mul(num, new(big.Int).Exp(ten, big.NewInt(exp), nil))
	} else if exp < 0 {
		den.Exp(ten, big.NewInt(-exp), nil)
	}
	return roundLD(num, den)
}

func parseHexLD(s string) (*big.Float, bool) {
	digits, frac, rest := ldScanDigits(s, ldIsHex)
	if digits == "" {
		return nil, false
	}
	var exp int64
	if rest != "" {
		if rest[0] != 'p' && rest[0] != 'P' {
			return nil, false
		}
		var ok bool
		if exp, ok = ldParseExp(rest[1:]); !ok {
			return nil, false
		}
	}
	exp -= 4 * int64(frac)
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return new(big.Float), true
	}
	num, _ := new(big.Int).SetString(digits, 16)
	// value = num × 2^exp lies in [2^(bits-1+exp), 2^(bits+exp)).
	bits := int64(num.BitLen())
	if bits-1+exp >= ldMaxExp {
		return nil, false
	}
	if bits+exp < -ldSubBit-1 {
		return nil, false
	}
	den := big.NewInt(1)
	if exp > 0 {
		num.Lsh(num, uint(exp))
	} else if exp < 0 {
		den.Lsh(den, uint(-exp))
	}
	return roundLD(num, den)
}

// roundLD rounds num/den (num > 0, den > 0) to the nearest long double, as
// strtold does, reporting false where the result overflows or underflows to
// zero.
func roundLD(num, den *big.Int) (*big.Float, bool) {
	a := new(big.Float).SetInt(num) // exact
	b := new(big.Float).SetInt(den)
	z := new(big.Float).SetPrec(ldPrec).Quo(a, b)
	e := z.MantExp(nil)
	if e > ldMaxExp {
		return nil, false
	}
	if e > ldMinExp {
		return z, true
	}
	// Possibly subnormal: precision shrinks with the exponent. Find the exact
	// binade, x in [2^(xe-1), 2^xe), and round again from the exact value.
	d := num.BitLen() - den.BitLen()
	var lhs, rhs big.Int
	if d >= 0 {
		lhs.Set(num)
		rhs.Lsh(den, uint(d))
	} else {
		lhs.Lsh(num, uint(-d))
		rhs.Set(den)
	}
	xe := d
	if lhs.Cmp(&rhs) >= 0 {
		xe = d + 1
	}
	if xe > ldMinExp {
		return z, true
	}
	p := xe + ldSubBit
	switch {
	case p >= 1:
		z = new(big.Float).SetPrec(uint(p)).Quo(a, b)
		return z.SetPrec(ldPrec), true
	case p == 0:
		// In [2^-16446, 2^-16445): rounds up to the smallest subnormal,
		// except an exact half, which rounds to even (zero).
		if lhs.Cmp(&rhs) == 0 {
			return nil, false
		}
		z = new(big.Float).SetPrec(ldPrec).SetMantExp(big.NewFloat(0.5), -ldSubBit+1)
		return z, true
	}
	return nil, false
}

// addLongDouble is a + b in long double; false if the sum is not finite.
func addLongDouble(a, b *big.Float) (*big.Float, bool) {
	if a.IsInf() || b.IsInf() {
		return nil, false
	}
	// Sums of two long doubles that land in the subnormal range are exact,
	// so rounding to 64 bits is all the format needs.
	z := new(big.Float).SetPrec(ldPrec).Add(a, b)
	if z.Sign() != 0 && z.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return z, true
}

// formatLongDouble is Redis's ld2string in human mode: "%.17Lf", trailing
// zeroPad and a bare point removed, "-0" written as "0".
func formatLongDouble(f *big.Float) string {
	if f.IsInf() {
		if f.Sign() > 0 {
			return "inf"
		}
		return "-inf"
	}
	s := f.Text('f', 17)
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
