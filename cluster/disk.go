package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
)

// A full disk. Every write is appended to the Raft log on the leader
// before it commits, and raft-wal appends into 64 MiB segment files it
// allocates whole when it opens the next one. When an append fails,
// hashicorp/raft steps the leader down; it wins the next election (its log
// is the longest), fails again, and the cluster flaps with every request
// answered CLUSTERDOWN. So the leader refuses writes before they reach the
// log while its data dir's file system has less than MinFreeDisk free
// (ErrDiskFull, which the server answers -MISCONF, as Redis does when it
// cannot persist), and takes them again by itself once space returns.
// Reads need no disk and go on. A follower whose disk fills is not
// refused anything: it cannot append what the leader sends, falls behind,
// and its reads go through the leader (ErrBehind) until space returns.
// A leader whose disk stays full hands leadership to a member that says
// (in its clock replies) it has room, so writes go on; when every
// member's disk is full (nodes sharing one), leadership stays put.

// ErrDiskFull: the leader's data dir is short of space; the write was
// certainly not applied. The message says how much is free (-MISCONF).
var ErrDiskFull = errors.New("disk full")

const (
	// DefaultMinFreeDisk is the free space a leader keeps: room for the
	// next log segment (64 MiB), the largest entry (MaxEntryBytes) and the
	// log's metadata, with margin.
	DefaultMinFreeDisk = 256 << 20
	// diskRecheckBytes of writes taken ask for a check before the next
	// interval; far less than a log segment (64 MiB).
	diskRecheckBytes = 8 << 20
)

// diskState is what the node knows of its data dir's file system.
type diskState struct {
	free  atomic.Int64 // bytes available at the last check; -1: unknown
	total atomic.Int64 // the file system's size in bytes
	used  atomic.Int64 // bytes the data dir holds
	// written is what the leader has taken since the last check: at
	// thousands of writes a second, a second-old figure is far off.
	written   atomic.Int64
	failed    atomic.Bool  // a write to the log failed since space was last enough
	reported  atomic.Bool  // the state last logged: full or not
	fullSince atomic.Int64 // monotonic ms when it was last found full; 0: not full
	handedOff atomic.Int64 // monotonic ms of the last hand-off of leadership
	kick      chan struct{}
}

// DiskStatus is what INFO and the metrics report of the data dir.
type DiskStatus struct {
	Free, Total, Used int64 // bytes; Free and Total are the file system's
	MinFree           int64 // the node's MinFreeDisk; 0: not checked
	Full              bool  // writes are refused for want of space
}

// Disk reports the data dir's space as last checked.
func (n *Node) Disk() DiskStatus {
	return DiskStatus{
		Free: n.disk.free.Load(), Total: n.disk.total.Load(), Used: n.disk.used.Load(),
		MinFree: max(n.cfg.MinFreeDisk, 0), Full: n.diskFull(),
	}
}

func (n *Node) diskFull() bool {
	if n.cfg.MinFreeDisk <= 0 {
		return false
	}
	free := n.disk.free.Load()
	return n.disk.failed.Load() || free >= 0 && free-n.disk.written.Load() < n.cfg.MinFreeDisk
}

// checkDisk refuses a write of size bytes while the data dir is short of
// space, and counts it if it goes ahead.
func (n *Node) checkDisk(size int) error {
	if !n.diskFull() {
		if n.cfg.MinFreeDisk > 0 {
			// Free space falls by a whole segment when the log opens its
			// next one, which the count of bytes written does not see:
			// check again well before a segment's worth of writes.
			if n.disk.written.Add(int64(size)) >= diskRecheckBytes || n.diskFull() {
				n.kickDisk() // this one goes ahead; the next waits for a real figure
			}
		}
		return nil
	}
	return fmt.Errorf("%w: node %s cannot persist writes: its data dir has %s free, under --min-free-disk %s. "+
		"Writes are refused until space is freed; reads go on", ErrDiskFull, n.cfg.NodeID,
		humanBytes(max(n.disk.free.Load()-n.disk.written.Load(), 0)), humanBytes(n.cfg.MinFreeDisk))
}

// runDisk reads the data dir's free space every diskCheckInterval, and at
// once after a failed write, and logs each change of state.
func (n *Node) runDisk() {
	defer n.wg.Done()
	t := time.NewTicker(diskCheckInterval)
	defer t.Stop()
	for {
		n.measureDisk()
		n.handOffIfFull()
		select {
		case <-t.C:
		case <-n.disk.kick:
		case <-n.stop:
			return
		}
	}
}

func (n *Node) measureDisk() {
	// Writes taken from here on may be on disk before statfs looks and be
	// counted twice: never too few.
	written := n.disk.written.Load()
	free, total, err := statDisk(n.cfg.DataDir)
	if err != nil {
		n.log.Warn("cannot read the data dir's free space", "dir", n.cfg.DataDir, "err", err)
		return
	}
	n.disk.written.Add(-written)
	n.disk.free.Store(free)
	n.disk.total.Store(total)
	n.disk.used.Store(dirSize(n.cfg.DataDir))
	if free >= n.cfg.MinFreeDisk && n.recoverLog(free) {
		n.disk.failed.Store(false)
	}
	full := n.diskFull()
	if n.disk.reported.Swap(full) == full {
		return
	}
	if full {
		n.disk.fullSince.Store(max(n.clock.monoMs(), 1))
	} else {
		n.disk.fullSince.Store(0)
	}
	if full {
		n.log.Error("data dir short of space: refusing writes while this node leads until space is freed",
			"dir", n.cfg.DataDir, "free", humanBytes(free), "min_free_disk", humanBytes(n.cfg.MinFreeDisk))
	} else {
		n.log.Info("data dir has space again: taking writes", "dir", n.cfg.DataDir, "free", humanBytes(free))
	}
}

