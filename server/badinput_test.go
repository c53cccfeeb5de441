package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Bad input never hurts a node (ARCHITECTURE.md, rule 5): malformed RESP gets
// "-ERR Protocol error: ..." and that connection alone is closed; limits
// are enforced before the node buffers; nothing panics. A panic anywhere
// in the node fails the whole test binary.

// bystander is a client that must keep working whatever others send. The
// check it returns reports to the t it is given: the test's own, or the
// subtest's it runs in.
func bystander(t testing.TB, n *testNode) func(t testing.TB) {
	r := n.rawFor(t)
	r.expect("+OK\r\n", "SET", "bystander", "ok")
	i := 0
	return func(t testing.TB) {
		t.Helper()
		i++
		r := r.forTest(t)
		r.expect("+OK\r\n", "SET", "bystander", fmt.Sprint(i))
		r.expect(bulk(fmt.Sprint(i)), "GET", "bystander")
		n.rawFor(t).expect("+PONG\r\n", "PING") // and new clients get in
	}
}

func TestMalformedRESP(t *testing.T) {
	n := startNode(t)
	stillFine := bystander(t, n)
	for _, tc := range []struct {
		name, bad, msg string
	}{
		{"dollar missing", "*1\r\n:4\r\nPING\r\n", "expected '$', got ':'"},
		{"count zero", "*0\r\n", "invalid multibulk length"},
		{"count negative", "*-1\r\n", "invalid multibulk length"},
		{"count not a number", "*x\r\n", "invalid multibulk length"},
		{"count LF without CR", "*1\n", "invalid multibulk length"},
		{"bulk length not a number", "*1\r\n$x\r\n", "invalid bulk length"},
		{"bulk length negative", "*2\r\n$3\r\nGET\r\n$-1\r\n", "invalid bulk length"},
		{"bulk length 2^63-1", "*2\r\n$3\r\nGET\r\n$9223372036854775807\r\nabc", "invalid bulk length"},
		{"bulk length 2^63+", "*2\r\n$3\r\nGET\r\n$9999999999999999999\r\nabc", "invalid bulk length"},
		{"bulk length 20 digits", "*2\r\n$3\r\nGET\r\n$99999999999999999999\r\nabc", "invalid bulk length"},
		{"payload longer than its length", "*1\r\n$3\r\nPINGPING\r\n", "invalid bulk length"},
		{"payload without CRLF", "*1\r\n$4\r\nPING\n\n", "invalid bulk length"},
		{"count over max-args", "*1048577\r\n", "invalid multibulk length"},
		{"inline line too long", strings.Repeat("x", 70<<10), "too big inline request"},
		// Inline quoting as redcon parses it: refused by the guard, so the
		// commands before it in the same read still run.
		{"inline unbalanced quotes", "SET \"k v\r\n", "unbalanced quotes in request"},
		{"inline quote inside a word", "SET a\"b\" v\r\n", "unbalanced quotes in request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := n.rawFor(t)
			// Good commands in the same write are answered first.
			r.write([]byte("PING\r\n" + string(encode("SET", "good", tc.name)) + tc.bad))
			if got := r.read() + r.read(); got != "+PONG\r\n+OK\r\n" {
				t.Fatalf("good commands before the bad bytes: %q", got)
			}
			r.expectReply(errReply("ERR Protocol error: " + tc.msg))
			r.expectClosed()
			n.rawFor(t).expect(bulk(tc.name), "GET", "good")
			stillFine(t)
		})
	}
}

// expectReply reads the next reply and fails unless it is want.
func (rc *rawClient) expectReply(want string) {
	rc.t.Helper()
	if got := rc.read(); got != want {
		rc.t.Fatalf("got %q, want %q", got, want)
	}
}

