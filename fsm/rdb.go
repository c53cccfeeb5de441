package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash/crc64"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Redis's serialization format, as DUMP emits it and RESTORE takes it: one
// RDB object (type byte, then the object in that type's encoding), the
// 2-byte RDB version little-endian, and a CRC-64 (Jones polynomial, as
// Redis's crc64.c: no inversion) of everything before it, little-endian.
//
// Decoding is pure and bounded: every length is checked against the bytes
// that remain before anything is allocated for it, so a payload can never
// make the decoder allocate more than its own size, with one exception
// that Redis shares: an LZF-compressed string decompresses to the length
// it declares, which is checked against what LZF can produce from the
// compressed bytes (at most lzfMaxRatio times) and capped at
// rdbMaxDecoded for the whole payload.
//
// One case per RDB type (decodeRDBObject). A decoded object is an
// rdbObject, an intermediate form independent of statehouse's kinds; its
// item method turns it into a stored value. Sorted sets are decoded too
// (rdbObject.zset), which item makes a KindZSet.

// RDB object types (Redis's rdb.h).
const (
	rdbTypeString           = 0
	rdbTypeList             = 1
	rdbTypeSet              = 2
	rdbTypeZSet             = 3
	rdbTypeHash             = 4
	rdbTypeZSet2            = 5
	rdbTypeHashZipmap       = 9
	rdbTypeListZiplist      = 10
	rdbTypeSetIntset        = 11
	rdbTypeZSetZiplist      = 12
	rdbTypeHashZiplist      = 13
	rdbTypeListQuicklist    = 14
	rdbTypeHashListpack     = 16
	rdbTypeZSetListpack     = 17
	rdbTypeListQuicklist2   = 18
	rdbTypeSetListpack      = 20 // Redis 7.2 (RDB version 11)
	rdbVersion              = 10 // Redis 7.0: what DUMP writes
	rdbMaxVersion           = 11 // the newest RESTORE takes (7.2's listpack sets)
	quicklistNodePlain      = 1
	quicklistNodePacked     = 2
	lzfMaxRatio             = 132       // an LZF back-reference of 2 bytes yields at most 264
	rdbMaxDecoded           = 512 << 20 // Redis's proto-max-bulk-len: no value of Redis's is larger
	rdbEncInt8, rdbEncInt16 = 0, 1
	rdbEncInt32, rdbEncLZF  = 2, 3
)

// Error texts of DUMP and RESTORE, as Redis 7.0 words them.
const (
	errDumpPayload    = "ERR DUMP payload version or checksum are wrong"
	errBadDataFormat  = "ERR Bad data format"
	errBusyKey        = "BUSYKEY Target key name already exists."
	errInvalidTTL     = "ERR Invalid TTL value, must be >= 0"
	errInvalidIdle    = "ERR Invalid IDLETIME value, must be >= 0"
	errInvalidFreq    = "ERR Invalid FREQ value, must be >= 0 and <= 255"
	errRDBUnsupported = "unsupported RDB type"
)

var errRDB = errors.New("bad RDB data")

// crc64Table is the reflected Jones polynomial (0xad93d23594c935a9).
var crc64Table = crc64.MakeTable(0x95ac9329ac4bc9b5)

// crc64Redis is Redis's crc64(0, p): Go's crc64 inverts before and after,
// Redis's does not, so the inversions are undone around it.
func crc64Redis(p []byte) uint64 { return ^crc64.Update(^uint64(0), crc64Table, p) }

// ZMember is one member of a decoded sorted set.
type ZMember struct {
	Member string
	Score  float64
}

// rdbObject is one decoded value, before it becomes an item.
type rdbObject struct {
	typ    byte // the RDB type it came in
	kind   Kind // KindString, KindList, KindSet, KindHash; 0 for a zset
	str    string
	elems  []string  // list elements in order, set members
	fields []string  // hash: field, value, field, value...
	zset   []ZMember // sorted set, in the payload's order
}

