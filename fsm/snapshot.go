package fsm

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
)

// Snapshot format: magic, version, then typed records, then a CRC-32C of
// everything before it. Restore refuses a file whose version or checksum
// does not match rather than load half of it.
const (
	snapMagic   = "STATEHOUSE-SNAP\n"
	snapVersion = 3 // 2 added the WATCH deletion clocks (recWatch), 3 the ACL users (recACL)

	recDB     = 'D' // db, item count, then the items
	recWatch  = 'W' // db, then delBuckets deletion revisions
	recACL    = 'A' // revision, user count, then each user's name, index made at, rule count and rules
	recNotify = 'N' // notify-keyspace-events flags
	// recMem: maxmemory, policy, samples; written only when not the
	// defaults, so a cluster that never set a limit writes what older
	// builds read (one that meets it stops, as for any unknown record).
	recMem = 'M'
	// recFunc: library count, then each library's code; written only
	// when there are libraries, as recMem.
	recFunc = 'F'
	recEnd  = 'E' // followed by the checksum
	maxSnap = 1 << 32
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrBadSnapshot is returned for a snapshot that fails its checks.
var ErrBadSnapshot = errors.New("fsm: bad snapshot")

// Snapshot is a point-in-time copy of the keyspace, taken in O(1). It can be
// written out while the FSM goes on applying entries.
type Snapshot struct {
	dbs     [NumDBs]*keyspace
	now     int64
	applied uint64
	acl     map[string][]string // rule lists are never changed in place
	aclMade map[string]uint64
	aclRev  uint64
	notify  int64
	mem     MemConfig
	libs    []*library // by name; libraries are never changed in place
}

// Snapshot takes a point-in-time copy. It holds the write lock only for the
// O(1) tree copies.
func (f *FSM) Snapshot() *Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &Snapshot{now: f.now, applied: f.applied, aclRev: f.acl.rev, notify: f.notifyFlags.Load(), mem: f.MemConfig()}
	if f.acl.rev != 0 {
		s.acl = make(map[string][]string, len(f.acl.rules))
		s.aclMade = make(map[string]uint64, len(f.acl.rules))
		for k, v := range f.acl.rules {
			s.acl[k], s.aclMade[k] = v, f.acl.created[k]
		}
	}
	for _, n := range f.libNames() {
		s.libs = append(s.libs, f.libs[n])
	}
	for i, ks := range f.dbs {
		s.dbs[i] = ks.copy()
	}
	return s
}

// Applied is the log index the snapshot reflects.
func (s *Snapshot) Applied() uint64 { return s.applied }

type snapWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	buf []byte
	n   int64
	err error
}

func (sw *snapWriter) flushBuf() {
	if sw.err != nil {
		sw.buf = sw.buf[:0]
		return
	}
	sw.crc.Write(sw.buf)
	n, err := sw.w.Write(sw.buf)
	sw.n += int64(n)
	sw.err = err
	sw.buf = sw.buf[:0]
}

func (sw *snapWriter) uvarint(v uint64) { sw.buf = binary.AppendUvarint(sw.buf, v) }
func (sw *snapWriter) varint(v int64)   { sw.buf = binary.AppendVarint(sw.buf, v) }
func (sw *snapWriter) str(s string) {
	sw.uvarint(uint64(len(s)))
	sw.buf = append(sw.buf, s...)
	if len(sw.buf) > 64<<10 {
		sw.flushBuf()
	}
}