func TestMillionArguments(t *testing.T) {
	n := startNode(t)
	stillFine := bystander(t, n)
	r := n.raw()
	for _, k := range []string{"a", "b", "c"} {
		r.expect("+OK\r\n", "SET", k, "v")
	}
	// DEL with 1,000,000 keys (7 MB): handled, and the three that exist
	// are deleted.
	const keys = 1_000_000
	var req bytes.Buffer
	fmt.Fprintf(&req, "*%d\r\n$3\r\nDEL\r\n", keys+1)
	req.WriteString(strings.Repeat("$1\r\nk\r\n", keys-3))
	req.WriteString("$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
	r.write(req.Bytes())
	r.expectReply(":3\r\n")
	r.expect("$-1\r\n", "GET", "a")
	stillFine(t)

	// One argument more than max-args is refused from its header alone.
	r2 := n.raw()
	r2.write(fmt.Appendf(nil, "*%d\r\n$3\r\nDEL\r\n", DefaultLimits.MaxArgs+1))
	r2.expectReply(errReply("ERR Protocol error: invalid multibulk length"))
	r2.expectClosed()
	stillFine(t)
}

func TestGiantRequest(t *testing.T) {
	header := "*2\r\n$3\r\nSET\r\n$1073741824\r\n" // a 1 GiB value

	// Default limits: 1 GiB is over proto-max-bulk-len (512 MB), refused
	// at the header.
	n := startNode(t)
	stillFine := bystander(t, n)
	r := n.raw()
	r.write([]byte(header + strings.Repeat("v", 4096)))
	r.expectReply(errReply("ERR Protocol error: invalid bulk length"))
	r.expectClosed()
	stillFine(t)

	// A bulk limit that lets it through: the request limit (1 MiB here)
	// stops it once that much has come, not after 1 GiB.
	const maxRequest = 1 << 20
	n2 := startNode(t, withLimits(Limits{MaxBulkLen: 2 << 30, MaxArgs: 1024, MaxRequest: maxRequest, MaxInlineBytes: 64 << 10}))
	stillFine2 := bystander(t, n2)
	r2 := n2.raw()
	sent := make(chan int64, 1)
	go func() {
		// Write until the node closes the connection; count what went.
		chunk := bytes.Repeat([]byte("v"), 64<<10)
		var total int64
		n, err := r2.c.Write([]byte(header))
		total += int64(n)
		for err == nil && total < 1<<30 {
			n, err = r2.c.Write(chunk)
			total += int64(n)
		}
		sent <- total
	}()
	r2.expectReply(errReply("ERR Protocol error: request too large"))
	r2.expectClosed()
	r2.c.Close()
	// What the client managed to write before the close is the limit plus
	// what the sockets buffer: nowhere near 1 GiB.
	if total := <-sent; total >= 256<<20 {
		t.Fatalf("client wrote %d bytes before the node refused the request", total)
	}
	stillFine2(t)
}

func TestBinaryKeysAndValues(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	c := n.client()
	r := n.raw()

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	rev := make([]byte, 256)
	for i := range rev {
		rev[i] = byte(255 - i)
	}
	seed := rand.Uint64()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	pairs := []struct{ key, val string }{
		{string(all), string(rev)},
		{string(rev), string(all)},
		{"", ""},
		{"empty-value", ""},
		{"crlf\r\nin\r\nkey", "crlf\r\nin\r\nvalue\r\n"},
		{"resp-looking", "*1\r\n$4\r\nPING\r\n"},
		{"\x00", "\x00\x00"},
		{"\r\n", "\n\r"},
		{"big", string(big)},
	}
	for i := 0; i < 256; i++ {
		pairs = append(pairs, struct{ key, val string }{"byte-" + string(rune('A'+i%26)) + string([]byte{byte(i)}), string([]byte{byte(i)})})
	}
	for _, p := range pairs {
		r.expect("+OK\r\n", "SET", p.key, p.val)
		r.expect(bulk(p.val), "GET", p.key) // byte for byte on the wire
		if v, err := c.Get(ctx, p.key).Result(); err != nil || v != p.val {
			t.Fatalf("go-redis GET %q: %d bytes, %v", p.key, len(v), err)
		}
	}
	// Written by go-redis in a pipeline, read back by the raw client.
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 256; i++ {
			p.Set(ctx, string([]byte{byte(i), 0, byte(i)}), string(all[i:]), 0)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("binary pipeline: %v", err)
	}
	for i := 0; i < 256; i++ {
		r.expect(bulk(string(all[i:])), "GET", string([]byte{byte(i), 0, byte(i)}))
	}
	r.expect(":1\r\n", "DEL", "")
	r.expect("$-1\r\n", "GET", "")
}

func TestUnknownCommandsDoNotHurt(t *testing.T) {
	n := startNode(t)
	stillFine := bystander(t, n)
	r := n.raw()
	args := []string{"\x00\xff\r\nname"}
	for i := 0; i < 1000; i++ {
		args = append(args, strings.Repeat("a", i%300))
	}
	if got := r.do(args...); !strings.HasPrefix(got, "-ERR unknown command '', with args beginning with: '") {
		t.Fatalf("unknown binary command: %q", got)
	}
	// Inline commands, known and unknown, as telnet sends them.
	r.write([]byte("FOO bar baz\r\nSET inline \"two words\"\r\nGET inline\r\nPING\n"))
	for _, want := range []string{
		errReply("ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' "), "+OK\r\n", bulk("two words"), "+PONG\r\n",
	} {
		r.expectReply(want)
	}
	for i := 0; i < 100; i++ {
		r.expect(errReply(fmt.Sprintf("ERR unknown command 'cmd%d', with args beginning with: ", i)), fmt.Sprintf("cmd%d", i))
	}
	stillFine(t)
}

func TestClientDisconnectsMidCommand(t *testing.T) {
	n := startNode(t)
	stillFine := bystander(t, n)
	check := n.raw()

	hangUp := func(b []byte) {
		t.Helper()
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(b)
		c.Close()
	}
	// Cut inside each part of a command: it never runs.
	full := encode("SET", "cut", "value")
	for i := 1; i < len(full); i++ {
		hangUp(full[:i])
	}
	// Cut inside a large bulk, and inside a long argument list.
	hangUp([]byte("*3\r\n$3\r\nSET\r\n$3\r\ncut\r\n$1000000\r\n" + strings.Repeat("v", 300_000)))
	hangUp([]byte("*100000\r\n$3\r\nDEL\r\n" + strings.Repeat("$3\r\ncut\r\n", 50_000)))
	// Inside MULTI: the queued write never runs.
	hangUp(append(append(encode("MULTI"), encode("SET", "cut", "in-multi")...), encode("SET", "cut2", "x")[:10]...))
	check.expect("$-1\r\n", "GET", "cut")
	stillFine(t)

	// Hang up with replies unread: a pipeline of writes and reads.
	var pipe []byte
	for i := 0; i < 500; i++ {
		pipe = append(pipe, encode("SET", fmt.Sprint("unread", i), "v")...)
		pipe = append(pipe, encode("GET", fmt.Sprint("unread", i))...)
	}
	for i := 0; i < 5; i++ {
		hangUp(pipe)
	}
	stillFine(t)

	// Half-close after a whole command: it is answered, then the node
	// closes too.
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.write(encode("SET", "half", "closed"))
	c.(*net.TCPConn).CloseWrite()
	rc.expectReply("+OK\r\n")
	rc.expectClosed()
	check.expect(bulk("closed"), "GET", "half")
	stillFine(t)
}
