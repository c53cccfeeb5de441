package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// legacyEntry is an entry as builds before op versions wrote it (format
// 2): now=1000, one request with SET k v in db 0. Logs on disk hold such
// entries; they must still apply.
var legacyEntry = []byte{2, 0xd0, 0x0f, 1, 0, 0, 1, 0, 3, 3, 'S', 'E', 'T', 1, 'k', 1, 'v'}

func TestEntryFormats(t *testing.T) {
	e, err := DecodeEntry(legacyEntry)
	if err != nil {
		t.Fatalf("format 2: %v", err)
	}
	if e.Now != 1000 || len(e.Reqs) != 1 || len(e.Reqs[0].Ops) != 1 || e.Reqs[0].Ops[0].Version != 0 {
		t.Fatalf("format 2 decoded as %+v", e)
	}
	if err := Check(e); err != nil {
		t.Fatalf("a format 2 entry is refused: %v", err)
	}
	if got := New().Apply(1, e); string(got[0]) != "+OK\r\n" {
		t.Fatalf("format 2 SET: %q", got[0])
	}

	// Format 3 carries each op's version and ignorability.
	in := Entry{Now: 5, Reqs: []Request{{Atomic: true, Ops: []Op{
		{DB: 3, Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}, Version: 2},
		{DB: 0, Args: [][]byte{[]byte("x")}, Version: 1, Ignorable: true},
	}}}}
	b := in.Encode(nil)
	if b[0] != entryVersion {
		t.Fatalf("written as format %d", b[0])
	}
	out, err := DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if o := out.Reqs[0].Ops; o[0].Version != 2 || o[0].Ignorable || o[0].DB != 3 || o[1].Version != 1 || !o[1].Ignorable {
		t.Fatalf("round trip: %+v", out.Reqs[0].Ops)
	}

	// A request from an ACL user carries the user and the ACL revision.
	g := Entry{Now: 5, Reqs: []Request{{User: "alice", ACLRev: 42, Ops: []Op{op(1, false, "SET", "k", "v")}}}}
	gb := g.Encode(nil)
	if gb2, err := DecodeEntry(gb); err != nil || gb2.Reqs[0].User != "alice" || gb2.Reqs[0].ACLRev != 42 {
		t.Fatalf("ACL guard round trip: %+v, %v", gb2, err)
	}
	if len(gb) > g.Reqs[0].SizeBound()+EntryOverhead+4 {
		t.Fatalf("entry of %d bytes over its size bound", len(gb))
	}

	// The ACL guard is written only with a user: one without is corrupt.
	if _, err := DecodeEntry(withCRC([]byte("\x03\xfc\x890\x01\x02\x000\x00\x00"))); err == nil || errors.Is(err, ErrNewerEntry) {
		t.Fatalf("an ACL guard with no user: %v, want corrupt", err)
	}

	// A newer format, or flags this build does not know, are a newer
	// build's: refused as such, not as corruption.
	for name, data := range map[string][]byte{
		"format 4":          append([]byte{entryVersion + 1}, b[1:]...),
		"unknown req flags": withCRC([]byte{entryVersion, 0, 1, 0x04, 0, 0}),
		"unknown op flags":  withCRC([]byte{entryVersion, 0, 1, 0, 0, 1, 0x02, 1, 0, 1, 1, 'x'}),
	} {
		if _, err := DecodeEntry(data); !errors.Is(err, ErrNewerEntry) {
			t.Errorf("%s: %v, want ErrNewerEntry", name, err)
		}
	}
	if _, err := DecodeEntry([]byte{1, 0, 0}); err == nil || errors.Is(err, ErrNewerEntry) {
		t.Errorf("format 1: %v, want corrupt", err)
	}
}

// withCRC ends b with its CRC-32C, as Encode ends an entry.
func withCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// A byte changed anywhere in an entry (a value's "user" read back as
// "root") is caught when the entry is read, not applied.
func TestEntryChecksum(t *testing.T) {
	e := Entry{Now: 1000, Reqs: []Request{{Ops: []Op{op(1, false, "SET", "session:1", "role=user")}}}}
	b := e.Encode(nil)
	if _, err := DecodeEntry(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x04
		if _, err := DecodeEntry(bad); err == nil {
			t.Fatalf("byte %d flipped: decoded", i)
		} else if i > 0 && !errors.Is(err, ErrChecksum) {
			t.Fatalf("byte %d flipped: %v, want ErrChecksum", i, err)
		}
	}
	// Encode appends: an entry written after other bytes checks its own.
	if _, err := DecodeEntry(e.Encode([]byte("prefix"))[6:]); err != nil {
		t.Fatalf("an entry encoded after other bytes: %v", err)
	}
}

