package server

// The fsm's golden scripts, over a socket.

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// goldenBlock is one directive of an fsm/testdata script.
type goldenBlock struct {
	line   int
	verb   string   // run, watch, exec
	args   []string // key=value
	input  []string
	want   string
	random bool // the input is marked "# random": seeded picks
}

// readGolden parses a datadriven file: a directive line, input lines,
// "----", then the expected output up to a blank line (or, after a
// doubled "----", up to a doubled "----").
func readGolden(t *testing.T, path string) []goldenBlock {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var blocks []goldenBlock
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		b := goldenBlock{line: i + 1, verb: fields[0], args: fields[1:]}
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			if in := strings.TrimSpace(lines[i]); strings.HasPrefix(in, "#") {
				b.random = b.random || in == "# random"
			} else if in != "" {
				b.input = append(b.input, in)
			}
		}
		var want []string
		if i+1 < len(lines) && lines[i+1] == "----" {
			for i += 2; i+1 < len(lines) && !(lines[i] == "----" && lines[i+1] == "----"); i++ {
				want = append(want, lines[i])
			}
			i++
		} else {
			for i++; i < len(lines) && lines[i] != ""; i++ {
				want = append(want, lines[i])
			}
		}
		b.want = strings.Join(want, "\n")
		blocks = append(blocks, b)
	}
	return blocks
}

// goldenArgs splits a script line as redis-cli (and fsm's golden test)
// does: "double" quotes with \n \r \t \xHH escapes, 'single' quotes literal.
func goldenArgs(line string) []string {
	var args []string
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		var cur []byte
		switch line[i] {
		case '"':
			for i++; i < len(line) && line[i] != '"'; i++ {
				if line[i] == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'x':
						v, _ := strconv.ParseUint(line[i+1:i+3], 16, 8)
						cur = append(cur, byte(v))
						i += 2
					default:
						cur = append(cur, line[i])
					}
					continue
				}
				cur = append(cur, line[i])
			}
			i++
		case '\'':
			for i++; i < len(line) && line[i] != '\''; i++ {
				cur = append(cur, line[i])
			}
			i++
		default:
			for ; i < len(line) && line[i] != ' '; i++ {
				cur = append(cur, line[i])
			}
		}
		args = append(args, string(cur))
	}
	return args
}

// The fsm's golden scripts, replayed over a socket: what a client gets
// through the server (dispatch, arity checks, pipelines of writes, MULTI,
// WATCH) is byte for byte what the scripts say the fsm answers. A file is
// replayed up to its first block on the test clock (now=); keys.txt is
// left out, as its TTL replies depend on that clock from the start, and so
// is the block of seeded HRANDFIELD picks.
func TestKeyspaceGoldenOverSocket(t *testing.T) {
	n, _ := ksNode(t)
	for _, file := range []string{"basics", "strings", "hashes", "sets"} {
		t.Run(file, func(t *testing.T) {
			path := "../fsm/testdata/" + file + ".txt"
			blocks := readGolden(t, path)
			rc := n.raw()
			rc.expect("+OK\r\n", "FLUSHALL")
			replayed := 0
		blocks:
			for _, b := range blocks {
				db := "0"
				for _, a := range b.args {
					k, v, _ := strings.Cut(a, "=")
					switch k {
					case "now":
						break blocks
					case "db":
						db = v
					}
				}
				if b.random {
					continue
				}
				rc.expect("+OK\r\n", "SELECT", db)
				var got string
				switch b.verb {
				case "run":
					var batch []byte
					for _, in := range b.input {
						batch = append(batch, encode(goldenArgs(in)...)...)
					}
					rc.write(batch) // as one pipeline: consecutive writes share a log entry
					for range b.input {
						got += rc.read()
					}
				case "watch":
					for _, in := range b.input {
						rc.expect("+OK\r\n", "WATCH", in)
					}
					continue // the revisions it prints are the test's own log indexes
				case "exec":
					rc.expect("+OK\r\n", "MULTI")
					for _, in := range b.input {
						rc.expect("+QUEUED\r\n", goldenArgs(in)...)
					}
					got = rc.do("EXEC")
				default:
					t.Fatalf("%s:%d: unknown verb %q", path, b.line, b.verb)
				}
				got = strings.TrimRight(strings.ReplaceAll(got, "\r\n", "\n"), "\n")
				if want := strings.TrimRight(b.want, "\n"); got != want {
					t.Errorf("%s:%d: over the socket:\n%s\nwant (golden):\n%s", path, b.line, got, want)
				}
				replayed++
			}
			t.Logf("%s: %d blocks replayed", path, replayed)
		})
	}
}
