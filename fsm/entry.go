package fsm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Entry is the payload of one Raft log entry: the leader's clock when it
// formed the entry and the requests it gathered (group commit). Each
// request gets its own reply.
type Entry struct {
	Now  int64 // leader's unix ms
	Reqs []Request
}

// Request is what one connection asked for in one go: a pipeline of writes
// (each op answered separately) or a MULTI/EXEC (Atomic: answered with one
// array, or a null array when a WATCH condition fails).
type Request struct {
	Atomic bool
	Conds  []Cond
	Ops    []Op
	// User and ACLRev: the ACL user that sent the ops, and the revision of
	// the users (FSM.ACLRev) its permissions were checked against. If the
	// users changed since, the fsm checks the ops again as it applies
	// them. Empty while ACL commands never changed the users.
	User   string
	ACLRev uint64
}

// Op is one command in the database it was issued against.
type Op struct {
	DB   int
	Args [][]byte
	// Version is the version of the command's replicated behaviour in the
	// build that proposed it (its row's Version, set by Stamp); 0 in
	// entries written before entries carried versions.
	Version int
	// Ignorable marks an op that a replica which does not know it may
	// skip without diverging (its row has FlagIgnorable).
	Ignorable bool
}

// Cond is one WATCHed key: the request applies only if the key's revision
// is still Rev (0: the key did not exist when it was watched) and, for a
// missing key, nothing created or deleted it after index Since.
type Cond struct {
	DB    int
	Key   []byte
	Rev   uint64
	Since uint64 // applied index when the key was watched
}

// Entry format versions. 2 added Cond.Since; 3 gives each op a flags byte
// (bit 0: ignorable) and the version of its command, and ends the entry
// with a CRC-32C of the rest. Entries are written as 3; 2 is read for the
// logs of earlier builds.
const (
	entryVersion   = 3
	entryVersionV2 = 2
)

var errCorrupt = errors.New("fsm: corrupt entry")

// ErrChecksum means an entry's bytes are not those that were written: the
// disk or the network changed them.
var ErrChecksum = errors.New("fsm: entry checksum mismatch")

// ErrNewerEntry means an entry was written by a newer statehouse in a
// format this build cannot read.
var ErrNewerEntry = errors.New("fsm: entry written by a newer statehouse")

const opIgnorable = 1 // op flags bit

// Request flags bits. reqACL is followed by the user and the ACL revision;
// a build before ACL users stops at such an entry (ErrNewerEntry).
const (
	reqAtomic = 1
	reqACL    = 2
)

