package server

import (
	"errors"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what one client may send. redcon parses without limits (a
// bulk length near 2^63 overflows it), so the guard checks the RESP framing
// of every byte before redcon sees it.
type Limits struct {
	MaxBulkLen     int64 // largest bulk string ($N), as proto-max-bulk-len
	MaxArgs        int64 // most arguments in one command (*N)
	MaxRequest     int64 // most bytes in one command, as client-query-buffer-limit
	MaxInlineBytes int   // longest inline (non-RESP) command line
}

// DefaultLimits are Redis's defaults where Redis has one, but for the
// bulk length: Redis's 512 MiB is far more than one log entry may hold
// (cluster.MaxEntryBytes, 32 MiB), so the default keeps any one value well
// inside an entry. A write larger than an entry in all (an MSET of several
// large values, or a larger proto-max-bulk-len) is refused with -ERR.
var DefaultLimits = Limits{
	MaxBulkLen:     16 << 20,
	MaxArgs:        1 << 20,
	MaxRequest:     1 << 30,
	MaxInlineBytes: 64 << 10,
}

// Redis 7's limits for a client that has not authenticated: a few
// arguments and small bulks, so a stranger's command costs the node little
// memory (Redis: "Protocol error: unauthenticated multibulk length").
const (
	unauthMaxArgs    = 10
	unauthMaxBulkLen = 16 << 10
)

// Hard ceilings that hold whatever the limits are configured to: redcon
// computes offset+length+2 in an int and loops over the argument count on
// every read, so neither may come near the integer range.
const (
	hardMaxLen  = 1 << 50
	hardMaxArgs = math.MaxInt32
)

// ProtocolError is a violation of the RESP framing or of the limits. The
// client gets "-ERR Protocol error: ..." and the connection closes.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// guard is a streaming RESP framing checker. Feed returns how many bytes of
// p are safe to hand on, and an error once the stream is bad.
type guard struct {
	lim   Limits
	state int
	num   int64 // number being parsed
	digs  int   // digits (and sign) seen for num
	neg   bool
	args  int64 // bulks left in this command
	skip  int64 // payload bytes (plus CRLF) left to skip
	size  int64 // bytes in the current command so far
	line  int   // bytes in the current inline line
	quote quoteState
	qch   byte // the quote character of an open quote
	err   error
	// unauth applies the limits for a client that has not authenticated,
	// and makes feed stop after the first whole command, so that the
	// command (AUTH, say) runs before the guard judges what follows it.
	unauth bool
}

// quoteState follows redcon's inline parser through quoted arguments, so
// the guard refuses an unbalanced quote itself. redcon would refuse it too,
// but after dropping, unanswered, the commands it had already parsed from
// the same read.
type quoteState uint8

const (
	qStart    quoteState = iota // at the start of an argument
	qPlain                      // inside an unquoted argument
	qQuoted                     // inside a quoted argument
	qEscape                     // after a backslash inside quotes
	qClosed                     // after the closing quote: a space or the end must follow
	qClosedCR                   // after the closing quote and a CR: the end must follow
)

// inlineByte moves the quote state over one byte of an inline line (not
// its LF) and reports whether the line can still be a valid one.
func (g *guard) inlineByte(c byte) bool {
	switch g.quote {
	case qStart, qPlain:
		switch {
		case c == ' ':
			g.quote = qStart
		case c == '"' || c == '\'':
			if g.quote == qPlain {
				return false // redcon takes a quote only at the start of an argument
			}
			g.quote, g.qch = qQuoted, c
		default:
			g.quote = qPlain
		}
	case qQuoted:
		if c == '\\' {
			g.quote = qEscape
		} else if c == g.qch {
			g.quote = qClosed
		}
	case qEscape:
		g.quote = qQuoted
	case qClosed:
		switch c {
		case ' ':
			g.quote = qStart
		case '\r': // fine if it is the line's CR
			g.quote = qClosedCR
		default:
			return false
		}
	case qClosedCR:
		return false
	}
	return true
}

// inlineEnd reports whether an inline line may end here (at its LF).
func (g *guard) inlineEnd() bool {
	ok := g.quote != qQuoted && g.quote != qEscape
	g.quote = qStart
	return ok
}

const (
	gStart     = iota // expecting the start of a command
	gInline           // inside an inline command line
	gCount            // inside "*<count>"
	gCountLF          // after CR of the count line
	gBulkStart        // expecting '$'
	gBulkLen          // inside "$<len>"
	gBulkLenLF        // after CR of the length line
	gPayload          // skipping the payload
	gPayloadCR        // expecting the CR after the payload
	gPayloadLF        // expecting the LF after the payload
)

func (g *guard) fail(msg string) int {
	g.err = &ProtocolError{Msg: msg}
	return 0
}

// feed checks p and returns the length of the prefix that is well formed.
func (g *guard) feed(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if g.state != gStart {
			g.size++
			if g.size > g.lim.MaxRequest {
				g.fail("request too large")
				return i, g.err
			}
		}
		switch g.state {
		case gStart:
			g.size = 1
			if c == '*' {
				g.state, g.num, g.digs, g.neg = gCount, 0, 0, false
			} else {
				g.state, g.line, g.quote = gInline, 1, qStart
				if c == '\n' {
					g.state = gStart
				} else if !g.inlineByte(c) {
					g.fail("unbalanced quotes in request")
					return i, g.err
				}
			}
		case gInline:
			g.line++
			if c == '\n' {
				g.state = gStart
				if !g.inlineEnd() {
					g.fail("unbalanced quotes in request")
					return i, g.err
				}
				if g.unauth {
					return i + 1, nil
				}
			} else if g.line > g.lim.MaxInlineBytes {
				g.fail("too big inline request")
				return i, g.err
			} else if !g.inlineByte(c) {
				g.fail("unbalanced quotes in request")
				return i, g.err
			}
		case gCount, gBulkLen:
			switch {
			case c == '\r':
				if g.state == gCount {
					g.state = gCountLF
				} else {
					g.state = gBulkLenLF
				}
			case c == '-' && g.digs == 0:
				g.neg = true
				g.digs++
			case c >= '0' && c <= '9' && g.num <= (math.MaxInt64-int64(c-'0'))/10:
				// The bound keeps num from wrapping: a length of 2^63 or
				// more is refused here, never turned negative.
				g.num = g.num*10 + int64(c-'0')
				g.digs++
			default:
				if g.state == gCount {
					g.fail("invalid multibulk length")
				} else {
					g.fail("invalid bulk length")
				}
				return i, g.err
			}
		case gCountLF:
			if c != '\n' || g.neg || g.num <= 0 || g.digs == 0 || g.num > g.lim.MaxArgs || g.num > hardMaxArgs {
				g.fail("invalid multibulk length")
				return i, g.err
			}
			if g.unauth && g.num > unauthMaxArgs {
				g.fail("unauthenticated multibulk length")
				return i, g.err
			}
			g.args = g.num
			g.state = gBulkStart
		case gBulkStart:
			if c != '$' {
				g.fail("expected '$', got '" + printable(c) + "'")
				return i, g.err
			}
			g.state, g.num, g.digs, g.neg = gBulkLen, 0, 0, false
		case gBulkLenLF:
			if c != '\n' || g.neg || g.digs == 0 || g.num > g.lim.MaxBulkLen || g.num > hardMaxLen {
				g.fail("invalid bulk length")
				return i, g.err
			}
			if g.unauth && g.num > unauthMaxBulkLen {
				g.fail("unauthenticated bulk length")
				return i, g.err
			}
			g.skip = g.num
			g.state = gPayload
			if g.skip == 0 {
				g.state = gPayloadCR
			}
		case gPayload:
			// Skip the payload in one step.
			n := min(g.skip, int64(len(p)-i))
			g.size += n - 1
			if g.size > g.lim.MaxRequest {
				g.fail("request too large")
				return i, g.err
			}
			g.skip -= n
			i += int(n) - 1
			if g.skip == 0 {
				g.state = gPayloadCR
			}
		case gPayloadCR:
			if c != '\r' {
				g.fail("invalid bulk length")
				return i, g.err
			}
			g.state = gPayloadLF
		case gPayloadLF:
			if c != '\n' {
				g.fail("invalid bulk length")
				return i, g.err
			}
			g.args--
			if g.args == 0 {
				g.state = gStart
				if g.unauth {
					return i + 1, nil
				}
			} else {
				g.state = gBulkStart
			}
		}
	}
	return len(p), nil
}

func printable(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return string(c)
	}
	return "\\x" + strconv.FormatUint(uint64(c), 16)
}

