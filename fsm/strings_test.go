package fsm

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/statehouse/statehouse/internal/resp"
	"github.com/statehouse/statehouse/internal/testcluster"
	"github.com/tidwall/btree"
)

// --- helpers ------------------------------------------------------------------

type strTester struct {
	t     testing.TB
	f     *FSM
	index uint64
	now   int64
}

func newStrTester(t testing.TB) *strTester {
	return &strTester{t: t, f: New(), now: 1_000_000}
}

// do runs one command as the golden tests do: writes through Apply, reads
// through Read. It returns the RESP reply.
func (s *strTester) do(args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	if cmd := Lookup(argv[0]); cmd != nil && cmd.IsWrite() {
		s.index++
		e := &Entry{Now: s.now, Reqs: []Request{{Ops: []Op{{Args: argv}}}}}
		return string(s.f.Apply(s.index, e)[0])
	}
	return string(s.f.Read(0, s.now, 0, argv, nil))
}

func (s *strTester) expect(want string, args ...string) {
	s.t.Helper()
	if got := s.do(args...); got != want {
		s.t.Errorf("%q: got %q, want %q", args, got, want)
	}
}

// putHash stores a hash directly, so the string commands can be tested
// against a key of another type before the hash commands exist.
func (s *strTester) putHash(key string, deadline int64) {
	h := new(btree.Map[string, string])
	h.Set("f", "v")
	s.f.dbs[0].put(&item{key: key, kind: KindHash, hash: h, deadline: deadline, rev: 99})
}

const strWrongType = "-" + resp.ErrWrongType + "\r\n"

// --- WRONGTYPE ------------------------------------------------------------------

