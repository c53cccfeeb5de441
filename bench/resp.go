package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// respConn is a lean pipelining RESP2 client: commands are appended to a
// buffered writer, flushed together, and their replies are parsed and
// discarded without allocating. The load generator uses it so that the
// client, which shares the machine's cores with the servers, costs as
// little CPU as possible (see README.md: lean vs go-redis).
type respConn struct {
	c   net.Conn
	r   *bufio.Reader
	w   *bufio.Writer
	num []byte // scratch for integers
}

// replyError is an error reply (-ERR ...) from the server.
type replyError string

func (e replyError) Error() string { return string(e) }

func dialRESP(addr string, timeout time.Duration) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &respConn{c: c, r: bufio.NewReaderSize(c, 64<<10), w: bufio.NewWriterSize(c, 64<<10)}, nil
}

func (c *respConn) close() error { return c.c.Close() }

// send appends one command to the pipeline.
func (c *respConn) send(args ...[]byte) {
	c.header('*', len(args))
	for _, a := range args {
		c.header('$', len(a))
		c.w.Write(a)
		c.w.WriteString("\r\n")
	}
}

// sendStrings is send for string arguments (setup and admin commands).
func (c *respConn) sendStrings(args ...string) {
	c.header('*', len(args))
	for _, a := range args {
		c.header('$', len(a))
		c.w.WriteString(a)
		c.w.WriteString("\r\n")
	}
}

func (c *respConn) header(kind byte, n int) {
	c.num = append(c.num[:0], kind)
	c.num = strconv.AppendInt(c.num, int64(n), 10)
	c.num = append(c.num, '\r', '\n')
	c.w.Write(c.num)
}

func (c *respConn) flush() error { return c.w.Flush() }

// skip reads and discards one reply. A server error reply comes back as a
// replyError (the connection stays usable); nil tells whether the reply
// was a null bulk or null array.
func (c *respConn) skip() (null bool, err error) {
	line, err := c.line()
	if err != nil {
		return false, err
	}
	switch line[0] {
	case '+', ':':
		return false, nil
	case '-':
		return false, replyError(line[1:])
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return false, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return true, nil
		}
		_, err = c.r.Discard(n + 2)
		return false, err
	case '*':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return false, fmt.Errorf("bad array length %q", line)
		}
		if n < 0 {
			return true, nil
		}
		var firstErr error
		for range n {
			if _, err := c.skip(); err != nil {
				var re replyError
				if !errors.As(err, &re) {
					return false, err
				}
				if firstErr == nil {
					firstErr = err
				}
			}
		}
		return false, firstErr
	case '_':
		return true, nil
	}
	return false, fmt.Errorf("unexpected reply %q", line)
}

// line reads one CRLF-terminated line without the CRLF.
func (c *respConn) line() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("malformed reply line %q", line)
	}
	return line[:len(line)-2], nil
}

// value reads one reply as a Go value: string, int64, []any, nil or a
// replyError. For admin commands (INFO, ROLE...), not the hot path.
func (c *respConn) value() (any, error) {
	line, err := c.line()
	if err != nil {
		return nil, err
	}
	switch line[0] {
	case '+':
		return string(line[1:]), nil
	case '-':
		return nil, replyError(line[1:])
	case ':':
		return strconv.ParseInt(string(line[1:]), 10, 64)
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.value(); err != nil {
				var re replyError
				if !errors.As(err, &re) {
					return nil, err
				}
				out[i] = re
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}

// do sends one command and returns its reply as a value.
func (c *respConn) do(args ...string) (any, error) {
	c.sendStrings(args...)
	if err := c.flush(); err != nil {
		return nil, err
	}
	return c.value()
}

// respDo dials addr, runs one command and hangs up.
func respDo(addr string, timeout time.Duration, args ...string) (any, error) {
	c, err := dialRESP(addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	c.c.SetDeadline(time.Now().Add(timeout))
	return c.do(args...)
}

// infoFields reads one INFO section as a map of its fields.
func infoFields(addr, section string, timeout time.Duration) (map[string]string, error) {
	v, err := respDo(addr, timeout, "INFO", section)
	if err != nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("INFO %s: unexpected reply %T", section, v)
	}
	out := map[string]string{}
	for _, line := range strings.Split(s, "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
			out[k] = val
		}
	}
	return out, nil
}

func infoInt(m map[string]string, k string) int64 {
	n, _ := strconv.ParseInt(m[k], 10, 64)
	return n
}