// handOffIfFull passes leadership on from a leader whose disk has been
// full for diskHandOffAfter (long enough for every member to have checked
// its own and said so) to a member with room, at most once every
// diskHandOffInterval.
func (n *Node) handOffIfFull() {
	since := n.disk.fullSince.Load()
	m := n.clock.monoMs()
	last := n.disk.handedOff.Load()
	if since == 0 || n.raft.State() != raft.Leader || m-since < diskHandOffAfter.Milliseconds() ||
		last != 0 && m-last < diskHandOffInterval.Milliseconds() {
		return
	}
	// A member's word counts if it was given a check interval after this
	// node found its disk full: one sharing the disk has seen it too.
	after := n.cfg.Clock() - (m - since) + diskCheckInterval.Milliseconds()
	to, ok := n.memberWithRoom(after)
	if !ok {
		return
	}
	n.disk.handedOff.Store(m)
	n.log.Warn("data dir short of space: handing leadership to a member with room", "to", to.ID)
	go func() {
		if err := n.handOff(to.ID, to.Address); err != nil {
			n.log.Warn("handing leadership on failed", "to", to.ID, "err", err)
		}
	}()
}

// memberWithRoom is a voter other than this node that said, in a clock
// reply since after (this node's clock, ms), that its disk is not full.
func (n *Node) memberWithRoom(after int64) (raft.Server, bool) {
	fut := n.raft.GetConfiguration()
	if fut.Error() != nil {
		return raft.Server{}, false
	}
	c := &n.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range fut.Configuration().Servers {
		smp, ok := c.samples[s.ID]
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID && ok && smp.diskRoom && smp.at >= after {
			return s, true
		}
	}
	return raft.Server{}, false
}

// recoverLog reopens a log left unable to append once there is room for
// the segment it failed to open; it reports whether the log can append.
func (n *Node) recoverLog(free int64) bool {
	if !n.store.stuck.Load() {
		return true
	}
	if free < int64(wal.DefaultSegmentSize) {
		return false
	}
	if _, err := n.store.recover(); err != nil {
		n.log.Error("reopening the raft log failed; trying again", "dir", n.cfg.DataDir, "err", err)
		return false
	}
	n.log.Warn("raft log reopened: it could not open its next segment for want of space, and there is space again",
		"dir", n.cfg.DataDir, "free", humanBytes(free))
	return true
}

// writeFailed is told of every failed write to the log or stable store:
// writes are refused until a check finds space again, so a leader does
// not keep failing appends (each one steps it down).
func (n *Node) writeFailed(err error) {
	if n.cfg.MinFreeDisk > 0 && !n.disk.failed.Swap(true) {
		n.log.Error("writing the raft log failed: refusing writes until the data dir has space", "err", err,
			"dir", n.cfg.DataDir)
	}
	n.kickDisk()
}

// kickDisk asks for a check now.
func (n *Node) kickDisk() {
	select {
	case n.disk.kick <- struct{}{}:
	default:
	}
}

// statDisk returns the bytes available to this process and the size of
// the file system holding dir.
func statDisk(dir string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, err
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}

// dirSize is the bytes the files under dir take on disk (preallocated log
// segments count whole).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			} else {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func humanBytes(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

// tidySnapshots is the file snapshot store, minus its leftovers: a
// snapshot cut short (a full disk) can leave its temporary directory
// behind when writing its data or its metadata fails, and those are
// removed, as are any left by a crash when the node opens.
type tidySnapshots struct {
	*raft.FileSnapshotStore
	dir string // where the store keeps snapshots
}

const snapshotTmpSuffix = ".tmp" // hashicorp/raft's name for a snapshot being written

func newTidySnapshots(store *raft.FileSnapshotStore, dataDir string, log func(msg string, args ...any)) tidySnapshots {
	dir := filepath.Join(dataDir, "snapshots")
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*"+snapshotTmpSuffix))
	for _, p := range leftovers {
		if err := os.RemoveAll(p); err != nil {
			log("cannot remove an unfinished snapshot", "path", p, "err", err)
		} else {
			log("removed an unfinished snapshot", "path", p)
		}
	}
	return tidySnapshots{store, dir}
}

func (s tidySnapshots) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		// Its directory is made before its metadata is written, and left
		// if that fails; the name ends with the time, so match the rest.
		left, _ := filepath.Glob(filepath.Join(s.dir, fmt.Sprintf("%d-%d-*%s", term, index, snapshotTmpSuffix)))
		for _, p := range left {
			os.RemoveAll(p)
		}
		return nil, err
	}
	return tidySink{sink, filepath.Join(s.dir, sink.ID()+snapshotTmpSuffix)}, nil
}

type tidySink struct {
	raft.SnapshotSink
	tmp string
}

func (s tidySink) Close() error {
	err := s.SnapshotSink.Close()
	if err != nil {
		s.remove() // gone already if it was moved into place
	}
	return err
}

func (s tidySink) Cancel() error {
	err := s.SnapshotSink.Cancel()
	s.remove()
	return err
}

// remove deletes the unfinished snapshot. When the file sink fails to
// flush its data (a full disk) it returns without closing the file, whose
// space a file system frees only once it is closed: the garbage
// collector closes it once the sink is dropped, so one is asked for soon
// after, rather than at the runtime's next one (up to two minutes later).
func (s tidySink) remove() {
	os.RemoveAll(s.tmp)
	time.AfterFunc(snapshotReleaseDelay, runtime.GC)
}
