package server

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/statehouse/statehouse/fsm"
	"github.com/tidwall/redcon"
)

// fakeConn is a redcon.Conn that records what the server writes, so the
// dispatcher can be driven without a socket: the server's handle gets one
// command and takes the rest of the pipeline from ReadPipeline, as under
// redcon.
type fakeConn struct {
	out     bytes.Buffer
	w       *redcon.Writer
	ctx     any
	pending []redcon.Command
	closed  bool
	nc      net.Conn
}

func newFakeConn() *fakeConn {
	fc := &fakeConn{}
	fc.w = redcon.NewWriter(&fc.out)
	a, b := net.Pipe()
	b.Close()
	fc.nc = a
	return fc
}

func (fc *fakeConn) RemoteAddr() string                  { return "fake:1" }
func (fc *fakeConn) Close() error                        { fc.closed = true; fc.w.Flush(); return fc.nc.Close() }
func (fc *fakeConn) WriteError(msg string)               { fc.w.WriteError(msg) }
func (fc *fakeConn) WriteString(str string)              { fc.w.WriteString(str) }
func (fc *fakeConn) WriteBulk(bulk []byte)               { fc.w.WriteBulk(bulk) }
func (fc *fakeConn) WriteBulkString(bulk string)         { fc.w.WriteBulkString(bulk) }
func (fc *fakeConn) WriteInt(num int)                    { fc.w.WriteInt(num) }
func (fc *fakeConn) WriteInt64(num int64)                { fc.w.WriteInt64(num) }
func (fc *fakeConn) WriteUint64(num uint64)              { fc.w.WriteUint64(num) }
func (fc *fakeConn) WriteArray(count int)                { fc.w.WriteArray(count) }
func (fc *fakeConn) WriteNull()                          { fc.w.WriteNull() }
func (fc *fakeConn) WriteRaw(data []byte)                { fc.w.WriteRaw(data) }
func (fc *fakeConn) WriteAny(v any)                      { fc.w.WriteAny(v) }
func (fc *fakeConn) WriteBulkFrom(n int64, rb io.Reader) { fc.w.WriteBulkFrom(n, rb) }
func (fc *fakeConn) Context() any                        { return fc.ctx }
func (fc *fakeConn) SetContext(v any)                    { fc.ctx = v }
func (fc *fakeConn) SetReadBuffer(int)                   {}
func (fc *fakeConn) Detach() redcon.DetachedConn         { panic("statehouse never detaches") }
func (fc *fakeConn) NetConn() net.Conn                   { return fc.nc }
func (fc *fakeConn) PeekPipeline() []redcon.Command      { return fc.pending }
func (fc *fakeConn) ReadPipeline() []redcon.Command {
	p := fc.pending
	fc.pending = nil
	return p
}

var fuzzTable = newTable()

// fuzzCommands splits the fuzzer's bytes into commands (one per line) of
// arguments (split on spaces; empty arguments included), bounded so that
// one input stays cheap. Blocking commands (BLPOP...) are left out: one
// on an empty list would wait for ever for the reply this test expects
// (blocking_test.go tests them).
func fuzzCommands(data []byte) [][][]byte {
	var cmds [][][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(cmds) == 32 {
			break
		}
		args := bytes.Split(line, []byte(" "))
		if c := fuzzTable.Lookup(args[0]); c != nil && c.Flags&fsm.FlagBlocking != 0 {
			continue
		}
		if len(args) > 64 {
			args = args[:64]
		}
		cmds = append(cmds, args)
	}
	return cmds
}

// expectedReplies is how many replies the commands get: one each, up to
// and including a QUIT, after which the connection is closed.
func expectedReplies(cmds [][][]byte) (int, bool) {
	for i, c := range cmds {
		if strings.EqualFold(string(c[0]), "quit") {
			return i + 1, true
		}
	}
	return len(cmds), false
}

// mayCloseItself reports whether a command may close its own connection
// (CLIENT KILL matches addresses and ids, its own included).
func mayCloseItself(cmds [][][]byte) bool {
	for _, c := range cmds {
		if len(c) > 1 && strings.EqualFold(string(c[0]), "client") && strings.EqualFold(string(c[1]), "kill") {
			return true
		}
	}
	return false
}

// resetConfig undoes what CONFIG SET in an earlier input changed.
func resetConfig(s *Server) {
	pw := ""
	s.password.Store(&pw)
	s.maxClients.Store(10000)
	lim := DefaultLimits
	s.limits.Store(&lim)
}