// VerifyDump checks a DUMP payload's footer (version and checksum) and
// returns the object bytes before it.
func VerifyDump(p []byte) ([]byte, bool) {
	if len(p) < 10 {
		return nil, false
	}
	foot := p[len(p)-10:]
	if ver := binary.LittleEndian.Uint16(foot); ver > rdbMaxVersion {
		return nil, false
	}
	if crc64Redis(p[:len(p)-8]) != binary.LittleEndian.Uint64(foot[2:]) {
		return nil, false
	}
	return p[:len(p)-10], true
}

// rdbReader walks an object's bytes; every read is bounds-checked.
type rdbReader struct {
	b       []byte
	decoded int // bytes LZF has produced so far (rdbMaxDecoded)
}

func (r *rdbReader) byte() (byte, error) {
	if len(r.b) == 0 {
		return 0, errRDB
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c, nil
}

func (r *rdbReader) take(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)) {
		return nil, errRDB
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out, nil
}

// length reads an RDB length; enc is true for a special encoding (low 6
// bits in n).
func (r *rdbReader) length() (n uint64, enc bool, err error) {
	c, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch c >> 6 {
	case 0:
		return uint64(c & 0x3f), false, nil
	case 1:
		d, err := r.byte()
		return uint64(c&0x3f)<<8 | uint64(d), false, err
	case 2:
		switch c {
		case 0x80:
			b, err := r.take(4)
			if err != nil {
				return 0, false, err
			}
			return uint64(binary.BigEndian.Uint32(b)), false, nil
		case 0x81:
			b, err := r.take(8)
			if err != nil {
				return 0, false, err
			}
			return binary.BigEndian.Uint64(b), false, nil
		}
		return 0, false, errRDB
	}
	return uint64(c & 0x3f), true, nil
}

// count reads a plain length used as an element count: each element takes
// at least min bytes, so a count the remaining bytes cannot hold is bad
// data before anything is allocated for it.
func (r *rdbReader) count(min int) (int, error) {
	n, enc, err := r.length()
	if err != nil || enc {
		return 0, errRDB
	}
	if n == 0 || n > uint64(len(r.b)/min) {
		return 0, errRDB // Redis refuses empty values too
	}
	return int(n), nil
}

// str reads an RDB string: raw, an integer, or LZF-compressed.
func (r *rdbReader) str() (string, error) {
	n, enc, err := r.length()
	if err != nil {
		return "", err
	}
	if !enc {
		b, err := r.take(n)
		return string(b), err
	}
	switch n {
	case rdbEncInt8:
		b, err := r.take(1)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(int64(int8(b[0])), 10), nil
	case rdbEncInt16:
		b, err := r.take(2)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(int64(int16(binary.LittleEndian.Uint16(b))), 10), nil
	case rdbEncInt32:
		b, err := r.take(4)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(int64(int32(binary.LittleEndian.Uint32(b))), 10), nil
	case rdbEncLZF:
		clen, e1, err := r.length()
		if err != nil || e1 {
			return "", errRDB
		}
		ulen, e2, err := r.length()
		if err != nil || e2 {
			return "", errRDB
		}
		in, err := r.take(clen)
		if err != nil {
			return "", err
		}
		if ulen == 0 || ulen > clen*lzfMaxRatio || uint64(r.decoded)+ulen > rdbMaxDecoded {
			return "", errRDB
		}
		r.decoded += int(ulen)
		out, err := lzfDecompress(in, int(ulen))
		return string(out), err
	}
	return "", errRDB
}

// blob reads a string holding an encoded container (ziplist, listpack,
// intset, zipmap).
func (r *rdbReader) blob() ([]byte, error) {
	s, err := r.str()
	return []byte(s), err
}