// TestStringsWrongType checks every string command against a hash, with the
// replies real Redis 7.0 gives (errors detected in the same order), and that
// a failed command leaves the hash alone.
func TestStringsWrongType(t *testing.T) {
	s := newStrTester(t)
	s.putHash("h", 0)
	notInt := "-" + resp.ErrNotInt + "\r\n"
	for _, tc := range []struct {
		want string
		args []string
	}{
		{strWrongType, []string{"GET", "h"}},
		{strWrongType, []string{"SET", "h", "v", "GET"}},
		{notInt, []string{"SET", "h", "v", "EX", "abc", "GET"}},
		{"-ERR invalid expire time in 'set' command\r\n", []string{"SET", "h", "v", "EX", "0", "GET"}},
		{"-ERR syntax error\r\n", []string{"SET", "h", "v", "GET", "FOO"}},
		{strWrongType, []string{"SET", "h", "v", "NX", "GET"}},
		{strWrongType, []string{"SET", "h", "v", "XX", "GET"}},
		{strWrongType, []string{"SET", "h", "v", "KEEPTTL", "GET"}},
		{strWrongType, []string{"GETEX", "h"}},
		{strWrongType, []string{"GETEX", "h", "EX", "abc"}},
		{strWrongType, []string{"GETEX", "h", "PERSIST"}},
		{"-ERR syntax error\r\n", []string{"GETEX", "h", "FOO"}},
		{strWrongType, []string{"GETDEL", "h"}},
		{strWrongType, []string{"GETSET", "h", "v"}},
		{"*1\r\n$-1\r\n", []string{"MGET", "h"}},
		{strWrongType, []string{"APPEND", "h", "x"}},
		{strWrongType, []string{"STRLEN", "h"}},
		{strWrongType, []string{"GETRANGE", "h", "0", "1"}},
		{strWrongType, []string{"SUBSTR", "h", "0", "1"}},
		{notInt, []string{"GETRANGE", "h", "a", "1"}},
		{strWrongType, []string{"SETRANGE", "h", "0", "x"}},
		{strWrongType, []string{"SETRANGE", "h", "0", ""}},
		{strWrongType, []string{"SETRANGE", "h", "536870912", "x"}},
		{"-ERR offset is out of range\r\n", []string{"SETRANGE", "h", "-1", "x"}},
		{strWrongType, []string{"INCR", "h"}},
		{strWrongType, []string{"DECR", "h"}},
		{strWrongType, []string{"INCRBY", "h", "1"}},
		{notInt, []string{"INCRBY", "h", "a"}},
		{strWrongType, []string{"DECRBY", "h", "1"}},
		{"-ERR decrement would overflow\r\n", []string{"DECRBY", "h", "-9223372036854775808"}},
		{strWrongType, []string{"INCRBYFLOAT", "h", "1"}},
		{strWrongType, []string{"INCRBYFLOAT", "h", "a"}},
		{":0\r\n", []string{"MSETNX", "h", "1", "x", "2"}},
		{":0\r\n", []string{"SETNX", "h", "1"}},
		{"$-1\r\n", []string{"SET", "h", "1", "NX"}},
		{"-ERR The specified keys must contain string values\r\n", []string{"LCS", "h", "x"}},
		{"-ERR The specified keys must contain string values\r\n", []string{"LCS", "x", "h", "FOO"}},
	} {
		s.expect(tc.want, tc.args...)
	}
	if it := s.f.dbs[0].raw("h"); it == nil || it.kind != KindHash || it.rev != 99 {
		t.Fatalf("hash changed by failed string commands: %+v", it)
	}
	if it := s.f.dbs[0].raw("x"); it != nil {
		t.Fatalf("MSETNX wrote x although h exists")
	}

	// Commands that overwrite regardless of type.
	s.putHash("h1", 0)
	s.expect("+OK\r\n", "SET", "h1", "v")
	s.expect("$1\r\nv\r\n", "GET", "h1")
	s.putHash("h2", 0)
	s.expect("+OK\r\n", "SET", "h2", "v", "XX")
	s.expect("$1\r\nv\r\n", "GET", "h2")
	s.putHash("h3", 0)
	s.expect("+OK\r\n", "SETEX", "h3", "10", "v")
	s.expect("$1\r\nv\r\n", "GET", "h3")
	s.putHash("h4", 0)
	s.expect("+OK\r\n", "MSET", "h4", "v")
	s.expect("$1\r\nv\r\n", "GET", "h4")
	s.putHash("h5", 0)
	s.expect("+OK\r\n", "PSETEX", "h5", "10", "v")
	s.expect("$1\r\nv\r\n", "GET", "h5")

	// SET KEEPTTL over a hash keeps the hash's TTL.
	s.putHash("h6", s.now+100_000)
	s.expect("+OK\r\n", "SET", "h6", "v", "KEEPTTL")
	if it := s.f.dbs[0].raw("h6"); it.kind != KindString || it.deadline != s.now+100_000 {
		t.Fatalf("SET KEEPTTL over a hash: %+v", it)
	}

	// An expired hash is no key at all.
	s.putHash("old", s.now-1)
	s.expect(":1\r\n", "INCR", "old")
	s.putHash("old2", s.now-1)
	s.expect("$-1\r\n", "SET", "old2", "v", "GET")
	s.expect("$1\r\nv\r\n", "GET", "old2")
}

// --- state checks that replies cannot show ---------------------------------------

func (s *strTester) item(key string) *item { return s.f.dbs[0].raw(key) }