// Encode appends the binary form of e to b.
func (e *Entry) Encode(b []byte) []byte {
	start := len(b)
	b = append(b, entryVersion)
	b = binary.AppendVarint(b, e.Now)
	b = binary.AppendUvarint(b, uint64(len(e.Reqs)))
	for i := range e.Reqs {
		r := &e.Reqs[i]
		var flags byte
		if r.Atomic {
			flags = reqAtomic
		}
		if r.User != "" {
			flags |= reqACL
		}
		b = append(b, flags)
		if r.User != "" {
			b = appendBytes(b, []byte(r.User))
			b = binary.AppendUvarint(b, r.ACLRev)
		}
		b = binary.AppendUvarint(b, uint64(len(r.Conds)))
		for _, c := range r.Conds {
			b = binary.AppendUvarint(b, uint64(c.DB))
			b = appendBytes(b, c.Key)
			b = binary.AppendUvarint(b, c.Rev)
			b = binary.AppendUvarint(b, c.Since)
		}
		b = binary.AppendUvarint(b, uint64(len(r.Ops)))
		for _, op := range r.Ops {
			var of byte
			if op.Ignorable {
				of |= opIgnorable
			}
			b = append(b, of)
			b = binary.AppendUvarint(b, uint64(op.Version))
			b = binary.AppendUvarint(b, uint64(op.DB))
			b = binary.AppendUvarint(b, uint64(len(op.Args)))
			for _, a := range op.Args {
				b = appendBytes(b, a)
			}
		}
	}
	// The log's own checksums cover only its newest records on start; this
	// one is checked whenever the entry is read, at apply and at replay.
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// maxVarint is the most bytes a varint takes.
const maxVarint = binary.MaxVarintLen64

// EntryOverhead bounds what an entry adds to its requests' SizeBound: the
// format byte, the clock and the request count.
const EntryOverhead = 1 + 2*maxVarint

// SizeBound is at least the bytes r takes in an encoded entry, computed
// without encoding it: the proposer checks it against the largest entry
// the log may hold before r is proposed.
func (r *Request) SizeBound() int {
	n := 1 + 3*maxVarint + len(r.User) // flags, ACL guard, cond and op counts
	for _, c := range r.Conds {
		n += 4*maxVarint + len(c.Key)
	}
	for i := range r.Ops {
		n += r.Ops[i].SizeBound()
	}
	return n
}

// SizeBound is at least the bytes op takes in an encoded entry.
func (op *Op) SizeBound() int {
	n := 1 + 3*maxVarint // flags, version, db, arg count
	for _, a := range op.Args {
		n += maxVarint + len(a)
	}
	return n
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// DecodeEntry parses an entry. The result's byte slices alias data.
func DecodeEntry(data []byte) (*Entry, error) {
	d := decoder{b: data}
	v := d.byte()
	if d.err != nil {
		return nil, d.err
	}
	switch {
	case v > entryVersion:
		return nil, fmt.Errorf("%w: format version %d, this build reads up to %d", ErrNewerEntry, v, entryVersion)
	case v < entryVersionV2:
		return nil, fmt.Errorf("%w: version %d", errCorrupt, v)
	case v > entryVersionV2:
		if len(data) < 5 {
			return nil, fmt.Errorf("%w: %d bytes", errCorrupt, len(data))
		}
		body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
		if got := crc32.Checksum(body, crcTable); got != sum {
			return nil, fmt.Errorf("%w: CRC-32C %08x, written %08x", ErrChecksum, got, sum)
		}
		d.b = body[1:]
	}
	e := &Entry{Now: d.varint()}
	n := d.count()
	e.Reqs = make([]Request, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var r Request
		flags := d.byte()
		known := byte(reqAtomic)
		if v > entryVersionV2 {
			known |= reqACL
		}
		if flags&^known != 0 {
			if v > entryVersionV2 {
				// Flags this build does not know: a newer build's.
				return nil, fmt.Errorf("%w: request flags %#x", ErrNewerEntry, flags)
			}
			return nil, fmt.Errorf("%w: request flags %#x", errCorrupt, flags)
		}
		r.Atomic = flags&reqAtomic != 0
		if flags&reqACL != 0 {
			r.User = string(d.bytes())
			r.ACLRev = d.uvarint()
			if r.User == "" && d.err == nil {
				// Encode writes the flag only with a user: one entry, one encoding.
				d.err = fmt.Errorf("%w: ACL guard without a user", errCorrupt)
			}
		}
		nc := d.count()
		for j := 0; j < nc && d.err == nil; j++ {
			r.Conds = append(r.Conds, Cond{DB: d.db(), Key: d.bytes(), Rev: d.uvarint(), Since: d.uvarint()})
		}
		no := d.count()
		r.Ops = make([]Op, 0, no)
		for j := 0; j < no && d.err == nil; j++ {
			var op Op
			if v > entryVersionV2 {
				of := d.byte()
				op.Ignorable = of&opIgnorable != 0
				op.Version = d.count32()
				if d.err == nil && of&^opIgnorable != 0 {
					d.err = fmt.Errorf("%w: op flags %#x", ErrNewerEntry, of) // flags of a newer build
				}
			}
			op.DB = d.db()
			na := d.count()
			op.Args = make([][]byte, 0, na)
			for k := 0; k < na && d.err == nil; k++ {
				op.Args = append(op.Args, d.bytes())
			}
			r.Ops = append(r.Ops, op)
		}
		e.Reqs = append(e.Reqs, r)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errCorrupt, len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) { // overlong: one entry, one encoding
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 || (n > 1 && d.b[n-1] == 0) {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must be plausible for the bytes left, so a
// corrupt entry cannot make the decoder allocate without bound.
func (d *decoder) count() int {
	v := d.uvarint()
	if v > uint64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(v)
}

// count32 reads a small number (a version): at most 2^31-1.
func (d *decoder) count32() int {
	v := d.uvarint()
	if v > 1<<31-1 {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) db() int {
	v := d.uvarint()
	if v >= NumDBs {
		d.fail()
		return 0
	}
	return int(v)
}

func (d *decoder) bytes() []byte {
	n := d.count()
	if d.err != nil {
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
