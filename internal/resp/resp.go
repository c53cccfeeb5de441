package resp

import (
	"math"
	"strconv"
	"strings"
)

// AppendOK appends +OK.
func AppendOK(b []byte) []byte { return append(b, "+OK\r\n"...) }

// AppendNull appends RESP2's null bulk string ($-1).
func AppendNull(b []byte) []byte { return append(b, "$-1\r\n"...) }

// AppendNullArray appends RESP2's null array (*-1).
func AppendNullArray(b []byte) []byte { return append(b, "*-1\r\n"...) }

// AppendStatus appends a simple string (+s). s must not hold CR or LF.
func AppendStatus(b []byte, s string) []byte {
	b = append(b, '+')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// AppendError appends an error reply. msg must start with the error code
// (ERR, WRONGTYPE...); CR and LF become spaces so the reply stays one line.
func AppendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, '\r', '\n')
}

// AppendInt appends an integer reply.
func AppendInt(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// AppendArray appends the header of an array of n elements.
func AppendArray(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendBulk appends a bulk string.
func AppendBulk(b, v []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendBulkString appends a bulk string.
func AppendBulkString(b []byte, v string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, '\r', '\n')
	b = append(b, v...)
	return append(b, '\r', '\n')
}

// AppendStatusArray appends an array of simple strings: the shape of a
// HELP subcommand's reply.
func AppendStatusArray(b []byte, lines ...string) []byte {
	b = AppendArray(b, len(lines))
	for _, l := range lines {
		b = AppendStatus(b, l)
	}
	return b
}

// Error texts shared by many commands, worded exactly as Redis words them.
const (
	ErrWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
	ErrNotInt    = "ERR value is not an integer or out of range"
	ErrNotFloat  = "ERR value is not a valid float"
	ErrSyntax    = "ERR syntax error"
	ErrDBIndex   = "ERR DB index is out of range"
)

// WrongArity is Redis's arity error for the command name (lower case, as
// Redis prints it; a subcommand as "client|setname").
func WrongArity(name string) string {
	return "ERR wrong number of arguments for '" + strings.ToLower(name) + "' command"
}

// --- arguments -------------------------------------------------------------

// ParseInt parses a Redis integer argument (strict: no spaces, no '+',
// no leading zeros beyond "0", fits in int64).
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if (b[0] == '0' && len(b) > 1) || b[0] == '+' {
		return 0, false
	}
	if b[0] == '-' && (len(b) == 1 || b[1] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// ParseFloat parses a Redis float argument ("inf", "-inf" allowed, NaN not).
func ParseFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 5000 {
		return 0, false
	}
	s := string(b)
	if s[0] == ' ' || s[len(s)-1] == ' ' || strings.ContainsAny(s, "_xXpP") {
		return 0, false
	}
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), true
	case "-inf", "-infinity":
		return math.Inf(-1), true
	case "nan", "+nan", "-nan":
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// FormatFloat formats as Redis does for INCRBYFLOAT/HINCRBYFLOAT replies:
// up to 17 significant digits, no exponent, trailing zeros removed.
func FormatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "inf"
	}
	if math.IsInf(f, -1) {
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// EqualFold reports whether arg equals the lower-case word, ignoring case,
// without allocating.
func EqualFold(arg []byte, word string) bool {
	if len(arg) != len(word) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		ch := arg[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != word[i] {
			return false
		}
	}
	return true
}

// --- reading replies back ------------------------------------------------------

// Len is the length of the one RESP value at the start of b, or -1 if b
// does not start with a whole value.
func Len(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	line, rest, ok := readLine(b[1:])
	if !ok {
		return -1
	}
	head := len(b) - len(rest)
	switch b[0] {
	case '+', '-', ':':
		return head
	case '$':
		n, ok := atoi(line)
		if !ok {
			return -1
		}
		if n < 0 {
			return head
		}
		if n > len(rest)-2 {
			return -1
		}
		return head + n + 2
	case '*':
		n, ok := atoi(line)
		if !ok {
			return -1
		}
		total := head
		for i := 0; i < n; i++ {
			l := Len(b[total:])
			if l < 0 {
				return -1
			}
			total += l
		}
		return total
	}
	return -1
}

// SplitArray splits an array reply "*N..." into its N elements, or returns
// nil if b is not one whole array.
func SplitArray(b []byte) [][]byte {
	if len(b) == 0 || b[0] != '*' {
		return nil
	}
	line, rest, ok := readLine(b[1:])
	if !ok {
		return nil
	}
	n, ok := atoi(line)
	if !ok || n < 0 || n > len(rest) {
		return nil
	}
	parts := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		l := Len(rest)
		if l < 0 {
			return nil
		}
		parts = append(parts, rest[:l])
		rest = rest[l:]
	}
	return parts
}

func readLine(b []byte) (line, rest []byte, ok bool) {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return b[:i], b[i+2:], true
		}
	}
	return nil, nil, false
}

// atoi reads a RESP length: an optional '-' then decimal digits.
func atoi(b []byte) (int, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n, true
	}
	return n, true
}