// TestStringsTTLAndRevisions checks deadlines and the revision stamps WATCH
// relies on: a write that changes nothing must not stamp a revision.
func TestStringsTTLAndRevisions(t *testing.T) {
	s := newStrTester(t)
	s.expect("+OK\r\n", "SET", "k", "v", "EX", "10")
	if it := s.item("k"); it.deadline != s.now+10_000 || it.rev != 1 {
		t.Fatalf("SET EX: %+v", it)
	}
	rev := func(key string) uint64 { return s.f.WatchRev(0, s.now, []byte(key)) }

	// No-ops: nothing stamped.
	for _, args := range [][]string{
		{"SET", "k", "w", "NX"},
		{"SET", "missing", "w", "XX"},
		{"SETNX", "k", "w"},
		{"MSETNX", "k", "w", "other", "x"},
		{"GETEX", "k"},
		{"GETEX", "missing", "EX", "10"},
		{"SETRANGE", "k", "3", ""},
		{"SETRANGE", "missing", "3", ""},
		{"INCR", "k"}, // not an integer
		{"INCRBYFLOAT", "k", "x"},
		{"APPEND", "k", ""}, // Redis touches the key: see below
	} {
		before := rev("k")
		s.do(args...)
		if args[0] == "APPEND" {
			if rev("k") == before {
				t.Errorf("%q: Redis signals a modification, the revision must move", args)
			}
			continue
		}
		if rev("k") != before {
			t.Errorf("%q changed the revision of k", args)
		}
		if s.item("missing") != nil || s.item("other") != nil {
			t.Errorf("%q created a key", args)
		}
	}
	// GETEX PERSIST on a key without TTL does nothing; with a TTL it writes.
	s.expect("+OK\r\n", "SET", "p", "v")
	before := rev("p")
	s.do("GETEX", "p", "PERSIST")
	if rev("p") != before {
		t.Errorf("GETEX PERSIST without TTL moved the revision")
	}
	s.do("GETEX", "p", "EX", "5")
	if it := s.item("p"); it.deadline != s.now+5_000 || rev("p") == before {
		t.Errorf("GETEX EX: %+v", it)
	}
	before = rev("p")
	s.do("GETEX", "p", "PERSIST")
	if it := s.item("p"); it.deadline != 0 || rev("p") == before {
		t.Errorf("GETEX PERSIST: %+v", it)
	}

	// Writes that keep the TTL.
	for _, args := range [][]string{
		{"SET", "t", "5", "PX", "7000"},
		{"INCR", "t"},
		{"INCRBY", "t", "2"},
		{"DECR", "t"},
		{"DECRBY", "t", "2"},
		{"INCRBYFLOAT", "t", "1.5"},
		{"APPEND", "t", "0"},
		{"SETRANGE", "t", "0", "9"},
		{"SET", "t", "x", "KEEPTTL"},
		{"SET", "t", "x", "KEEPTTL", "GET"},
	} {
		s.do(args...)
		if it := s.item("t"); it.deadline != s.now+7000 {
			t.Errorf("%q: deadline %d, want %d", args, it.deadline, s.now+7000)
		}
	}
	// Writes that clear it.
	for _, args := range [][]string{
		{"SET", "t", "x"},
		{"GETSET", "t", "y"},
		{"MSET", "t", "z"},
		{"SET", "t", "x", "XX", "GET"},
	} {
		s.f.dbs[0].put(&item{key: "t", kind: KindString, str: "v", deadline: s.now + 7000})
		s.do(args...)
		if it := s.item("t"); it.deadline != 0 {
			t.Errorf("%q kept the deadline %d", args, it.deadline)
		}
		if s.f.dbs[0].ttls.Len() != 2-1 { // only k keeps its TTL
			t.Errorf("%q: deadline index holds %d entries", args, s.f.dbs[0].ttls.Len())
		}
	}

	// An absolute deadline in the past leaves no key behind.
	s.expect("+OK\r\n", "SET", "gone", "v", "PXAT", strconv.FormatInt(s.now-1, 10))
	if s.item("gone") != nil {
		t.Errorf("SET PXAT in the past stored the key")
	}
	// At the deadline itself the key is still visible (expired is now > deadline).
	s.expect("+OK\r\n", "SET", "edge", "v", "PXAT", strconv.FormatInt(s.now, 10))
	s.expect("$1\r\nv\r\n", "GET", "edge")
	// GETEX with a deadline at now deletes (Redis's checkAlreadyExpired).
	s.expect("$1\r\nv\r\n", "GETEX", "edge", "PXAT", strconv.FormatInt(s.now, 10))
	if s.item("edge") != nil {
		t.Errorf("GETEX PXAT now kept the key")
	}
}

