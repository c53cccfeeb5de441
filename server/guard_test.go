package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/statehouse/statehouse/internal/testcluster"
	"github.com/tidwall/redcon"
)

// smallLimits make every limit reachable with a few bytes.
var smallLimits = Limits{MaxBulkLen: 64, MaxArgs: 8, MaxRequest: 128, MaxInlineBytes: 32}

// respCmd is encode as a string.
func respCmd(args ...string) string { return string(encode(args...)) }

// feedChunks feeds data to a fresh guard in the given chunk sizes (the last
// chunk takes what is left) and returns how many bytes it let through and
// its error. After an error, further input must be refused with the same
// error.
func feedChunks(t *testing.T, lim Limits, data []byte, sizes []int) (int, error) {
	t.Helper()
	g := guard{lim: lim}
	total := 0
	for len(data) > 0 {
		n := len(data)
		if len(sizes) > 0 {
			n = min(sizes[0], n)
			sizes = sizes[1:]
		}
		ok, err := g.feed(data[:n])
		if ok < 0 || ok > n {
			t.Fatalf("feed of %d bytes passed %d", n, ok)
		}
		total += ok
		if err != nil {
			if ok == n {
				t.Fatalf("feed passed every byte of the chunk and also failed: %v", err)
			}
			if again, err2 := g.feed([]byte("*1\r\n$4\r\nPING\r\n")); again != 0 || err2 != err {
				t.Fatalf("after %v the guard passed %d more bytes, err %v", err, again, err2)
			}
			return total, err
		}
		if ok != n {
			t.Fatalf("feed passed %d of %d bytes without an error", ok, n)
		}
		data = data[n:]
	}
	return total, nil
}

// splits returns the chunkings every guard test runs: whole, one byte at a
// time, every cut into two pieces, and random chunks.
func splits(n int, rng *rand.Rand) map[string][]int {
	out := map[string][]int{"whole": nil}
	ones := make([]int, n)
	for i := range ones {
		ones[i] = 1
	}
	out["bytewise"] = ones
	for i := 1; i < n; i++ {
		out[fmt.Sprintf("cut@%d", i)] = []int{i}
	}
	for r := 0; r < 8; r++ {
		var sizes []int
		for left := n; left > 0; {
			s := 1 + rng.IntN(min(left, 17))
			sizes = append(sizes, s)
			left -= s
		}
		out[fmt.Sprintf("random%d", r)] = sizes
	}
	return out
}

func newRand(t *testing.T) *rand.Rand {
	seed := testcluster.Seed(t)
	return rand.New(rand.NewPCG(seed, seed))
}

// parseAll runs redcon's reader over data and returns the commands it
// finds, or its error other than EOF.
func parseAll(data []byte) ([][]string, error) {
	rd := redcon.NewReader(bytes.NewReader(data))
	var out [][]string
	for {
		cmds, err := rd.ReadCommands()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		for _, c := range cmds {
			var args []string
			for _, a := range c.Args {
				args = append(args, string(a))
			}
			out = append(out, args)
		}
	}
}

func TestGuardPassesValidPipelines(t *testing.T) {
	rng := newRand(t)
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	cases := []struct {
		name string
		lim  Limits
		data string
		want int // commands redcon parses from it
	}{
		{"one command", DefaultLimits, respCmd("GET", "k"), 1},
		{"pipeline", DefaultLimits, respCmd("SET", "k", "v") + respCmd("GET", "k") + respCmd("DEL", "k"), 3},
		{"empty args", DefaultLimits, respCmd("SET", "", ""), 1},
		{"binary payload", DefaultLimits, respCmd("SET", "k", string(bin)), 1},
		{"CRLF and $ and * in payload", DefaultLimits, respCmd("SET", "*1\r\n", "$3\r\n\r\n"), 1},
		{"inline", DefaultLimits, "PING\r\nSET k v\nGET k\r\n", 3},
		{"inline then RESP", DefaultLimits, "PING\r\n" + respCmd("ECHO", "x") + "ECHO y\r\n", 3},
		{"blank inline lines", DefaultLimits, "\r\n\n" + respCmd("PING"), 1},
		{"inline quotes", DefaultLimits, "SET \"a b\" 'c \"d'\r\nSET \"e\\\"f\\n\" x\r\nECHO \"\"\nECHO ''  \"x\" \n", 4},
		{"inline backslashes and marks inside words", DefaultLimits, "SET a\\b$*x\r y\r\n", 1},
		{"leading zeros", DefaultLimits, "*02\r\n$004\r\nECHO\r\n$01\r\nx\r\n", 1},
		{"at every small limit", smallLimits,
			respCmd("A", "B", "C", "D", "E", "F", "G", "H") + // MaxArgs args
				respCmd("SET", strings.Repeat("v", 64)) + // MaxBulkLen payload
				strings.Repeat("i", 31) + "\n", // MaxInlineBytes, newline included
			3},
		{"exactly MaxRequest", smallLimits, requestOfSize(t, 128) + requestOfSize(t, 128), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data)
			for name, sizes := range splits(len(data), rng) {
				n, err := feedChunks(t, tc.lim, data, sizes)
				if err != nil || n != len(data) {
					t.Fatalf("%s: passed %d of %d bytes, err %v", name, n, len(data), err)
				}
			}
			cmds, err := parseAll(data)
			if err != nil || len(cmds) != tc.want {
				t.Fatalf("redcon parsed %d commands (%v), want %d", len(cmds), err, tc.want)
			}
		})
	}
}

