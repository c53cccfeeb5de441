package cluster

import (
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// logCache keeps the newest log entries in memory for replication, as
// raft.LogCache does, but within a byte budget: group commit makes entries
// of up to MaxBatchBytes (and a single write up to MaxEntryBytes), so 64
// of them could pin hundreds of MiB after a bulk load, long after any
// follower needed them. An entry over logCacheMaxEntry is not cached, and
// the oldest cached ones are dropped while the cache holds more than
// logCacheBytes; a follower that needs a dropped entry reads it from disk.
type logCache struct {
	raft.LogStore
	mu    sync.RWMutex
	slots []*raft.Log
	bytes int // of Data held in slots
}

const (
	logCacheBytes    = 8 << 20
	logCacheMaxEntry = 1 << 20
)

func newLogCache(capacity int, store raft.LogStore) *logCache {
	return &logCache{LogStore: store, slots: make([]*raft.Log, capacity)}
}

// IsMonotonic passes raft-wal's promise through (raft asks the store it
// is given).
func (c *logCache) IsMonotonic() bool {
	m, ok := c.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

func (c *logCache) GetLog(idx uint64, l *raft.Log) error {
	c.mu.RLock()
	cached := c.slots[idx%uint64(len(c.slots))]
	c.mu.RUnlock()
	if cached != nil && cached.Index == idx {
		*l = *cached
		return nil
	}
	return c.LogStore.GetLog(idx, l)
}

func (c *logCache) StoreLog(l *raft.Log) error { return c.StoreLogs([]*raft.Log{l}) }

func (c *logCache) StoreLogs(logs []*raft.Log) error {
	if err := c.LogStore.StoreLogs(logs); err != nil {
		return fmt.Errorf("unable to store logs within log store, err: %q", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var last uint64
	for _, l := range logs {
		slot := l.Index % uint64(len(c.slots))
		if old := c.slots[slot]; old != nil {
			c.bytes -= len(old.Data)
			c.slots[slot] = nil
		}
		if len(l.Data) <= logCacheMaxEntry {
			c.slots[slot] = l
			c.bytes += len(l.Data)
		}
		last = l.Index
	}
	// Over budget: drop from the oldest index the ring can hold.
	for i := uint64(len(c.slots)) - 1; c.bytes > logCacheBytes && i > 0; i-- {
		if last < i {
			continue
		}
		slot := (last - i) % uint64(len(c.slots))
		if old := c.slots[slot]; old != nil && old.Index == last-i {
			c.bytes -= len(old.Data)
			c.slots[slot] = nil
		}
	}
	return nil
}

func (c *logCache) DeleteRange(lo, hi uint64) error {
	c.mu.Lock()
	clear(c.slots)
	c.bytes = 0
	c.mu.Unlock()
	return c.LogStore.DeleteRange(lo, hi)
}