// TestStringsSnapshotIsolation: writes must never change an item a snapshot
// (a copy of the tree) still holds.
func TestStringsSnapshotIsolation(t *testing.T) {
	s := newStrTester(t)
	s.do("SET", "a", "hello", "EX", "100")
	s.do("SET", "n", "10")
	s.do("SET", "f", "1.5")
	snap := s.f.dbs[0].copy()
	for _, args := range [][]string{
		{"APPEND", "a", "!!"}, {"SETRANGE", "a", "1", "E"}, {"GETEX", "a", "PERSIST"},
		{"INCR", "n"}, {"INCRBYFLOAT", "f", "1"}, {"SET", "a", "x", "KEEPTTL"},
		{"GETDEL", "n"}, {"GETSET", "f", "z"},
	} {
		s.do(args...)
	}
	for key, want := range map[string]string{"a": "hello", "n": "10", "f": "1.5"} {
		it := snap.raw(key)
		if it == nil || it.str != want {
			t.Errorf("snapshot %s = %+v, want %q", key, it, want)
		}
	}
	if it := snap.raw("a"); it.deadline != s.now+100_000 {
		t.Errorf("snapshot lost a's TTL")
	}
}

// TestStringsBinary: keys and values with NUL, CR, LF and high bytes.
func TestStringsBinary(t *testing.T) {
	s := newStrTester(t)
	key := "k\x00\r\n\xff"
	val := "\x00v\r\nal\xfe\x00"
	s.expect("+OK\r\n", "SET", key, val)
	s.expect("$"+strconv.Itoa(len(val))+"\r\n"+val+"\r\n", "GET", key)
	s.expect("$-1\r\n", "GET", "k")
	s.expect(":10\r\n", "APPEND", key, "\x00\x00")
	s.expect("$3\r\n\x00\x00\x00\r\n", "GETRANGE", key, "-3", "-1")
	s.expect(":10\r\n", "SETRANGE", key, "0", "\xff")
	s.expect("*2\r\n$10\r\n\xffv\r\nal\xfe\x00\x00\x00\r\n$-1\r\n", "MGET", key, key+"x")
	// SETRANGE and APPEND pad and append raw bytes.
	s.expect(":5\r\n", "SETRANGE", "pad", "3", "ab")
	s.expect("$5\r\n\x00\x00\x00ab\r\n", "GET", "pad")
	s.expect(":8\r\n", "SETRANGE", "pad", "7", "\x00")
	s.expect(":9\r\n", "APPEND", "pad", "\r")
	s.expect("$9\r\n\x00\x00\x00ab\x00\x00\x00\r\r\n", "GET", "pad")
}

// TestStringsCommandTable pins arity, flags and key positions to what
// Redis 7.0's COMMAND INFO reports.
func TestStringsCommandTable(t *testing.T) {
	want := map[string]string{
		"get":         "2 readonly,fast 1 1 1",
		"set":         "-3 write,denyoom 1 1 1",
		"setnx":       "3 write,denyoom,fast 1 1 1",
		"setex":       "4 write,denyoom 1 1 1",
		"psetex":      "4 write,denyoom 1 1 1",
		"getex":       "-2 write,fast 1 1 1",
		"getdel":      "2 write,fast 1 1 1",
		"getset":      "3 write,denyoom,fast 1 1 1",
		"mget":        "-2 readonly,fast 1 -1 1",
		"mset":        "-3 write,denyoom 1 -1 2",
		"msetnx":      "-3 write,denyoom 1 -1 2",
		"append":      "3 write,denyoom,fast 1 1 1",
		"strlen":      "2 readonly,fast 1 1 1",
		"getrange":    "4 readonly 1 1 1",
		"substr":      "4 readonly 1 1 1",
		"setrange":    "4 write,denyoom 1 1 1",
		"incr":        "2 write,denyoom,fast 1 1 1",
		"decr":        "2 write,denyoom,fast 1 1 1",
		"incrby":      "3 write,denyoom,fast 1 1 1",
		"decrby":      "3 write,denyoom,fast 1 1 1",
		"incrbyfloat": "3 write,denyoom,fast 1 1 1",
		"lcs":         "-3 readonly 1 2 1",
	}
	for _, c := range stringCommands {
		got := fmt.Sprintf("%d %s %d %d %d", c.Arity, strings.Join(c.FlagNames(), ","), c.FirstKey, c.LastKey, c.Step)
		if want[c.Name] != got {
			t.Errorf("%s: got %q, want %q", c.Name, got, want[c.Name])
		}
		delete(want, c.Name)
		if c.Group != "string" {
			t.Errorf("%s: group %q", c.Name, c.Group)
		}
	}
	for name := range want {
		t.Errorf("%s: missing", name)
	}
	keys := Lookup([]byte("MSET")).Keys([][]byte{[]byte("mset"), []byte("a"), []byte("1"), []byte("b"), []byte("2")})
	if len(keys) != 2 || string(keys[0]) != "a" || string(keys[1]) != "b" {
		t.Errorf("MSET keys: %q", keys)
	}
}

