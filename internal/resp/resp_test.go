package resp

import (
	"math"
	"strings"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, c := range []struct {
		got  []byte
		want string
	}{
		{AppendOK(nil), "+OK\r\n"},
		{AppendNull(nil), "$-1\r\n"},
		{AppendNullArray(nil), "*-1\r\n"},
		{AppendStatus(nil, "QUEUED"), "+QUEUED\r\n"},
		{AppendError(nil, "ERR bad\r\nline"), "-ERR bad  line\r\n"},
		{AppendInt(nil, -42), ":-42\r\n"},
		{AppendArray(nil, 3), "*3\r\n"},
		{AppendBulk(nil, []byte("a\r\nb")), "$4\r\na\r\nb\r\n"},
		{AppendBulk(nil, nil), "$0\r\n\r\n"},
		{AppendBulkString(nil, "hé"), "$3\r\nhé\r\n"},
		{AppendStatusArray(nil, "A", "B"), "*2\r\n+A\r\n+B\r\n"},
		{AppendInt([]byte("x"), 1), "x:1\r\n"}, // appends, keeps what was there
	} {
		if string(c.got) != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if WrongArity("CLIENT|SetName") != "ERR wrong number of arguments for 'client|setname' command" {
		t.Error(WrongArity("CLIENT|SetName"))
	}
}

// The append helpers allocate nothing when the buffer has room.
func TestAppendDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 256)
	n := testing.AllocsPerRun(100, func() {
		b := AppendArray(buf[:0], 2)
		b = AppendBulkString(b, "session:42")
		b = AppendInt(b, 1800)
		_ = AppendOK(b)
	})
	if n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

func TestParseInt(t *testing.T) {
	good := map[string]int64{"0": 0, "-1": -1, "42": 42, "9223372036854775807": math.MaxInt64, "-9223372036854775808": math.MinInt64}
	for s, want := range good {
		if n, ok := ParseInt([]byte(s)); !ok || n != want {
			t.Errorf("ParseInt(%q) = %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "+1", "01", "-0", "-", " 1", "1 ", "1.0", "9223372036854775808", "0x10", "123456789012345678901"} {
		if n, ok := ParseInt([]byte(s)); ok {
			t.Errorf("ParseInt(%q) = %d, accepted", s, n)
		}
	}
}

func TestParseFloat(t *testing.T) {
	good := map[string]float64{"1.5": 1.5, "-0": 0, "inf": math.Inf(1), "-INF": math.Inf(-1), "+infinity": math.Inf(1), "1e3": 1000, ".5": 0.5}
	for s, want := range good {
		if f, ok := ParseFloat([]byte(s)); !ok || f != want {
			t.Errorf("ParseFloat(%q) = %v, %v", s, f, ok)
		}
	}
	for _, s := range []string{"", "nan", "-nan", " 1", "1 ", "0x10", "1_000", "1p3", "abc", strings.Repeat("1", 5001)} {
		if f, ok := ParseFloat([]byte(s)); ok {
			t.Errorf("ParseFloat(%q) = %v, accepted", s, f)
		}
	}
}

func TestFormatFloat(t *testing.T) {
	for f, want := range map[float64]string{1.5: "1.5", 3: "3", math.Copysign(0, -1): "0", math.Inf(1): "inf", math.Inf(-1): "-inf", 1.0 / 3: "0.3333333333333333", 1e21: "1000000000000000000000"} {
		if got := FormatFloat(f); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestEqualFold(t *testing.T) {
	if !EqualFold([]byte("WithScores"), "withscores") || EqualFold([]byte("with"), "withscores") || EqualFold([]byte("WITHSCORES"), "WITHSCORES") {
		t.Fatal("EqualFold")
	}
}

func TestSplitArray(t *testing.T) {
	reply := "*5\r\n+OK\r\n-ERR x\r\n:7\r\n$3\r\na\r\n\r\n*2\r\n$-1\r\n*-1\r\n"
	parts := SplitArray([]byte(reply))
	want := []string{"+OK\r\n", "-ERR x\r\n", ":7\r\n", "$3\r\na\r\n\r\n", "*2\r\n$-1\r\n*-1\r\n"}
	if len(parts) != len(want) {
		t.Fatalf("%d parts: %q", len(parts), parts)
	}
	for i := range want {
		if string(parts[i]) != want[i] {
			t.Errorf("part %d = %q, want %q", i, parts[i], want[i])
		}
	}
	for _, bad := range []string{"", "+OK\r\n", "*2\r\n+OK\r\n", "*1\r\n$5\r\nab\r\n", "*x\r\n", "*1\r\n?\r\n", "*99999999999999999999\r\n"} {
		if p := SplitArray([]byte(bad)); p != nil {
			t.Errorf("SplitArray(%q) = %q, want nil", bad, p)
		}
	}
}

func FuzzLen(f *testing.F) {
	f.Add([]byte("*2\r\n$1\r\na\r\n:1\r\n"))
	f.Add([]byte("$-1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := Len(b); n > len(b) {
			t.Fatalf("Len %d beyond %d bytes", n, len(b))
		}
		SplitArray(b)
	})
}
