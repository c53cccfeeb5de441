package server

// The fsm's golden scripts, over a socket.

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// The fsm's golden scripts, replayed over a socket: what a client gets
// through the server (dispatch, arity checks, pipelines of writes, MULTI,
// WATCH) is byte for byte what the scripts say the fsm answers. A file is
// replayed up to its first block on the test clock (now=); keys.txt is
// left out, as its TTL replies depend on that clock from the start, and so
// is the block of seeded HRANDFIELD picks. Blocks left out answer their
// own expected output, so datadriven passes them unchanged.
//
// The scripts belong to fsm (go test ./fsm -run TestGolden -rewrite
// regenerates them); with -rewrite this test does nothing, so it can never
// write what a socket answered into fsm's files.
func TestKeyspaceGoldenOverSocket(t *testing.T) {
	if f := flag.Lookup("rewrite"); f != nil && f.Value.String() == "true" {
		t.Skip("-rewrite: fsm/testdata is rewritten by fsm's TestGolden only")
	}
	n, _ := ksNode(t)
	datadriven.Walk(t, "../fsm/testdata", func(t *testing.T, path string) {
		if filepath.Base(path) == "keys.txt" {
			t.Skip("keys.txt: its TTL replies depend on the test clock from the start")
		}
		rc := n.raw()
		rc.t = t // fail this file's subtest, not the parent, from its goroutine
		rc.expect("+OK\r\n", "FLUSHALL")
		g := &goldenSocket{rc: rc}
		datadriven.RunTest(t, path, g.handle)
		t.Logf("%s: %d blocks replayed", path, g.replayed)
	})
}

// goldenSocket replays one golden file over one connection.
type goldenSocket struct {
	rc       *rawClient
	replayed int  // blocks sent and compared
	clocked  bool // a block on the test clock (now=) was reached: not the rest
}

// handle runs one block, with the verbs and arguments of fsm's TestGolden:
// run, watch and exec, each with an optional db=N.
func (g *goldenSocket) handle(t *testing.T, d *datadriven.TestData) string {
	db := "0"
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "now":
			g.clocked = true
		case "db":
			db = a.Vals[0]
		default:
			d.Fatalf(t, "unknown argument %s", a.Key)
		}
	}
	if g.clocked || goldenRandom(d.Input) {
		return d.Expected
	}
	g.rc.expect("+OK\r\n", "SELECT", db)
	var out string
	switch d.Cmd {
	case "run":
		out = g.run(t, d)
	case "watch":
		return g.watch(d)
	case "exec":
		out = g.exec(t, d)
	default:
		d.Fatalf(t, "unknown verb %s", d.Cmd)
	}
	g.replayed++
	return strings.ReplaceAll(out, "\r\n", "\n")
}

// run sends the block's commands as one pipeline (consecutive writes share
// a log entry, as they do in fsm's script) and returns their replies.
func (g *goldenSocket) run(t *testing.T, d *datadriven.TestData) string {
	in := goldenLines(d.Input)
	var batch []byte
	for _, line := range in {
		batch = append(batch, encode(goldenArgs(t, d, line)...)...)
	}
	g.rc.write(batch)
	var out string
	for range in {
		out += g.rc.read()
	}
	return out
}

// watch WATCHes each line's key. The revisions the script prints are the
// fsm test's own log indexes, which a client never sees: the block answers
// its expected output once every WATCH has answered +OK.
func (g *goldenSocket) watch(d *datadriven.TestData) string {
	for _, key := range goldenLines(d.Input) {
		g.rc.expect("+OK\r\n", "WATCH", key)
	}
	return d.Expected
}

// exec sends the block's commands inside MULTI/EXEC and returns EXEC's
// reply.
func (g *goldenSocket) exec(t *testing.T, d *datadriven.TestData) string {
	g.rc.expect("+OK\r\n", "MULTI")
	for _, line := range goldenLines(d.Input) {
		g.rc.expect("+QUEUED\r\n", goldenArgs(t, d, line)...)
	}
	return g.rc.do("EXEC")
}

// goldenRandom reports whether a block is marked "# random": seeded picks
// that depend on the fsm test's own log indexes.
func goldenRandom(input string) bool {
	for _, l := range strings.Split(input, "\n") {
		if strings.TrimSpace(l) == "# random" {
			return true
		}
	}
	return false
}

// goldenLines is a block's commands: its non-blank lines that are not
// comments (fsm/golden_test.go's lines).
func goldenLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// goldenArgs is a line's arguments, as fsm's TestGolden splits them.
func goldenArgs(t *testing.T, d *datadriven.TestData, line string) []string {
	var args []string
	split, err := testcluster.SplitArgs(line)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	for _, a := range split {
		args = append(args, string(a))
	}
	return args
}
