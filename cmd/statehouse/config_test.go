package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "statehouse.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A config file sets what the command line and the environment leave
// unset: flag > environment twin > file > default.
func TestConfigFilePrecedence(t *testing.T) {
	path := writeConfig(t, `# statehouse.conf
port 7000

  Bind 127.0.0.2
data-dir "/var/lib/state house"
requirepass "p\x41ss \"quoted\""
cluster-secret 'it\'s'
max-staleness 2s
no-fsync yes
maxclients 10
maxclients 20
timeout 30
`)
	t.Setenv("STATEHOUSE_MAX_STALENESS", "3s")
	t.Setenv("STATEHOUSE_TIMEOUT", "40")
	t.Setenv("STATEHOUSE_VERSION", "true") // the command line's alone: no twin
	for _, args := range [][]string{
		{path, "--timeout", "50", "--port", "7001"},
		{"--timeout", "50", "--port", "7001", path},
	} {
		o, err := parseFlags(args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		got := fmt.Sprintf("%d %s %q %q %q %v %v %d %d %d %s",
			o.port, o.bind, o.dataDir, o.requirePass, o.clusterSecret, o.maxStaleness, o.noFsync, o.maxClients, o.timeout, o.peerPort, o.logLevel)
		want := fmt.Sprintf("%d %s %q %q %q %v %v %d %d %d %s",
			7001, "127.0.0.2", "/var/lib/state house", `pAss "quoted"`, "it's", 3*time.Second, true, 20, 50, 17001, "info")
		if got != want {
			t.Errorf("%q:\n got %s\nwant %s", args, got, want)
		}
	}
}

// Unknown names and values a setting refuses are errors naming the file
// and line, also for a line the command line overrides.
func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"port 1\nprot 6379\n", `:2: unknown setting "prot"`},
		{"port six\n", `:1: port "six": parse error`},
		{"no-fsync maybe\n", `:1: no-fsync "maybe"`},
		{"# fine\ntimeout -1\n", `:2: timeout must be 0 or more seconds, not -1`},
		{"follower-writes drop\n", `:1: follower-writes must be forward or refuse, not "drop"`},
		{"log-format xml\n", `:1: log-format must be text or json, not "xml"`},
		{"log-level loud\n", `:1: log-level: `},
		{"max-clock-skew 0s\n", `:1: max-clock-skew must be positive`},
		{"bind 127.0.0.1 ::1\n", `:1: bind takes one value, not 2`},
		{"port\n", `:1: port takes one value, not 0`},
		{"requirepass \"open\n", `:1: unbalanced quotes`},
		{"requirepass \"a\"b\n", `:1: closing quote must be followed by a space`},
		{"version yes\n", `:1: unknown setting "version"`},
		{"maxclients many\n", `:1: maxclients "many"`}, // overridden below, still checked
		{"maxmemory-policy lru\n", `:1: maxmemory-policy "lru": argument(s) must be one of the following: volatile-lru,`},
		{"maxmemory lots\n", `:1: maxmemory "lots": argument must be a memory value`},
	} {
		path := writeConfig(t, c.text)
		_, err := parseFlags([]string{"--maxclients", "5", path}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), path+c.want) {
			t.Errorf("%q: error %v, want %q", c.text, err, path+c.want)
		}
	}
	path := writeConfig(t, "proto-max-bulk-len big\n")
	o, err := parseFlags([]string{path}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(o, nil); err == nil || !strings.Contains(err.Error(), path+`:1: proto-max-bulk-len "big" is not a size`) {
		t.Errorf("a size the file got wrong: %v", err)
	}
	if _, err := parseFlags([]string{filepath.Join(t.TempDir(), "none.conf")}, io.Discard); err == nil || !strings.Contains(err.Error(), "none.conf") {
		t.Errorf("a missing config file: %v", err)
	}
	if _, err := parseFlags([]string{"a.conf", "b.conf"}, io.Discard); err == nil || !strings.Contains(err.Error(), "one config file at most") {
		t.Errorf("two config files: %v", err)
	}
	t.Setenv("STATEHOUSE_TIMEOUT", "-2")
	if _, err := parseFlags(nil, io.Discard); err == nil || !strings.HasPrefix(err.Error(), "STATEHOUSE_TIMEOUT must be") {
		t.Errorf("a bad value from the environment: %v", err)
	}
}

// Lines split as redis.conf's do (Redis's sdssplitargs).
func TestSplitConfigLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`port 6379`, []string{"port", "6379"}},
		{"a \t b", []string{"a", "b"}},
		{`requirepass ""`, []string{"requirepass", ""}},
		{`x "a b\n\t\x41\x4g\\\""`, []string{"x", "a b\n\tAx4g\\\""}},
		{`x 'a\'b\n'`, []string{"x", `a'b\n`}},
		{`x ab"c d"e`, nil}, // a closing quote must end the word
		{`x ab"c d"`, []string{"x", "abc d"}},
		{`x "open`, nil},
		{`x 'open`, nil},
	} {
		got, err := splitConfigLine(c.line)
		if c.want == nil {
			if err == nil {
				t.Errorf("%s: %q, want an error", c.line, got)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", c.want) {
			t.Errorf("%s: %q, %v; want %q", c.line, got, err, c.want)
		}
	}
}

// deploy/statehouse.conf reads as it is, and with every setting it leaves
// commented out put in.
func TestSampleConfig(t *testing.T) {
	const sample = "../../deploy/statehouse.conf"
	if _, err := parseFlags([]string{sample}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	commented := regexp.MustCompile(`(?m)^# ([a-z-]+ .*)$`)
	all := commented.ReplaceAllStringFunc(string(b), func(line string) string {
		name := strings.Fields(line)[1]
		if newFlagSet(&options{}).Lookup(name) == nil {
			return line // prose
		}
		return commented.ReplaceAllString(line, "$1")
	})
	if all == string(b) {
		t.Fatal("no commented-out settings found")
	}
	o, err := parseFlags([]string{writeConfig(t, all)}, io.Discard)
	if err != nil {
		t.Fatalf("%v\n%s", err, all)
	}
	if o.nodeID != "n1" || o.httpAddr != "127.0.0.1:8080" || o.peerPort != 16379 {
		t.Fatalf("commented-out settings not taken: %+v", o)
	}
}