// lzfDecompress is liblzf's lzf_decompress: literal runs and
// back-references, producing exactly n bytes.
func lzfDecompress(in []byte, n int) ([]byte, error) {
	out := make([]byte, 0, n)
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 { // literal run of ctrl+1 bytes
			l := ctrl + 1
			if i+l > len(in) || len(out)+l > n {
				return nil, errRDB
			}
			out = append(out, in[i:i+l]...)
			i += l
			continue
		}
		l := ctrl >> 5
		if l == 7 {
			if i >= len(in) {
				return nil, errRDB
			}
			l += int(in[i])
			i++
		}
		if i >= len(in) {
			return nil, errRDB
		}
		ref := len(out) - (ctrl&0x1f)<<8 - 1 - int(in[i])
		i++
		l += 2
		if ref < 0 || len(out)+l > n {
			return nil, errRDB
		}
		for k := 0; k < l; k++ { // may overlap what it writes
			out = append(out, out[ref+k])
		}
	}
	if len(out) != n {
		return nil, errRDB
	}
	return out, nil
}

// DecodeDump decodes a verified payload's object bytes (VerifyDump).
func decodeDump(obj []byte) (*rdbObject, error) {
	r := &rdbReader{b: obj}
	t, err := r.byte()
	if err != nil {
		return nil, err
	}
	return r.object(t)
}

// object decodes one object of RDB type t: one case per type.
func (r *rdbReader) object(t byte) (*rdbObject, error) {
	o := &rdbObject{typ: t}
	var err error
	switch t {
	case rdbTypeString:
		o.kind = KindString
		o.str, err = r.str()
	case rdbTypeList:
		o.kind = KindList
		o.elems, err = r.strs(1)
	case rdbTypeListZiplist:
		o.kind = KindList
		err = r.eachBlob(1, ziplistEntries, func(es []string) { o.elems = es })
	case rdbTypeListQuicklist:
		o.kind = KindList
		o.elems, err = r.quicklist(false)
	case rdbTypeListQuicklist2:
		o.kind = KindList
		o.elems, err = r.quicklist(true)
	case rdbTypeSet:
		o.kind = KindSet
		o.elems, err = r.strs(1)
	case rdbTypeSetIntset:
		o.kind = KindSet
		err = r.eachBlob(1, intsetEntries, func(es []string) { o.elems = es })
	case rdbTypeSetListpack:
		o.kind = KindSet
		err = r.eachBlob(1, listpackEntries, func(es []string) { o.elems = es })
	case rdbTypeHash:
		o.kind = KindHash
		n, cerr := r.count(2)
		if cerr != nil {
			return nil, cerr
		}
		if n > len(r.b)/2 {
			return nil, errRDB
		}
		o.fields, err = r.nstrs(2 * n)
	case rdbTypeHashZiplist:
		o.kind = KindHash
		err = r.eachBlob(2, ziplistEntries, func(es []string) { o.fields = es })
	case rdbTypeHashListpack:
		o.kind = KindHash
		err = r.eachBlob(2, listpackEntries, func(es []string) { o.fields = es })
	case rdbTypeHashZipmap:
		o.kind = KindHash
		err = r.eachBlob(2, zipmapEntries, func(es []string) { o.fields = es })
	case rdbTypeZSet, rdbTypeZSet2:
		o.zset, err = r.zsetSkiplist(t == rdbTypeZSet2)
	case rdbTypeZSetZiplist, rdbTypeZSetListpack:
		dec := ziplistEntries
		if t == rdbTypeZSetListpack {
			dec = listpackEntries
		}
		var perr error
		err = r.eachBlob(2, dec, func(es []string) { o.zset, perr = zsetPairs(es) })
		if err == nil {
			err = perr
		}
	default:
		return nil, errors.New(errRDBUnsupported)
	}
	if err != nil {
		return nil, err
	}
	return o, nil
}

// strs reads a count (each element at least min bytes) and that many strings.
func (r *rdbReader) strs(min int) ([]string, error) {
	n, err := r.count(min)
	if err != nil {
		return nil, err
	}
	return r.nstrs(n)
}