func FuzzDispatch(f *testing.F) {
	for _, seed := range []string{
		"PING",
		"SET k v\nGET k\nDEL k\nGET k",
		"SET  \nGET \nDEL  ",
		"MULTI\nSET a 1\nGET a\nSELECT 3\nPING x\nEXEC",
		"MULTI\nSET a\nFOO\nEXEC\nEXEC",
		"WATCH a b\nMULTI\nSET a 2\nDISCARD\nUNWATCH\nEXEC",
		"SELECT 15\nSET k v\nSELECT 16\nSELECT -1\nSELECT x\nGET k",
		"HELLO\nHELLO 2 SETNAME n AUTH default x\nHELLO 3\nHELLO x y",
		"AUTH x\nAUTH a b\nCONFIG SET requirepass pw\nRESET\nGET k\nAUTH pw\nGET k",
		"CLIENT ID\nCLIENT SETNAME a\nCLIENT GETNAME\nCLIENT LIST\nCLIENT INFO\nCLIENT LIST ID 1 2\nCLIENT KILL ID 999999\nCLIENT foo",
		"CLIENT SETINFO lib-name x\nCLIENT HELP\nCLIENT KILL 1.2.3.4:5\nCLIENT KILL SKIPME no ID 1",
		"COMMAND COUNT\nCOMMAND INFO get nosuch\nCOMMAND DOCS set\nCOMMAND GETKEYS del a b\nCOMMAND GETKEYS ping x\nCOMMAND HELP",
		"CONFIG GET *\nCONFIG SET maxclients 5 maxclients 6\nCONFIG SET proto-max-bulk-len 1kb\nCONFIG RESETSTAT\nCONFIG SET nosuch 1",
		"INFO\nINFO keyspace\nINFO server clients nosuch\nTIME\nREADONLY\nREADWRITE",
		"statehouse.reap k 1\nFOO bar\n\n ",
		"ECHO\nECHO a b\nPING a b\nGET\nQUIT\nPING",
		"SET a 1\nSET b 2\nGET a\nMULTI\nWATCH x\nMULTI\nEXEC x\nEXEC",
		"BGSAVE\nSAVE",
		"SET s v EX 10 NX GET\nGETEX s PERSIST\nINCRBYFLOAT n 1.5\nSETRANGE s 3 xyz\nGETRANGE s 0 -1\nMSET a 1 b 2\nMGET a b c\nLCS a b",
		"EXPIRE a 10 NX\nPEXPIREAT a 1 GT\nTTL a\nRENAME a b\nCOPY b c DB 2 REPLACE\nSCAN 0 MATCH * COUNT 5 TYPE string\nKEYS *\nRANDOMKEY\nFLUSHDB ASYNC",
		"HSET h f v g w\nHINCRBYFLOAT h n 0.1\nHRANDFIELD h -5 WITHVALUES\nHSCAN h 0 MATCH f*\nHGETALL h\nHDEL h f g n",
		"SADD s a b c\nSMISMEMBER s a x\nSSCAN s 0 COUNT 1\nSREM s a b c\nSCARD s\nWAIT 0 0\nROLE",
		"CLUSTER SLOTS\nCLUSTER NODES\nCLUSTER SHARDS\nCLUSTER INFO\nCLUSTER MYID\nCLUSTER KEYSLOT {a}b\nCLUSTER HELP\nCLUSTER",
		"CLUSTER COUNTKEYSINSLOT 99999\nCLUSTER GETKEYSINSLOT 1 9223372036854775807\nCLUSTER GETKEYSINSLOT x -1\nREADONLY\nSET a 1\nMULTI\nSET b 2\nCLUSTER SLOTS\nEXEC",
		"RPUSH l a b c\nLPOP l 2\nLPOS l c RANK -1 COUNT 0\nLMPOP 1 l RIGHT COUNT 9\nLINSERT l BEFORE a b\nPING",
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	n := startNode(f, withNoSync())
	s := n.srv
	f.Fuzz(func(t *testing.T, data []byte, pipelined bool) {
		cmds := fuzzCommands(data)
		want, quits := expectedReplies(cmds)
		resetConfig(s)

		// Straight through the dispatcher.
		fc := newFakeConn()
		if !s.accept(fc) {
			t.Fatalf("fake connection refused")
		}
		var rc []redcon.Command
		for _, c := range cmds {
			rc = append(rc, redcon.Command{Args: c})
		}
		if pipelined {
			fc.pending = rc[1:]
			s.handle(fc, rc[0])
		} else {
			for _, c := range rc {
				if fc.closed {
					break
				}
				s.handle(fc, c)
			}
		}
		fc.w.Flush()
		s.closed(fc, nil)
		if quits != fc.closed {
			t.Fatalf("QUIT sent: %v; connection closed: %v", quits, fc.closed)
		}
		r := bufio.NewReader(&fc.out)
		for i := 0; i < want; i++ {
			if v, err := readValue(r); err != nil {
				t.Fatalf("reply %d of %d to %q: %q, %v", i+1, want, cmds, v, err)
			}
		}
		if rest, _ := io.ReadAll(r); len(rest) > 0 {
			t.Fatalf("%d commands got more than %d replies; extra: %q", len(cmds), want, rest)
		}

		// Over a socket, through the guard and redcon, one write. RESET
		// at the end gets +RESET unless something before it replied more
		// than once (or QUIT closed the connection).
		resetConfig(s)
		c, err := net.Dial("tcp", n.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		var req []byte
		for _, cmd := range cmds {
			args := make([]string, len(cmd))
			for i, a := range cmd {
				args[i] = string(a)
			}
			req = append(req, encode(args...)...)
		}
		req = append(req, encode("RESET")...)
		c.SetDeadline(time.Now().Add(hangGuard))
		go c.Write(req) // the node may close before reading it all
		br := bufio.NewReader(c)
		for i := 0; i < want; i++ {
			if v, err := readValue(br); err != nil {
				if mayCloseItself(cmds) && v == "" && err == io.EOF {
					return
				}
				t.Fatalf("socket: reply %d of %d to %q: %q, %v", i+1, want, cmds, v, err)
			}
		}
		if quits {
			if b, err := br.ReadByte(); err == nil {
				t.Fatalf("socket: a byte %q after QUIT's reply", b)
			}
			return
		}
		if v, err := readValue(br); v != "+RESET\r\n" {
			if mayCloseItself(cmds) && v == "" && err == io.EOF {
				return
			}
			t.Fatalf("socket: after %d replies to %q, got %q, %v; want +RESET", want, cmds, v, err)
		}
	})
}