// requestOfSize is a SET of exactly n bytes whose bulks fit smallLimits.
func requestOfSize(t *testing.T, n int) string {
	t.Helper()
	for w := 0; w <= 64; w++ {
		if r := respCmd("SET", strings.Repeat("v", 48), strings.Repeat("w", w)); len(r) == n {
			return r
		}
	}
	t.Fatalf("no SET of %d bytes", n)
	return ""
}

func TestGuardMaxRequestBoundary(t *testing.T) {
	if n, err := feedChunks(t, smallLimits, []byte(requestOfSize(t, 128)), nil); err != nil || n != 128 {
		t.Fatalf("128-byte request: passed %d, err %v", n, err)
	}
	n, err := feedChunks(t, smallLimits, []byte(requestOfSize(t, 129)), nil)
	if err == nil || err.Error() != "Protocol error: request too large" || n > 128 {
		t.Fatalf("129-byte request: passed %d, err %v", n, err)
	}
}

func TestGuardReportsViolations(t *testing.T) {
	rng := newRand(t)
	good := "PING\r\n" + respCmd("SET", "k", "v") // always let through first
	cases := []struct {
		name string
		lim  Limits
		bad  string // sent after good
		at   int    // offset in bad of the byte the guard refuses
		msg  string
	}{
		{"bulk length 2^63-1", DefaultLimits, "*2\r\n$3\r\nGET\r\n$9223372036854775807\r\nxyz", 34, "invalid bulk length"},
		{"bulk length 2^63", DefaultLimits, "*2\r\n$3\r\nGET\r\n$9223372036854775808\r\nxyz", 32, "invalid bulk length"},
		{"bulk length 19 nines", DefaultLimits, "*2\r\n$3\r\nGET\r\n$9999999999999999999\r\nxyz", 32, "invalid bulk length"},
		{"bulk length 20 nines", DefaultLimits, "*2\r\n$3\r\nGET\r\n$99999999999999999999\r\nxyz", 32, "invalid bulk length"},
		{"bulk length over MaxBulkLen", smallLimits, "*2\r\n$3\r\nGET\r\n$65\r\n", 17, "invalid bulk length"},
		{"bulk length over default 512MB", DefaultLimits, "*2\r\n$3\r\nSET\r\n$1073741824\r\n", 25, "invalid bulk length"},
		{"negative bulk length", DefaultLimits, "*2\r\n$3\r\nGET\r\n$-1\r\n", 17, "invalid bulk length"},
		{"minus alone", DefaultLimits, "*1\r\n$-\r\n", 7, "invalid bulk length"},
		{"minus inside", DefaultLimits, "*1\r\n$3-\r\n", 6, "invalid bulk length"},
		{"empty bulk length", DefaultLimits, "*1\r\n$\r\n", 6, "invalid bulk length"},
		{"plus sign", DefaultLimits, "*1\r\n$+3\r\nGET\r\n", 5, "invalid bulk length"},
		{"space in length", DefaultLimits, "*1\r\n$ 3\r\nGET\r\n", 5, "invalid bulk length"},
		{"letter in length", DefaultLimits, "*1\r\n$3x\r\nGET\r\n", 6, "invalid bulk length"},
		{"LF without CR after length", DefaultLimits, "*1\r\n$3\nGET\r\n", 6, "invalid bulk length"},
		{"CR then not LF after length", DefaultLimits, "*1\r\n$3\rxGET\r\n", 7, "invalid bulk length"},
		{"count over MaxArgs", smallLimits, "*9\r\n", 3, "invalid multibulk length"},
		{"count over default MaxArgs", DefaultLimits, "*1048577\r\n", 9, "invalid multibulk length"},
		{"count 2^63", DefaultLimits, "*9223372036854775808\r\n", 19, "invalid multibulk length"},
		{"count 20 nines", DefaultLimits, "*99999999999999999999\r\n", 19, "invalid multibulk length"},
		{"count zero", DefaultLimits, "*0\r\n", 3, "invalid multibulk length"},
		{"count negative", DefaultLimits, "*-1\r\n", 4, "invalid multibulk length"},
		{"count empty", DefaultLimits, "*\r\n", 2, "invalid multibulk length"},
		{"count letter", DefaultLimits, "*x\r\n", 1, "invalid multibulk length"},
		{"count LF without CR", DefaultLimits, "*1\n$4\r\nPING\r\n", 2, "invalid multibulk length"},
		{"dollar missing", DefaultLimits, "*1\r\n4\r\nPING\r\n", 4, "expected '$', got '4'"},
		{"colon instead of dollar", DefaultLimits, "*1\r\n:4\r\n", 4, "expected '$', got ':'"},
		{"control byte instead of dollar", DefaultLimits, "*1\r\n\x00", 4, "expected '$', got '\\x0'"},
		{"payload longer than length", DefaultLimits, "*1\r\n$3\r\nPINGX\r\n", 11, "invalid bulk length"},
		{"payload without CRLF", DefaultLimits, "*1\r\n$4\r\nPINGxx", 12, "invalid bulk length"},
		{"payload CR then not LF", DefaultLimits, "*1\r\n$4\r\nPING\rx", 13, "invalid bulk length"},
		{"inline longer than MaxInlineBytes", smallLimits, strings.Repeat("x", 40) + "\r\n", 32, "too big inline request"},
		{"inline without newline", smallLimits, "SET k " + strings.Repeat("v", 100), 32, "too big inline request"},
		{"inline quote left open", DefaultLimits, "SET \"k v\r\n", 9, "unbalanced quotes in request"},
		{"inline quote inside a word", DefaultLimits, "SET a\"b\" v\r\n", 5, "unbalanced quotes in request"},
		{"inline text after a closing quote", DefaultLimits, "SET \"a\"b v\r\n", 7, "unbalanced quotes in request"},
		{"inline CR after a closing quote", DefaultLimits, "SET \"a\"\rb\r\n", 8, "unbalanced quotes in request"},
		{"inline escaped closing quote", DefaultLimits, "SET 'a\\'\r\n", 9, "unbalanced quotes in request"},
		{"inline quote open at LF", DefaultLimits, "ECHO 'x\n", 7, "unbalanced quotes in request"},
		{"request over MaxRequest in one payload", Limits{MaxBulkLen: 1 << 20, MaxArgs: 8, MaxRequest: 128, MaxInlineBytes: 32},
			"*2\r\n$3\r\nSET\r\n$200\r\n" + strings.Repeat("v", 200) + "\r\n", 128, "request too large"},
		{"request over MaxRequest in many args", Limits{MaxBulkLen: 64, MaxArgs: 1000, MaxRequest: 128, MaxInlineBytes: 32},
			"*100\r\n" + strings.Repeat("$1\r\na\r\n", 100), 128, "request too large"},
		{"request over MaxRequest in length digits", Limits{MaxBulkLen: 64, MaxArgs: 8, MaxRequest: 32, MaxInlineBytes: 32},
			"*1\r\n$" + strings.Repeat("0", 40) + "1\r\nx\r\n", 32, "request too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(good + tc.bad)
			badAt := len(good) + tc.at
			for name, sizes := range splits(len(data), rng) {
				n, err := feedChunks(t, tc.lim, data, sizes)
				var pe *ProtocolError
				if !errors.As(err, &pe) || pe.Msg != tc.msg {
					t.Fatalf("%s: err %v, want Protocol error: %s", name, err, tc.msg)
				}
				// Good commands pass whole; nothing at or past the bad byte
				// ever reaches redcon. Fed byte by byte, the guard stops
				// exactly at it.
				if n < len(good) || n > badAt {
					t.Fatalf("%s: passed %d bytes, want between %d and %d", name, n, len(good), badAt)
				}
				if name == "bytewise" && n != badAt {
					t.Fatalf("bytewise: stopped at byte %d, want %d", n, badAt)
				}
			}
		})
	}
}