func (r *rdbReader) nstrs(n int) ([]string, error) {
	out := make([]string, 0, n)
	for range n {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// eachBlob reads one blob, decodes its entries with dec, and checks their
// number is a non-zero multiple of per.
func (r *rdbReader) eachBlob(per int, dec func([]byte) ([]string, error), set func([]string)) error {
	b, err := r.blob()
	if err != nil {
		return err
	}
	es, err := dec(b)
	if err != nil {
		return err
	}
	if len(es) == 0 || len(es)%per != 0 {
		return errRDB
	}
	set(es)
	return nil
}

// quicklist reads a quicklist: a node count, then per node a ziplist
// (v1) or a container type and a listpack or one plain element (v2).
func (r *rdbReader) quicklist(v2 bool) ([]string, error) {
	n, err := r.count(2)
	if err != nil {
		return nil, err
	}
	var out []string
	for range n {
		container := uint64(quicklistNodePacked)
		if v2 {
			c, enc, err := r.length()
			if err != nil || enc || (c != quicklistNodePlain && c != quicklistNodePacked) {
				return nil, errRDB
			}
			container = c
		}
		b, err := r.blob()
		if err != nil {
			return nil, err
		}
		if container == quicklistNodePlain {
			out = append(out, string(b))
			continue
		}
		var es []string
		if v2 {
			es, err = listpackEntries(b)
		} else {
			es, err = ziplistEntries(b)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, es...) // an empty node is skipped, as Redis does
	}
	if len(out) == 0 {
		return nil, errRDB // an empty list
	}
	return out, nil
}

// zsetSkiplist reads a skiplist-encoded sorted set: member, then the score
// as 8 bytes (binary, ZSET_2) or a length-prefixed string (ZSET).
func (r *rdbReader) zsetSkiplist(binaryScore bool) ([]ZMember, error) {
	n, err := r.count(2)
	if err != nil {
		return nil, err
	}
	out := make([]ZMember, 0, n)
	for range n {
		m, err := r.str()
		if err != nil {
			return nil, err
		}
		var score float64
		if binaryScore {
			b, err := r.take(8)
			if err != nil {
				return nil, err
			}
			score = math.Float64frombits(binary.LittleEndian.Uint64(b))
		} else {
			l, err := r.byte()
			if err != nil {
				return nil, err
			}
			switch l {
			case 253:
				score = math.NaN()
			case 254:
				score = math.Inf(1)
			case 255:
				score = math.Inf(-1)
			default:
				b, err := r.take(uint64(l))
				if err != nil {
					return nil, err
				}
				if score, err = strconv.ParseFloat(string(b), 64); err != nil {
					return nil, errRDB
				}
			}
		}
		if math.IsNaN(score) {
			return nil, errRDB // Redis: "Zset with NAN score detected"
		}
		out = append(out, ZMember{m, score})
	}
	return out, nil
}

// zsetPairs reads member, score pairs of a ziplist or listpack zset.
func zsetPairs(es []string) ([]ZMember, error) {
	out := make([]ZMember, 0, len(es)/2)
	for i := 0; i < len(es); i += 2 {
		s, err := strconv.ParseFloat(es[i+1], 64)
		if err != nil || math.IsNaN(s) {
			return nil, errRDB
		}
		out = append(out, ZMember{es[i], s})
	}
	return out, nil
}

// --- containers ----------------------------------------------------------

// listpackEntries decodes a listpack: total bytes (u32), count (u16),
// entries each followed by its back-length, and 0xFF.
func listpackEntries(b []byte) ([]string, error) {
	if len(b) < 7 || int(binary.LittleEndian.Uint32(b)) != len(b) || b[len(b)-1] != 0xff {
		return nil, errRDB
	}
	n := int(binary.LittleEndian.Uint16(b[4:]))
	p := b[6 : len(b)-1]
	out := make([]string, 0, min(n, len(p)/2))
	for len(p) > 0 {
		c := p[0]
		var v string
		var size int // encoding and data
		switch {
		case c&0x80 == 0:
			v, size = strconv.Itoa(int(c)), 1
		case c&0xc0 == 0x80:
			l := int(c & 0x3f)
			size = 1 + l
			if size > len(p) {
				return nil, errRDB
			}
			v = string(p[1:size])
		case c&0xe0 == 0xc0:
			if len(p) < 2 {
				return nil, errRDB
			}
			u := int64(c&0x1f)<<8 | int64(p[1])
			v, size = strconv.FormatInt(signExtend(u, 13), 10), 2
		case c&0xf0 == 0xe0:
			if len(p) < 2 {
				return nil, errRDB
			}
			l := int(c&0x0f)<<8 | int(p[1])
			size = 2 + l
			if size > len(p) {
				return nil, errRDB
			}
			v = string(p[2:size])
		case c == 0xf0:
			if len(p) < 5 {
				return nil, errRDB
			}
			l := uint64(binary.LittleEndian.Uint32(p[1:]))
			if l > uint64(len(p)-5) {
				return nil, errRDB
			}
			size = 5 + int(l)
			v = string(p[5:size])
		case c >= 0xf1 && c <= 0xf4:
			w := [...]int{2, 3, 4, 8}[c-0xf1]
			if len(p) < 1+w {
				return nil, errRDB
			}
			var u uint64
			for k := w; k >= 1; k-- {
				u = u<<8 | uint64(p[k])
			}
			v, size = strconv.FormatInt(signExtend(int64(u), 8*w), 10), 1+w
		default:
			return nil, errRDB
		}
		bl := backlenSize(size)
		if size+bl > len(p) {
			return nil, errRDB
		}
		p = p[size+bl:]
		out = append(out, v)
	}
	if n != 0xffff && n != len(out) {
		return nil, errRDB
	}
	return out, nil
}

func backlenSize(l int) int {
	switch {
	case l <= 127:
		return 1
	case l < 16383:
		return 2
	case l < 2097151:
		return 3
	case l < 268435455:
		return 4
	}
	return 5
}

// signExtend reads the low bits of u as a two's complement number.
func signExtend(u int64, bits int) int64 {
	if bits >= 64 {
		return u
	}
	if u&(1<<(bits-1)) != 0 {
		return u - 1<<bits
	}
	return u
}

// ziplistEntries decodes a ziplist: total bytes (u32), tail offset (u32),
// count (u16), entries each preceded by the previous entry's length, 0xFF.
func ziplistEntries(b []byte) ([]string, error) {
	if len(b) < 11 || int(binary.LittleEndian.Uint32(b)) != len(b) || b[len(b)-1] != 0xff {
		return nil, errRDB
	}
	n := int(binary.LittleEndian.Uint16(b[8:]))
	p := b[10 : len(b)-1]
	out := make([]string, 0, min(n, len(p)/2))
	for len(p) > 0 {
		if p[0] == 0xfe { // previous length: 0xFE and 4 bytes
			if len(p) < 5 {
				return nil, errRDB
			}
			p = p[5:]
		} else {
			p = p[1:]
		}
		if len(p) == 0 {
			return nil, errRDB
		}
		c := p[0]
		var v string
		var size int
		switch c >> 6 {
		case 0:
			size = 1 + int(c&0x3f)
			if size > len(p) {
				return nil, errRDB
			}
			v = string(p[1:size])
		case 1:
			if len(p) < 2 {
				return nil, errRDB
			}
			size = 2 + (int(c&0x3f)<<8 | int(p[1]))
			if size > len(p) {
				return nil, errRDB
			}
			v = string(p[2:size])
		case 2:
			if c != 0x80 || len(p) < 5 {
				return nil, errRDB
			}
			l := uint64(binary.BigEndian.Uint32(p[1:]))
			if l > uint64(len(p)-5) {
				return nil, errRDB
			}
			size = 5 + int(l)
			v = string(p[5:size])
		default:
			var w int
			switch c {
			case 0xc0:
				w = 2
			case 0xd0:
				w = 4
			case 0xe0:
				w = 8
			case 0xf0:
				w = 3
			case 0xfe:
				w = 1
			default:
				if c >= 0xf1 && c <= 0xfd {
					v, size = strconv.Itoa(int(c&0x0f)-1), 1
				} else {
					return nil, errRDB
				}
			}
			if w > 0 {
				if len(p) < 1+w {
					return nil, errRDB
				}
				var u uint64
				for k := w; k >= 1; k-- {
					u = u<<8 | uint64(p[k])
				}
				v, size = strconv.FormatInt(signExtend(int64(u), 8*w), 10), 1+w
			}
		}
		p = p[size:]
		out = append(out, v)
	}
	if n != 0xffff && n != len(out) {
		return nil, errRDB
	}
	return out, nil
}

// intsetEntries decodes an intset: width in bytes (u32: 2, 4 or 8),
// count (u32), the integers little-endian in ascending order.
func intsetEntries(b []byte) ([]string, error) {
	if len(b) < 8 {
		return nil, errRDB
	}
	w := binary.LittleEndian.Uint32(b)
	n := uint64(binary.LittleEndian.Uint32(b[4:]))
	if (w != 2 && w != 4 && w != 8) || n*uint64(w) != uint64(len(b)-8) {
		return nil, errRDB
	}
	out := make([]string, 0, n)
	p := b[8:]
	prev := int64(math.MinInt64)
	for i := range int(n) {
		var v int64
		switch w {
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(p[2*i:])))
		case 4:
			v = int64(int32(binary.LittleEndian.Uint32(p[4*i:])))
		default:
			v = int64(binary.LittleEndian.Uint64(p[8*i:]))
		}
		if i > 0 && v <= prev {
			return nil, errRDB // an intset is sorted without duplicates
		}
		prev = v
		out = append(out, strconv.FormatInt(v, 10))
	}
	return out, nil
}