// guardConn checks every byte read from the client. On a violation it
// answers with the protocol error itself and reports EOF, so redcon closes
// the connection without parsing the bad bytes.
type guardConn struct {
	net.Conn
	g       guard
	pending error
	once    sync.Once
	// authed is the connection's: until it is set, the unauthenticated
	// limits apply, and commands are handed on one at a time.
	authed atomic.Bool
	held   []byte // read but not yet judged: what follows an unauthenticated command
	rerr   error  // the read error that came with held bytes
}

func (c *guardConn) Read(p []byte) (int, error) {
	if c.pending != nil {
		c.reject()
		return 0, c.pending
	}
	n := 0
	for {
		var m int
		var err error
		if len(c.held) > 0 {
			m = copy(p[n:], c.held)
			c.held = c.held[m:]
			if len(c.held) == 0 {
				err, c.rerr = c.rerr, nil
			}
		} else {
			m, err = c.Conn.Read(p[n:])
		}
		if m > 0 {
			c.g.unauth = !c.authed.Load()
			ok, gerr := c.g.feed(p[n : n+m])
			if gerr != nil {
				c.pending = gerr
				if n+ok == 0 {
					c.reject()
					return 0, gerr
				}
				return n + ok, nil // hand on the good commands first
			}
			if ok < m {
				// Stopped after an unauthenticated client's command: the
				// rest is judged once that command has run.
				c.held = append(append([]byte(nil), p[n+ok:n+m]...), c.held...)
				if err != nil {
					c.rerr, err = err, nil
				}
				return n + ok, nil
			}
			n += m
		}
		// Hand on at a command's end, with a full buffer, or with an error.
		// A command still arriving is read on: redcon parses a partial
		// command again on every read, so a client trickling one a few
		// bytes at a time would cost the node time quadratic in its size;
		// this way redcon sees it when its buffer fills (and doubles) or
		// when it is whole.
		if err != nil || m == 0 || n == len(p) || c.g.state == gStart {
			return n, err
		}
	}
}

func (c *guardConn) reject() {
	c.once.Do(func() {
		c.Conn.Write([]byte("-ERR " + c.pending.Error() + "\r\n"))
	})
}

// guardListener wraps every accepted connection in a guardConn.
type guardListener struct {
	net.Listener
	lim    func() Limits
	failed func(err error, wait time.Duration) // told of each failed accept
}

// How long Accept waits after a failure: doubling from the least to the
// most while failures last.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// Accept waits for the next client. When accepting fails (out of file
// descriptors, most often) it backs off, up to acceptBackoffMax, instead
// of returning the error: redcon would call Accept again at once, and the
// loop would spin a core while the condition lasts.
func (l *guardListener) Accept() (net.Conn, error) {
	var conn net.Conn
	var err error
	for wait := acceptBackoffMin; ; wait = min(2*wait, acceptBackoffMax) {
		conn, err = l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			break
		}
		if l.failed != nil {
			l.failed(err, wait)
		}
		time.Sleep(wait)
	}
	if err != nil {
		return nil, err
	}
	// Not yet authenticated: the server's accept callback, which runs
	// before the connection is first read, says otherwise.
	return &guardConn{Conn: conn, g: guard{lim: l.lim()}}, nil
}