func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		respCmd("SET", "k", "v") + respCmd("GET", "k"),
		"PING\r\nECHO \"a b\"\r\n", "SET 'a\\' b' \"c\"\r\n", "SET \"k v\r\n", "SET a\"b\r\n",
		"*2\r\n$3\r\nGET\r\n$9223372036854775807\r\n",
		"*2\r\n$3\r\nGET\r\n$9999999999999999999\r\nabc",
		"*1\r\n$-1\r\n", "*0\r\n", "*-5\r\n", "*1\r\n:1\r\n", "*1\r\n$3\r\nabcd\r\n",
		"*9\r\n", strings.Repeat("x", 40), "\r\n\n*1\r\n$0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(0), false)
		f.Add([]byte(s), uint8(1), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, small bool) {
		lim := DefaultLimits
		if small {
			lim = smallLimits
		}
		size := int(chunk%16) + 1
		var sizes []int
		for n := 0; n < len(data); n += size {
			sizes = append(sizes, size)
		}
		whole, werr := feedChunks(t, lim, data, nil)
		chunked, cerr := feedChunks(t, lim, data, sizes)
		// Whether input is refused, and why, does not depend on how it
		// arrives; a stream that is not refused passes whole.
		if (werr == nil) != (cerr == nil) || (werr != nil && werr.Error() != cerr.Error()) {
			t.Fatalf("whole: %v, in %d-byte chunks: %v", werr, size, cerr)
		}
		if werr == nil && (whole != len(data) || chunked != len(data)) {
			t.Fatalf("no error but passed %d and %d of %d bytes", whole, chunked, len(data))
		}
		// What the guard passes, redcon parses without panicking and
		// without a protocol error of its own: the guard alone refuses
		// input, after the commands before the bad bytes have run.
		for _, n := range []int{whole, chunked} {
			if _, err := parseAll(data[:n]); err != nil {
				t.Fatalf("redcon refused %q that the guard passed: %v", data[:n], err)
			}
		}
	})
}