// zipmapEntries decodes a zipmap (hashes of Redis before 2.6): count byte,
// then key length, key, value length, free byte, value, free bytes; 0xFF.
func zipmapEntries(b []byte) ([]string, error) {
	if len(b) < 2 || b[len(b)-1] != 0xff {
		return nil, errRDB
	}
	p := b[1 : len(b)-1]
	var out []string
	zlen := func() (int, error) {
		if len(p) == 0 {
			return 0, errRDB
		}
		if p[0] < 254 {
			l := int(p[0])
			p = p[1:]
			return l, nil
		}
		if p[0] != 254 || len(p) < 5 {
			return 0, errRDB
		}
		l := uint64(binary.LittleEndian.Uint32(p[1:]))
		p = p[5:]
		if l > uint64(len(p)) {
			return 0, errRDB
		}
		return int(l), nil
	}
	for len(p) > 0 {
		kl, err := zlen()
		if err != nil || kl > len(p) {
			return nil, errRDB
		}
		k := string(p[:kl])
		p = p[kl:]
		vl, err := zlen()
		if err != nil || len(p) < 1 {
			return nil, errRDB
		}
		free := int(p[0])
		p = p[1:]
		if vl+free > len(p) {
			return nil, errRDB
		}
		out = append(out, k, string(p[:vl]))
		p = p[vl+free:]
	}
	return out, nil
}