func op(version int, ignorable bool, args ...string) Op {
	o := Op{Version: version, Ignorable: ignorable}
	for _, a := range args {
		o.Args = append(o.Args, []byte(a))
	}
	return o
}

// An entry from a newer build: its ignorable ops are skipped; any other op
// whose command or version this build does not know makes Check refuse
// the whole entry, before anything of it applies.
func TestEntryFromNewerBuild(t *testing.T) {
	f := New()
	e := &Entry{Now: 1000, Reqs: []Request{{Ops: []Op{
		op(1, false, "SET", "a", "1"),
		op(1, true, "statehouse.hint", "a"),
		op(1, false, "SET", "b", "2"),
	}}}}
	if err := Check(e); err != nil {
		t.Fatalf("ignorable op refused: %v", err)
	}
	got := string(f.Apply(1, e)[0])
	if got != "+OK\r\n-ERR unknown command 'statehouse.hint'\r\n+OK\r\n" {
		t.Fatalf("replies %q", got)
	}
	for _, bad := range []Op{op(1, false, "statehouse.future", "l", "x"), op(2, false, "SET", "a", "3")} {
		e := &Entry{Now: 2000, Reqs: []Request{{Ops: []Op{op(1, false, "SET", "c", "3")}}, {Ops: []Op{bad}}}}
		err := Check(e)
		var ue *UnknownOpError
		if !errors.As(err, &ue) {
			t.Fatalf("%q: Check = %v", bad.Args, err)
		}
		t.Logf("%q: %v", bad.Args, err)
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "does not know") {
					t.Errorf("Apply of a refused entry: %v", r)
				}
			}()
			f.Apply(2, e)
		}()
	}
}

func TestStamp(t *testing.T) {
	r := Request{Ops: []Op{op(0, false, "set", "k", "v"), op(0, false, "statehouse.reap", "k", "1")}}
	if err := Stamp(&r); err != nil || r.Ops[0].Version != 1 || r.Ops[1].Version != 1 {
		t.Fatalf("Stamp = %v, %+v", err, r.Ops)
	}
	for _, bad := range []Request{
		{Ops: []Op{op(0, false, "GET", "k")}}, // a read outside MULTI
		{Ops: []Op{op(0, false, "PING")}},     // the front door's
		{Ops: []Op{op(0, false, "nosuch")}},
		{Ops: []Op{{}}},
	} {
		if err := Stamp(&bad); err == nil {
			t.Errorf("Stamp took %q", bad.Ops[0].Args)
		}
	}
	atomic := Request{Atomic: true, Ops: []Op{op(0, false, "GET", "k")}}
	if err := Stamp(&atomic); err != nil {
		t.Errorf("a read inside MULTI: %v", err)
	}
	var buf bytes.Buffer
	buf.Write((&Entry{Reqs: []Request{r}}).Encode(nil))
	if e, err := DecodeEntry(buf.Bytes()); err != nil || Check(e) != nil {
		t.Fatalf("a stamped entry does not pass Check: %v", err)
	}
}

// SizeBound never undercounts what a request takes in an entry.
func TestSizeBound(t *testing.T) {
	for _, r := range []Request{
		{},
		{Ops: []Op{op(1, false, "SET", "k", strings.Repeat("v", 300))}},
		{Atomic: true, Conds: []Cond{{DB: 15, Key: []byte("w"), Rev: 1 << 62, Since: 1 << 40}}, Ops: []Op{op(1<<30, true, "x"), {DB: 15}}},
	} {
		e := Entry{Now: -1 << 62, Reqs: []Request{r}}
		if got, bound := len(e.Encode(nil)), r.SizeBound()+EntryOverhead; got > bound {
			t.Errorf("%+v: encoded %d bytes, bound %d", r, got, bound)
		}
	}
}