// failingListener fails its first accepts as a process out of file
// descriptors does, then hands out real connections.
type failingListener struct {
	net.Listener
	fails int
	calls int
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.calls++
	if l.calls <= l.fails {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// Accept backs off through failures instead of handing them to redcon,
// whose loop would call it again at once and spin a core.
func TestAcceptBacksOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fl := &failingListener{Listener: ln, fails: 6}
	var waits []time.Duration
	gl := &guardListener{Listener: fl, lim: func() Limits { return DefaultLimits },
		failed: func(err error, wait time.Duration) { waits = append(waits, wait) }}
	go func() {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second) // keep it open while Accept returns it
		}
	}()
	conn, err := gl.Accept()
	if err != nil {
		t.Fatalf("Accept through failures: %v", err)
	}
	conn.Close()
	want := []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 160 * time.Millisecond}
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	ln.Close()
	if _, err := gl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
}

// countingReader counts the reads redcon's parser makes: it parses a
// partial command again on each.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// A command trickled a few bytes at a time reaches redcon's parser a few
// times, not once per write: each parse of a partial command starts over,
// so a trickle used to cost the node time quadratic in the command's size.
func TestTrickledCommandParsedFewTimes(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	gc := &guardConn{Conn: server, g: guard{lim: DefaultLimits}}
	gc.authed.Store(true)
	var cmd bytes.Buffer
	const args = 20000
	fmt.Fprintf(&cmd, "*%d\r\n$4\r\nMSET\r\n", args+1)
	for i := range args {
		k := fmt.Sprint("k", i)
		fmt.Fprintf(&cmd, "$%d\r\n%s\r\n", len(k), k)
	}
	data := cmd.Bytes()
	go func() {
		for len(data) > 0 {
			n := min(64, len(data))
			if _, err := client.Write(data[:n]); err != nil {
				return
			}
			data = data[n:]
		}
	}()
	cr := &countingReader{r: gc}
	rd := redcon.NewReader(cr)
	got, err := rd.ReadCommand()
	if err != nil || len(got.Args) != args+1 {
		t.Fatalf("read %d args, %v", len(got.Args), err)
	}
	writes := (cmd.Len() + 63) / 64
	t.Logf("%d bytes in %d writes reached the parser in %d reads", cmd.Len(), writes, cr.reads)
	if cr.reads > 64 {
		t.Fatalf("%d reads for one command of %d bytes", cr.reads, cmd.Len())
	}
}