// --- to and from items ---------------------------------------------------

// item builds the stored value for key, or an error text. Duplicate set
// members or hash fields are bad data, as Redis's loader finds them.
func (o *rdbObject) item(key string) (*item, string) {
	it := &item{key: key, kind: o.kind}
	switch o.kind {
	case KindString:
		it.str = o.str
	case KindList:
		it.list = newList(o.elems)
	case KindSet:
		if !it.fillSet(o.elems) {
			return nil, errBadDataFormat
		}
	case KindHash:
		if !it.fillHash(o.fields) {
			return nil, errBadDataFormat
		}
	default: // a sorted set (kind 0 in the payload's object)
		it.kind = KindZSet
		z := newZset()
		for _, m := range o.zset {
			if _, dup := z.score(m.Member); dup || math.IsNaN(m.Score) {
				return nil, errBadDataFormat
			}
			z.set(m.Member, m.Score)
		}
		z.settle()
		it.zset = z
	}
	return it, ""
}

// dumpItem serializes it as Redis 7.0's DUMP payload, in encodings any
// Redis from 2.x on loads (a string, a plain list, set or hash): Redis
// converts to its compact encodings as it loads them.
func dumpItem(it *item) []byte {
	var b []byte
	switch it.kind {
	case KindString:
		b = append(b, rdbTypeString)
		b = appendRDBString(b, it.str)
	case KindList:
		b = append(b, rdbTypeList)
		b = appendRDBLen(b, uint64(it.list.len()))
		it.list.scan(0, func(_ int, v string) bool {
			b = appendRDBString(b, v)
			return true
		})
	case KindSet:
		b = append(b, rdbTypeSet)
		b = appendRDBLen(b, uint64(it.members().Len()))
		it.members().Scan(func(m string) bool {
			b = appendRDBString(b, m)
			return true
		})
	case KindHash:
		b = append(b, rdbTypeHash)
		b = appendRDBLen(b, uint64(it.hashLen()))
		it.hashScan(func(k, v string) bool {
			b = appendRDBString(b, k)
			b = appendRDBString(b, v)
			return true
		})
	case KindZSet: // member, then the score as a little-endian binary double
		b = append(b, rdbTypeZSet2)
		b = appendRDBLen(b, uint64(it.zset.len()))
		it.zset.byScore.Scan(func(e zent) bool {
			b = appendRDBString(b, e.member)
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.score))
			return true
		})
	}
	b = binary.LittleEndian.AppendUint16(b, rdbVersion)
	return binary.LittleEndian.AppendUint64(b, crc64Redis(b))
}