// WriteTo streams the snapshot. The output is a pure function of the
// keyspace: two replicas with the same state write the same bytes.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	sw := &snapWriter{w: bufio.NewWriterSize(w, 256<<10), crc: crc32.New(crcTable)}
	sw.buf = append(sw.buf, snapMagic...)
	sw.uvarint(snapVersion)
	sw.varint(s.now)
	sw.uvarint(s.applied)
	if s.notify != 0 {
		sw.buf = append(sw.buf, recNotify)
		sw.uvarint(uint64(s.notify))
	}
	if s.mem != (MemConfig{Samples: defaultSamples}) {
		sw.buf = append(sw.buf, recMem)
		sw.uvarint(uint64(s.mem.MaxMemory))
		sw.uvarint(uint64(s.mem.Policy))
		sw.uvarint(uint64(s.mem.Samples))
	}
	if len(s.libs) > 0 {
		sw.buf = append(sw.buf, recFunc)
		sw.uvarint(uint64(len(s.libs)))
		for _, lib := range s.libs {
			sw.str(lib.code)
		}
	}
	if s.aclRev != 0 {
		sw.buf = append(sw.buf, recACL)
		sw.uvarint(s.aclRev)
		sw.uvarint(uint64(len(s.acl)))
		for _, name := range sortedNames(s.acl) {
			sw.str(name)
			sw.uvarint(s.aclMade[name])
			sw.uvarint(uint64(len(s.acl[name])))
			for _, r := range s.acl[name] {
				sw.str(r)
			}
		}
	}
	for db, ks := range s.dbs {
		if ks.delRev != ([delBuckets]uint64{}) {
			sw.buf = append(sw.buf, recWatch)
			sw.uvarint(uint64(db))
			for _, r := range ks.delRev {
				sw.uvarint(r)
			}
		}
		if ks.keys.Len() == 0 {
			continue
		}
		sw.buf = append(sw.buf, recDB)
		sw.uvarint(uint64(db))
		sw.uvarint(uint64(ks.keys.Len()))
		ks.keys.Scan(func(it *item) bool {
			sw.buf = append(sw.buf, byte(it.kind))
			sw.str(it.key)
			sw.varint(it.deadline)
			sw.uvarint(it.rev)
			switch it.kind {
			case KindString:
				sw.str(it.str)
			case KindHash:
				sw.uvarint(uint64(it.hashLen()))
				it.hashScan(func(k, v string) bool {
					sw.str(k)
					sw.str(v)
					return true
				})
			case KindSet:
				sw.uvarint(uint64(it.members().Len()))
				it.members().Scan(func(m string) bool {
					sw.str(m)
					return true
				})
			case KindZSet:
				big := byte(0)
				if it.zset.big {
					big = 1
				}
				sw.buf = append(sw.buf, big)
				sw.uvarint(uint64(it.zset.len()))
				it.zset.byScore.Scan(func(e zent) bool {
					sw.str(e.member)
					sw.uvarint(math.Float64bits(e.score))
					return true
				})
			case KindList:
				sw.uvarint(uint64(it.list.len()))
				it.list.scan(0, func(_ int, v string) bool {
					sw.str(v)
					return true
				})
			}
			return sw.err == nil
		})
	}
	sw.buf = append(sw.buf, recEnd)
	sw.flushBuf()
	if sw.err == nil {
		sum := sw.crc.Sum32()
		var tail [4]byte
		binary.BigEndian.PutUint32(tail[:], sum)
		n, err := sw.w.Write(tail[:])
		sw.n += int64(n)
		sw.err = err
	}
	if sw.err == nil {
		sw.err = sw.w.Flush()
	}
	return sw.n, sw.err
}

type snapReader struct {
	r   *bufio.Reader
	crc hash.Hash32
	err error
	one [1]byte
	now int64 // the snapshot's clock: when its keys count as last written (OBJECT IDLETIME)
}

func (sr *snapReader) fail(what string) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %s", ErrBadSnapshot, what)
	}
}

func (sr *snapReader) ReadByte() (byte, error) {
	if sr.err != nil {
		return 0, sr.err
	}
	b, err := sr.r.ReadByte()
	if err != nil {
		sr.fail("truncated")
		return 0, sr.err
	}
	sr.one[0] = b
	sr.crc.Write(sr.one[:])
	return b, nil
}

func (sr *snapReader) uvarint() uint64 {
	v, err := binary.ReadUvarint(sr)
	if err != nil {
		sr.fail("truncated varint")
	}
	return v
}

