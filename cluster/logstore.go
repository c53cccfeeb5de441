package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
func openLogStore(dir string, noSync bool, log hclog.Logger) (logStore, string, error) {
	unlock, err := lockDataDir(dir)
	if err != nil {
		return nil, "", err
	}
	s, kind, err := openUnlocked(dir, noSync, log)
	if err != nil {
		unlock()
		return nil, "", err
	}
	return lockedStore{s, unlock}, kind, nil
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

type lockedStore struct {
	logStore
	unlock func()
}

func (s lockedStore) Close() error {
	defer s.unlock()
	return s.logStore.Close()
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