func appendRDBLen(b []byte, n uint64) []byte {
	switch {
	case n < 1<<6:
		return append(b, byte(n))
	case n < 1<<14:
		return append(b, byte(n>>8)|0x40, byte(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, 0x80), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, 0x81), n)
}

func appendRDBString(b []byte, s string) []byte {
	return append(appendRDBLen(b, uint64(len(s))), s...)
}

// DumpDigest is a SHA-256 of the value a DUMP payload holds, independent
// of its encoding and of the order of set members and hash fields: two
// payloads of the same value (Redis's listpack, statehouse's plain
// encoding) have the same digest. kind names the value's type.
func DumpDigest(p []byte) (sum [32]byte, kind string, err error) {
	obj, ok := VerifyDump(p)
	if !ok {
		return sum, "", errors.New(errDumpPayload[4:])
	}
	o, err := decodeDump(obj)
	if err != nil {
		return sum, "", err
	}
	h := sha256.New()
	put := func(s string) {
		h.Write(binary.AppendUvarint(nil, uint64(len(s))))
		h.Write([]byte(s))
	}
	switch o.kind {
	case KindString:
		kind = "string"
		put(o.str)
	case KindList:
		kind = "list"
		for _, e := range o.elems {
			put(e)
		}
	case KindSet:
		kind = "set"
		ms := slices.Clone(o.elems)
		slices.Sort(ms)
		for _, e := range ms {
			put(e)
		}
	case KindHash:
		kind = "hash"
		idx := make([]int, 0, len(o.fields)/2)
		for i := 0; i < len(o.fields); i += 2 {
			idx = append(idx, i)
		}
		slices.SortFunc(idx, func(a, b int) int { return strings.Compare(o.fields[a], o.fields[b]) })
		for _, i := range idx {
			put(o.fields[i])
			put(o.fields[i+1])
		}
	default:
		kind = "zset"
		ms := slices.Clone(o.zset)
		slices.SortFunc(ms, func(a, b ZMember) int { return strings.Compare(a.Member, b.Member) })
		for _, m := range ms {
			put(m.Member)
			put(strconv.FormatFloat(m.Score, 'g', -1, 64))
		}
	}
	put(kind)
	h.Sum(sum[:0])
	return sum, kind, nil
}