func (sr *snapReader) varint() int64 {
	v, err := binary.ReadVarint(sr)
	if err != nil {
		sr.fail("truncated varint")
	}
	return v
}

// strs reads a count, then that many entries of width strings each. The
// slice is not sized by the count: a corrupt one is any number.
func (sr *snapReader) strs(width int) []string {
	n := sr.uvarint()
	var out []string
	for i := uint64(0); i < n && sr.err == nil; i++ {
		for range width {
			out = append(out, sr.str())
		}
	}
	return out
}

func (sr *snapReader) str() string {
	n := sr.uvarint()
	if sr.err != nil {
		return ""
	}
	if n > maxSnap {
		sr.fail("string too long")
		return ""
	}
	// Read in bounded chunks so a corrupt length cannot allocate gigabytes
	// before the short read is noticed.
	var b []byte
	for n > 0 && sr.err == nil {
		chunk := min(n, 1<<20)
		start := len(b)
		b = append(b, make([]byte, chunk)...)
		if _, err := io.ReadFull(sr.r, b[start:]); err != nil {
			sr.fail("truncated string")
			return ""
		}
		sr.crc.Write(b[start:])
		n -= chunk
	}
	return string(b)
}

// Restore replaces the keyspace with the snapshot read from r. The new
// keyspace is built aside and swapped in only once the checksum matches.
func (f *FSM) Restore(r io.Reader) error {
	sr := &snapReader{r: bufio.NewReaderSize(r, 256<<10), crc: crc32.New(crcTable)}
	magic := make([]byte, len(snapMagic))
	if _, err := io.ReadFull(sr.r, magic); err != nil || string(magic) != snapMagic {
		return fmt.Errorf("%w: not a statehouse snapshot", ErrBadSnapshot)
	}
	sr.crc.Write(magic)
	if v := sr.uvarint(); sr.err == nil && (v < 1 || v > snapVersion) {
		return fmt.Errorf("%w: version %d, this build reads 1 to %d", ErrBadSnapshot, v, snapVersion)
	}
	now := sr.varint()
	sr.now = now
	applied := sr.uvarint()
	var dbs [NumDBs]*keyspace
	for i := range dbs {
		dbs[i] = newKeyspace()
	}
	var acl aclState
	var notify int64
	mem := MemConfig{Samples: defaultSamples}
	libs := &FSM{}
	for sr.err == nil {
		rec, err := sr.ReadByte()
		if err != nil {
			break
		}
		if rec == recEnd {
			break
		}
		if rec == recACL {
			acl = sr.readACL()
			continue
		}
		if rec == recFunc {
			n := sr.uvarint()
			for i := uint64(0); i < n && sr.err == nil; i++ {
				code := sr.str()
				if sr.err != nil {
					break
				}
				// A library this build does not load as its peers did
				// would run differently: the snapshot is not this build's.
				lib, msg := compileLibrary([]byte(code))
				if msg == "" {
					msg = libs.addLibrary(lib, false)
				}
				if msg != "" {
					sr.fail("function library: " + msg)
				}
			}
			continue
		}
		if rec == recNotify {
			notify = int64(sr.uvarint())
			continue
		}
		if rec == recMem {
			mem.MaxMemory, mem.Policy, mem.Samples = int64(sr.uvarint()), Policy(sr.uvarint()), int(sr.uvarint())
			if mem.MaxMemory < 0 || mem.Policy < 0 || int(mem.Policy) >= len(policyNames) || mem.Samples < 1 || mem.Samples > 1<<31-1 {
				sr.fail("bad memory settings")
			}
			continue
		}
		if rec == recWatch {
			db := sr.uvarint()
			if db >= NumDBs {
				sr.fail("db out of range")
				break
			}
			for i := range dbs[db].delRev {
				dbs[db].delRev[i] = sr.uvarint()
			}
			continue
		}
		if rec != recDB {
			sr.fail(fmt.Sprintf("unknown record %q", rec))
			break
		}
		db := sr.uvarint()
		if db >= NumDBs {
			sr.fail("db out of range")
			break
		}
		n := sr.uvarint()
		ks := dbs[db]
		for i := uint64(0); i < n && sr.err == nil; i++ {
			sr.readItem(ks)
		}
	}
	if sr.err != nil {
		return sr.err
	}
	want := sr.crc.Sum32()
	var tail [4]byte
	if _, err := io.ReadFull(sr.r, tail[:]); err != nil {
		return fmt.Errorf("%w: missing checksum", ErrBadSnapshot)
	}
	if got := binary.BigEndian.Uint32(tail[:]); got != want {
		return fmt.Errorf("%w: checksum %08x, computed %08x", ErrBadSnapshot, got, want)
	}
	f.mu.Lock()
	f.dbs = dbs
	f.now = now
	f.applied = applied
	f.acl = acl
	f.libs, f.fnIndex = libs.libs, libs.fnIndex
	f.aclRev.Store(acl.rev)
	f.notifyFlags.Store(notify)
	f.maxMemory.Store(mem.MaxMemory)
	f.policy.Store(int32(mem.Policy))
	f.samples.Store(int32(mem.Samples))
	f.noteUsed()
	if f.onListWrite != nil {
		f.onListWrite(-1, "") // any list may have changed
	}
	f.mu.Unlock()
	f.memConfigChanged()
	return nil
}

