package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
	"go.etcd.io/bbolt"
)

// logStore is Raft's log and stable store on disk.
type logStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// Where a data dir keeps its Raft log: raft-wal's segment files in wal/, or
// (data dirs made before statehouse moved to raft-wal) raft-boltdb's raft.db.
const (
	walDirName  = "wal"
	boltLogName = "raft.db"
)

// openLogStore opens the data dir's Raft log. A new data dir gets raft-wal:
// an append is one write and one fsync, where bbolt's commit costs two
// (pages, then meta), and every write waits for the leader's append and then
// a follower's. A data dir that already holds raft.db keeps it.
func openLogStore(dir string, noSync bool, log hclog.Logger) (*dataLog, string, error) {
	unlock, err := lockDataDir(dir)
	if err != nil {
		return nil, "", err
	}
	s, kind, err := openUnlocked(dir, noSync, log)
	if err != nil {
		unlock()
		return nil, "", err
	}
	d := &dataLog{s: s, unlock: unlock, failed: func(error) {}}
	if _, ok := s.(walStore); ok {
		d.reopen = func() (logStore, error) {
			s, _, err := openUnlocked(dir, noSync, log)
			return s, err
		}
	}
	return d, kind, nil
}

// lockDataDir takes an exclusive lock on DIR/LOCK, held until the store
// closes: two processes on one data dir would corrupt it.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another statehouse process", dir)
		}
		return nil, fmt.Errorf("data dir lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the file drops the lock
}

// dataLog is the node's log and stable store: the store openLogStore
// opened, holding the data dir's lock until it closes, telling the node of
// every failed write, and reopened in place when a full disk has left
// raft-wal unable to append. raft-wal opens its next segment file after
// an append fills the last; if that fails (no space for the new file), the
// last segment stays sealed and every later append fails with ErrSealed
// until the WAL is opened again, which recovers the rotation.
type dataLog struct {
	mu     sync.RWMutex // held for writing only to swap s
	s      logStore
	reopen func() (logStore, error) // nil: the store needs no reopening
	unlock func()
	failed func(error) // told of every failed write
	stuck  atomic.Bool // an append failed for a segment left sealed
}

func (d *dataLog) store() (logStore, func()) {
	d.mu.RLock()
	return d.s, d.mu.RUnlock
}

func (d *dataLog) FirstIndex() (uint64, error) {
	s, done := d.store()
	defer done()
	return s.FirstIndex()
}

func (d *dataLog) LastIndex() (uint64, error) {
	s, done := d.store()
	defer done()
	return s.LastIndex()
}

func (d *dataLog) GetLog(index uint64, l *raft.Log) error {
	s, done := d.store()
	defer done()
	return s.GetLog(index, l)
}

func (d *dataLog) StoreLog(l *raft.Log) error {
	return d.StoreLogs([]*raft.Log{l})
}

func (d *dataLog) StoreLogs(ls []*raft.Log) error {
	s, done := d.store()
	defer done()
	return d.check(s.StoreLogs(ls))
}

func (d *dataLog) DeleteRange(lo, hi uint64) error {
	s, done := d.store()
	defer done()
	return d.check(s.DeleteRange(lo, hi))
}

func (d *dataLog) Set(k, v []byte) error {
	s, done := d.store()
	defer done()
	return d.check(s.Set(k, v))
}

func (d *dataLog) Get(k []byte) ([]byte, error) {
	s, done := d.store()
	defer done()
	return s.Get(k)
}

func (d *dataLog) SetUint64(k []byte, v uint64) error {
	s, done := d.store()
	defer done()
	return d.check(s.SetUint64(k, v))
}

func (d *dataLog) GetUint64(k []byte) (uint64, error) {
	s, done := d.store()
	defer done()
	return s.GetUint64(k)
}

func (d *dataLog) check(err error) error {
	if err != nil {
		if errors.Is(err, waltypes.ErrSealed) {
			d.stuck.Store(true)
		}
		d.failed(err)
	}
	return err
}

// recover reopens a store left unable to append, once there may be space
// for its next segment; it reports whether it did. A failed reopen leaves
// the closed store in place (every call fails) to be tried again.
func (d *dataLog) recover() (bool, error) {
	if d.reopen == nil || !d.stuck.Load() {
		return false, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.s.Close()
	s, err := d.reopen()
	if err != nil {
		return false, err
	}
	d.s = s
	d.stuck.Store(false)
	return true, nil
}

func (d *dataLog) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.unlock()
	return d.s.Close()
}

func openUnlocked(dir string, noSync bool, log hclog.Logger) (logStore, string, error) {
	boltPath := filepath.Join(dir, boltLogName)
	if _, err := os.Stat(boltPath); err == nil {
		s, err := raftboltdb.New(raftboltdb.Options{
			Path:   boltPath,
			NoSync: noSync,
			// As Consul and Vault run bbolt: no freelist sync, map freelist.
			BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
		})
		if err != nil {
			return nil, "", fmt.Errorf("open raft log %s: %w", boltPath, err)
		}
		return s, "raft-boltdb", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("raft log: %w", err)
	}
	walDir := filepath.Join(dir, walDirName)
	if err := os.MkdirAll(walDir, 0o750); err != nil {
		return nil, "", fmt.Errorf("raft log: %w", err)
	}
	var vfs waltypes.VFS = walfs.New()
	if noSync {
		vfs = noSyncFS{walfs.New()}
	}
	// raft-wal's Close leaves its meta database open (and locked): keep a
	// handle to close it, or a reopen in the same process blocks forever.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir, wal.WithLogger(log.Named("wal")), wal.WithMetaStore(meta),
		wal.WithSegmentFiler(segment.NewFiler(walDir, vfs)))
	if err != nil {
		meta.Close()
		return nil, "", fmt.Errorf("open raft log %s: %w", walDir, err)
	}
	reportTornTail(walDir, w, meta, log.Named("wal"))
	return walStore{w, meta}, "raft-wal", nil
}

type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

func (s walStore) Close() error {
	return errors.Join(s.WAL.Close(), s.meta.Close())
}

// noSyncFS is the file system raft-wal writes through under --no-fsync:
// every Sync is skipped, so a write is acknowledged once it is in the page
// cache (lost on power loss, kept across a process crash).
type noSyncFS struct{ *walfs.FS }

func (f noSyncFS) Create(dir, name string, size uint64) (waltypes.WritableFile, error) {
	w, err := f.FS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return noSyncFile{w}, nil
}

func (f noSyncFS) OpenWriter(dir, name string) (waltypes.WritableFile, error) {
	w, err := f.FS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return noSyncFile{w}, nil
}

type noSyncFile struct{ waltypes.WritableFile }

func (noSyncFile) Sync() error { return nil }
