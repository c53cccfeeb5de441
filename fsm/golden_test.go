package fsm

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// TestGolden runs the command scripts in testdata/. Verbs:
//
//	run [now=MS] [db=N]     each line is a command; writes are applied as
//	                        their own log entry, reads go through Read
//	watch [db=N]            each line is a key to WATCH for the next exec
//	exec [now=MS] [db=N]    the lines are one MULTI/EXEC (atomic request)
//
// The output is the RESP reply with CRLF shown as a newline. Regenerate with
// go test ./fsm -run TestGolden -rewrite.
func TestGolden(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		g := &golden{f: New(), now: 1_000_000}
		datadriven.RunTest(t, path, g.run)
	})
}

type golden struct {
	f     *FSM
	index uint64
	now   int64
	conds []Cond
}

func (g *golden) run(t *testing.T, d *datadriven.TestData) string {
	db := 0
	for _, a := range d.CmdArgs {
		switch a.Key {
		case "now":
			n, err := strconv.ParseInt(a.Vals[0], 10, 64)
			if err != nil {
				d.Fatalf(t, "bad now: %v", err)
			}
			g.now = n
		case "db":
			db, _ = strconv.Atoi(a.Vals[0])
		default:
			d.Fatalf(t, "unknown argument %s", a.Key)
		}
	}
	var out []byte
	switch d.Cmd {
	case "run":
		for _, line := range lines(d.Input) {
			args := splitArgs(t, d, line)
			out = g.exec(db, args, out)
		}
	case "watch":
		for _, line := range lines(d.Input) {
			cd := g.f.Watch(db, g.now, []byte(line))
			g.conds = append(g.conds, cd)
			out = fmt.Appendf(out, "%s rev=%d\n", line, cd.Rev)
		}
	case "exec":
		req := Request{Atomic: true, Conds: g.conds}
		g.conds = nil
		for _, line := range lines(d.Input) {
			req.Ops = append(req.Ops, Op{DB: db, Args: splitArgs(t, d, line)})
		}
		g.index++
		out = append(out, g.f.Apply(g.index, &Entry{Now: g.now, Reqs: []Request{req}})[0]...)
	default:
		d.Fatalf(t, "unknown verb %s", d.Cmd)
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

func (g *golden) exec(db int, args [][]byte, out []byte) []byte {
	cmd := Lookup(args[0])
	if cmd != nil && cmd.IsWrite() {
		g.index++
		// Round-trip through the codec, as a real log entry would.
		e := &Entry{Now: g.now, Reqs: []Request{{Ops: []Op{{DB: db, Args: args}}}}}
		dec, err := DecodeEntry(e.Encode(nil))
		if err != nil {
			panic(err)
		}
		return append(out, g.f.Apply(g.index, dec)[0]...)
	}
	return g.f.Read(db, g.now, 42, args, out)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// splitArgs is a script line's arguments (testcluster.SplitArgs: as
// redis-cli splits them); a malformed line fails the block.
func splitArgs(t *testing.T, d *datadriven.TestData, line string) [][]byte {
	args, err := testcluster.SplitArgs(line)
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return args
}