// readACL reads a recACL record; users whose rules no longer compile (a
// rule this build refuses) are an error: the snapshot is not this build's.
func (sr *snapReader) readACL() aclState {
	a := aclState{rev: sr.uvarint(), rules: map[string][]string{}, compiled: map[string]*ACLUser{}, created: map[string]uint64{}}
	n := sr.uvarint()
	for i := uint64(0); i < n && sr.err == nil; i++ {
		name := sr.str()
		a.created[name] = sr.uvarint()
		nr := sr.uvarint()
		var rules []string
		for j := uint64(0); j < nr && sr.err == nil; j++ {
			rules = append(rules, sr.str())
		}
		if sr.err != nil {
			break
		}
		u, err := CompileACLUser(name, rules, ownTable)
		if err != nil {
			sr.fail(fmt.Sprintf("ACL user %q: %v", name, err))
			break
		}
		a.rules[name], a.compiled[name] = rules, u
	}
	return a
}

func (sr *snapReader) readItem(ks *keyspace) {
	kind, _ := sr.ReadByte()
	it := &item{kind: Kind(kind), key: sr.str()}
	it.h = keyHash(it.key)
	it.deadline = sr.varint()
	it.rev = sr.uvarint()
	it.wrote = sr.now
	switch it.kind {
	case KindString:
		it.str = sr.str()
	case KindHash:
		if pairs := sr.strs(2); sr.err == nil && !it.fillHash(pairs) {
			sr.fail("a hash field repeats")
			return
		}
	case KindSet:
		if members := sr.strs(1); sr.err == nil && !it.fillSet(members) {
			sr.fail("a set member repeats")
			return
		}
	case KindList:
		elems := sr.strs(1)
		if len(elems) == 0 {
			sr.fail("empty list")
		}
		it.list = newList(elems)
	case KindZSet:
		it.zset = newZset()
		big, _ := sr.ReadByte()
		it.zset.big = big == 1
		n := sr.uvarint()
		for i := uint64(0); i < n && sr.err == nil; i++ {
			m := sr.str()
			s := math.Float64frombits(sr.uvarint())
			if math.IsNaN(s) {
				sr.fail("NaN score")
				break
			}
			if _, dup := it.zset.score(m); dup {
				sr.fail("duplicate sorted set member")
				break
			}
			it.zset.set(m, s)
		}
		if n == 0 {
			sr.fail("empty sorted set")
		}
	default:
		sr.fail(fmt.Sprintf("unknown value kind %d", kind))
	}
	if sr.err == nil {
		ks.put(it)
	}
}