// TestLongDouble checks the long double emulation on values whose
// double-precision result differs from Redis's.
func TestLongDouble(t *testing.T) {
	for _, tc := range []struct{ cur, incr, want string }{
		{"0.1", "0.2", "0.3"},
		{"10.5", "0.1", "10.6"},
		{"5.0e3", "2.0e2", "5200"},
		{"1", "1e-18", "1"},
		{"", "0.000003814697265625", "0.00000381469726562"}, // exact tie: to even
		{"", "0.000011444091796875", "0.00001144409179688"},
		{"", "-0.000003814697265625", "-0.00000381469726562"},
		{"0", "-0", "0"},
		{"-0", "-0.0", "0"},
		{"", "1.23456789012345678901234", "1.23456789012345679"},
		{"", "0x1p-2", "0.25"},
		{"", "0X.8P1", "1"},
		{"", "0x1.8", "1.5"},
		{"", "1e-4950", "0"},
		{"", "0x1p-16445", "0"},
		{"", "0x1.8p-16446", "0"},
		{"", "-.5e-0", "-0.5"},
		{"", "1.e1", "10"},
		{"", "+1", "1"},
		{"", "1.7976931348623157e308", "179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689308708363451136055357897278026477617073498977686288394835618163294045594434929537447290627480669417384648879122776218333598953852832103282504751611691208117720159985926376802466863339536384"},
	} {
		got, errMsg := incrByFloat(tc.cur != "", tc.cur, tc.incr)
		if errMsg != "" || got != tc.want {
			t.Errorf("%q + %q = %q %q, want %q", tc.cur, tc.incr, got, errMsg, tc.want)
		}
	}
	for _, bad := range []string{
		"", " 1", "1 ", "\t1", "\v1", "1\t", "abc", "nan", "-nan", "NaN", "1e", "0x", "0xp1", "0x1p",
		".", "-", "+", "infin", "1e-5000", "1e5000", "0x1p-16446", "1.18973149535723176509e+4932",
		"1.5\x00", "\x00", "1_000", "1,5", "0x1p16384", strings.Repeat("1", 5120),
	} {
		if _, errMsg := incrByFloat(false, "", bad); errMsg != resp.ErrNotFloat {
			t.Errorf("increment %q: %q, want not a valid float", bad, errMsg)
		}
	}
	if _, ok := parseLongDouble(strings.Repeat("1", 5119)); ok {
		t.Errorf("a 5119-digit number overflows a long double")
	}
	if _, ok := parseLongDouble("0." + strings.Repeat("0", 5000) + "1"); ok {
		t.Errorf("1e-5002 underflows")
	}
	for _, inf := range []string{"inf", "-inf", "INFINITY", "+Inf"} {
		if _, errMsg := incrByFloat(true, "1", inf); errMsg != ErrNaN {
			t.Errorf("increment %q: %q", inf, errMsg)
		}
	}
	if got, errMsg := incrByFloat(true, "1.18973149535723176502e+4932", "-1"); errMsg != "" || !strings.HasPrefix(got, "118973149535723176502126385303") {
		t.Errorf("largest long double: %q %q", got, errMsg)
	}
	if _, errMsg := incrByFloat(true, "1.18973149535723176502e+4932", "1.18973149535723176502e+4932"); errMsg != ErrNaN {
		t.Errorf("overflowing sum: %q", errMsg)
	}
}

// --- differential tests against a real Redis ---------------------------------------
//
// Where redis-server is installed, each test starts a scratch one
// (testcluster.StartRedis; the scripts were checked against 7.0) to replay
// testdata/strings.txt against it and compare byte for byte, up to the
// first block with now=: from there on the script depends on the test
// clock (and WATCH revisions) and was checked by hand.

