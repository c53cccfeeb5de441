package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
)

// A torn tail is the log's last write cut short by a crash, or its bytes
// changed on disk afterwards. raft-wal recovers from either silently when it
// opens (segment/writer.go, recoverTail): it ignores frames after the last
// commit frame and, if the last commit's batch fails its CRC, that batch
// too, so the node restarts with a shorter log. A write cut short was never
// fsynced, so this node never acknowledged it; a batch damaged after its
// fsync may have been, but then another member of the quorum holds it and
// the leader sends it again (a group of one has no other copy). So after
// raft-wal opens, this finds whether the tail segment holds bytes after the
// end raft-wal recovered, and says so if it does.
//
// raft-wal does not say where its recovered tail ends (the writer's offset
// is unexported), so this walks the tail segment's frames itself, read-only,
// following the on-disk format raft-wal documents (segment/format.go): a
// 32-byte file header, then frames of an 8-byte header (type, three zero
// bytes, little-endian length, or CRC for a commit frame) and a payload
// padded to 8 bytes. raft-wal recovered LastIndex; the recovered end is the
// commit frame after that entry's frame. Segment files are preallocated
// zero-filled, so any non-zero byte past that end is what raft-wal ignored.
// Finding the last one reads the rest of the segment (64 MiB, mostly zeros:
// some 20 ms), once per start.
//
// What it cannot tell: bytes a torn write left that a later, shorter write
// did not cover stay past the end until the segment fills, so the warning
// comes again at each restart until then (the bytes are still ignored, but
// nothing new was dropped).

// Frame types and sizes of raft-wal's segment format (segment/format.go).
const (
	walFileHeaderLen  = 32
	walFrameHeaderLen = 8
	walFrameEntry     = 1
	walFrameIndex     = 2
	walFrameCommit    = 3
)

// tornTail is what the tail segment holds past the end raft-wal recovered.
type tornTail struct {
	segment   string // the tail segment file
	lastGood  uint64 // the log's last index after recovery
	end       int64  // where raft-wal's recovered tail ends in the file
	discarded int64  // bytes from end to the last non-zero byte
}

// reportTornTail logs a warning if raft-wal ignored bytes at the end of the
// log it just opened. It never writes: a check that fails is logged and the
// node starts as raft-wal recovered it.
func reportTornTail(dir string, w *wal.WAL, meta *metadb.BoltMetaDB, log hclog.Logger) {
	t, err := findTornTail(dir, w, meta)
	if err != nil {
		log.Warn("could not check the raft log's tail for a torn write", "dir", dir, "err", err)
		return
	}
	if t.discarded == 0 {
		return
	}
	log.Warn("the raft log's last write was torn or damaged: discarded what followed the last good entry; "+
		"entries after it, if they were acknowledged, are on a quorum and come back from the leader (a group of one has no other copy)",
		"segment", t.segment, "last_good_index", t.lastGood, "discarded_bytes", t.discarded)
}

func findTornTail(dir string, w *wal.WAL, meta *metadb.BoltMetaDB) (tornTail, error) {
	state, err := meta.Load(dir) // the WAL has it open already: this only reads
	if err != nil {
		return tornTail{}, err
	}
	var tail *waltypes.SegmentInfo
	for i := range state.Segments {
		if state.Segments[i].SealTime.IsZero() {
			tail = &state.Segments[i]
		}
	}
	if tail == nil {
		return tornTail{}, nil // nothing unsealed: raft-wal recovered no tail
	}
	last, err := w.LastIndex()
	if err != nil {
		return tornTail{}, err
	}
	t := tornTail{segment: filepath.Join(dir, segment.FileName(*tail)), lastGood: last}
	f, err := os.Open(t.segment)
	if err != nil {
		return t, err
	}
	defer f.Close()
	var kept uint64 // entries raft-wal kept in this segment
	if last >= tail.BaseIndex {
		kept = last - tail.BaseIndex + 1
	}
	if t.end, err = recoveredEnd(f, kept); err != nil {
		return t, fmt.Errorf("%s: %w", t.segment, err)
	}
	lastNonZero, err := lastNonZeroByte(f, t.end)
	if err != nil {
		return t, fmt.Errorf("%s: %w", t.segment, err)
	}
	if lastNonZero >= t.end {
		t.discarded = lastNonZero + 1 - t.end
	}
	return t, nil
}

// walFrame is one frame header of a segment file.
type walFrame struct {
	off int64  // where the header starts
	typ byte   // walFrameEntry, walFrameIndex or walFrameCommit
	len uint32 // the payload's length (0 for a commit frame)
}

// size is the frame's length in the file, header and padding included.
func (fr walFrame) size() int64 {
	n := int64(fr.len)
	return walFrameHeaderLen + n + (walFrameHeaderLen-n%walFrameHeaderLen)%walFrameHeaderLen
}

// walkFrames calls fn for each frame from the file header on, as raft-wal's
// recovery reads them: up to the first header that is not a frame (zeros, a
// torn write) or the end of the file, or until fn returns false.
func walkFrames(f io.ReaderAt, fn func(walFrame) bool) error {
	var h [walFrameHeaderLen]byte
	for off := int64(walFileHeaderLen); ; {
		if _, err := f.ReadAt(h[:], off); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		fr := walFrame{off: off, typ: h[0]}
		if h[1] != 0 || h[2] != 0 || h[3] != 0 || fr.typ < walFrameEntry || fr.typ > walFrameCommit {
			return nil
		}
		if fr.typ != walFrameCommit { // a commit frame holds its batch's CRC there
			fr.len = binary.LittleEndian.Uint32(h[4:])
		}
		if !fn(fr) {
			return nil
		}
		off += fr.size()
	}
}

// recoveredEnd is the file offset just past the commit frame that follows
// the kept-th entry frame: where raft-wal's next append will write. With no
// entry kept, raft-wal starts the file over from offset 0.
func recoveredEnd(f io.ReaderAt, kept uint64) (int64, error) {
	if kept == 0 {
		return 0, nil
	}
	entries, end := uint64(0), int64(-1)
	err := walkFrames(f, func(fr walFrame) bool {
		switch {
		case fr.typ == walFrameEntry:
			entries++
		case fr.typ == walFrameCommit && entries == kept:
			end = fr.off + fr.size()
		}
		return end < 0 && entries <= kept
	})
	if err != nil {
		return 0, err
	}
	if end < 0 {
		return 0, fmt.Errorf("raft-wal kept %d entries but no commit frame follows entry %d", kept, kept)
	}
	return end, nil
}

// lastNonZeroByte is the offset of the file's last non-zero byte at or
// after from, or from-1 if there is none.
func lastNonZeroByte(f io.ReaderAt, from int64) (int64, error) {
	const chunk = 1 << 20
	buf, zero := make([]byte, chunk), make([]byte, chunk)
	last := from - 1
	for off := from; ; off += chunk {
		n, err := f.ReadAt(buf, off)
		if !bytes.Equal(buf[:n], zero[:n]) {
			i := n - 1
			for buf[i] == 0 {
				i--
			}
			last = off + int64(i)
		}
		if errors.Is(err, io.EOF) {
			return last, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