type strRedisConn struct {
	c net.Conn
	r *bufio.Reader
}

func strDialRedis(t *testing.T) *strRedisConn {
	c, err := net.Dial("tcp", testcluster.StartRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &strRedisConn{c: c, r: bufio.NewReader(c)}
}

// do sends one command and returns its raw RESP reply.
func (rc *strRedisConn) do(t *testing.T, args [][]byte) []byte {
	req := resp.AppendArray(nil, len(args))
	for _, a := range args {
		req = resp.AppendBulk(req, a)
	}
	if _, err := rc.c.Write(req); err != nil {
		t.Fatal(err)
	}
	var out []byte
	if err := rc.read(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (rc *strRedisConn) read(out *[]byte) error {
	line, err := rc.r.ReadBytes('\n')
	if err != nil {
		return err
	}
	*out = append(*out, line...)
	n, _ := strconv.Atoi(string(bytes.TrimSpace(line[1:])))
	switch line[0] {
	case '$':
		if n >= 0 {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(rc.r, buf); err != nil {
				return err
			}
			*out = append(*out, buf...)
		}
	case '*':
		for i := 0; i < n; i++ {
			if err := rc.read(out); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestStringsAgainstRedis(t *testing.T) {
	rc := strDialRedis(t)
	clocked := false
	datadriven.RunTest(t, "testdata/strings.txt", func(t *testing.T, d *datadriven.TestData) string {
		clocked = clocked || d.HasArg("now")
		if clocked || d.Cmd != "run" || d.HasArg("db") {
			return d.Expected
		}
		var out []byte
		for _, line := range lines(d.Input) {
			out = append(out, rc.do(t, splitArgs(t, d, line))...)
		}
		return strings.ReplaceAll(string(out), "\r\n", "\n")
	})
}

// TestIncrByFloatAgainstRedis compares random INCRBYFLOAT sums with Redis.
func TestIncrByFloatAgainstRedis(t *testing.T) {
	rc := strDialRedis(t)
	rng := rand.New(rand.NewPCG(1, 2))
	num := func() string {
		switch rng.IntN(9) {
		case 6: // near the ends of the exponent range
			return fmt.Sprintf("%d.%de%d", rng.IntN(10), rng.Int64N(1e15), 4900+rng.IntN(60)-2*(4900+rng.IntN(60))*rng.IntN(2))
		case 7: // more digits than 64 bits hold
			var b strings.Builder
			for n := 20 + rng.IntN(60); n > 0; n-- {
				b.WriteByte(byte('0' + rng.IntN(10)))
			}
			return b.String()[:rng.IntN(20)+1] + "." + b.String()[20:]
		case 8:
			return fmt.Sprintf("-0x%x.%xp%d", rng.Uint32(), rng.Uint64(), rng.IntN(32900)-16450)
		case 0:
			return strconv.FormatFloat(rng.NormFloat64()*1e6, 'g', -1, 64)
		case 1:
			return strconv.FormatFloat(rng.Float64(), 'f', rng.IntN(25), 64)
		case 2:
			return fmt.Sprintf("%de%d", rng.Int64N(1e12)-5e11, rng.IntN(80)-40)
		case 3:
			return fmt.Sprintf("0x%xp%d", rng.Uint64(), rng.IntN(200)-100)
		case 4:
			return fmt.Sprintf("%d.%018d", rng.IntN(1000), rng.Int64N(1e18))
		default:
			return strconv.FormatFloat(rng.ExpFloat64()*10, 'f', -1, 64)
		}
	}
	outcomes := map[string]int{}
	for i := 0; i < 20000; i++ {
		cur, incr := num(), num()
		rc.do(t, [][]byte{[]byte("SET"), []byte("k"), []byte(cur)})
		want := string(rc.do(t, [][]byte{[]byte("INCRBYFLOAT"), []byte("k"), []byte(incr)}))
		res, errMsg := incrByFloat(true, cur, incr)
		var got string
		if errMsg != "" {
			got = string(resp.AppendError(nil, errMsg))
		} else {
			got = string(resp.AppendBulkString(nil, res))
		}
		if got != want {
			t.Errorf("%s + %s: got %q, Redis %q", cur, incr, got, want)
		}
		outcomes[errMsg]++
	}
	t.Logf("outcomes: %v", outcomes)
}

// --- benchmarks ----------------------------------------------------------------

func BenchmarkApplySET(b *testing.B) {
	f := New()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = []byte("session:" + strconv.Itoa(i))
	}
	val := bytes.Repeat([]byte("v"), 100)
	entries := make([]*Entry, len(keys))
	for i, k := range keys {
		e := &Entry{Now: 1_000_000, Reqs: []Request{{Ops: []Op{{Args: [][]byte{[]byte("SET"), k, val, []byte("EX"), []byte("3600")}}}}}}
		dec, err := DecodeEntry(e.Encode(nil))
		if err != nil {
			b.Fatal(err)
		}
		entries[i] = dec
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Apply(uint64(i+1), entries[i%len(entries)])
	}
}

func BenchmarkReadGET(b *testing.B) {
	f := New()
	var reqs []Request
	args := make([][][]byte, 1024)
	for i := range args {
		k := []byte("session:" + strconv.Itoa(i))
		reqs = append(reqs, Request{Ops: []Op{{Args: [][]byte{[]byte("SET"), k, bytes.Repeat([]byte("v"), 100)}}}})
		args[i] = [][]byte{[]byte("GET"), k}
	}
	f.Apply(1, &Entry{Now: 1_000_000, Reqs: reqs})
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out = f.Read(0, 1_000_000, 0, args[i%len(args)], out[:0])
	}
}

// TestStringsRandom throws random string commands at the keyspace: no
// panic, every reply one well-formed RESP value, and the deadline index in
// step with the items.
func TestStringsRandom(t *testing.T) {
	s := newStrTester(t)
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{
		"k1", "k2", "k3", "", "0", "1", "-1", "10", "100", "1.5", "-0", "abc", "1e3", "0x10", "inf",
		"9223372036854775807", "-9223372036854775808", "99999999999999999999", "\x00", "nx\x00",
		"NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "PERSIST", "IDX", "LEN",
		"MINMATCHLEN", "WITHMATCHLEN", "1000001", "999999",
	}
	var names []string
	for _, c := range stringCommands {
		names = append(names, c.Name)
	}
	for i := 0; i < 20000; i++ {
		args := []string{names[rng.IntN(len(names))]}
		for n := rng.IntN(6); n > 0; n-- {
			args = append(args, words[rng.IntN(len(words))])
		}
		if rng.IntN(50) == 0 {
			s.now += int64(rng.IntN(2000))
		}
		reply := s.do(args...)
		rc := &strRedisConn{r: bufio.NewReader(strings.NewReader(reply))}
		var out []byte
		if err := rc.read(&out); err != nil || string(out) != reply {
			t.Fatalf("%q: malformed reply %q", args, reply)
		}
	}
	ks := s.f.dbs[0]
	withTTL := 0
	ks.keys.Scan(func(it *item) bool {
		if it.deadline != 0 {
			withTTL++
			if _, ok := ks.ttls.Get(ttlRef{it.deadline, it.h, it.key}); !ok {
				t.Errorf("%q: deadline %d not indexed", it.key, it.deadline)
			}
		}
		return true
	})
	if withTTL != ks.ttls.Len() {
		t.Errorf("%d items with a TTL, %d index entries", withTTL, ks.ttls.Len())
	}
}

// BenchmarkIncrByFloatWorst: the slowest inputs a client can send, a 5 KiB
// mantissa at the edges of the exponent range.
func BenchmarkIncrByFloatWorst(b *testing.B) {
	digits := strings.Repeat("7", 5100)
	for _, in := range []string{"1." + digits + "e-4950", digits + "e-170", "0x" + digits + "p-16000", "10.5"} {
		b.Run(strconv.Itoa(len(in)), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				incrByFloat(true, in, "1")
			}
		})
	}
}
