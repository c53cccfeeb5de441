package cluster

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
)

// The log cache answers every entry as the store holds it, keeps none
// over logCacheMaxEntry, and holds at most logCacheBytes (plus the newest
// entry) however large the entries written.
func TestLogCacheStaysWithinItsBudget(t *testing.T) {
	store := raft.NewInmemStore()
	c := newLogCache(logCacheSize, store)
	sizes := []int{100, 512 << 10, 2 << 20, 900 << 10, 10, 1 << 20}
	var idx uint64
	for round := range 40 {
		var batch []*raft.Log
		for j := range 1 + round%3 {
			idx++
			size := sizes[(round+j)%len(sizes)]
			batch = append(batch, &raft.Log{Index: idx, Term: 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{byte(idx)}, size)})
		}
		if err := c.StoreLogs(batch); err != nil {
			t.Fatal(err)
		}
		if c.bytes > logCacheBytes+logCacheMaxEntry {
			t.Fatalf("after index %d the cache holds %d bytes", idx, c.bytes)
		}
		held := 0
		for _, l := range c.slots {
			if l != nil {
				if len(l.Data) > logCacheMaxEntry {
					t.Fatalf("entry %d of %d bytes is cached", l.Index, len(l.Data))
				}
				held += len(l.Data)
			}
		}
		if held != c.bytes {
			t.Fatalf("the cache counts %d bytes, holds %d", c.bytes, held)
		}
	}
	for i := uint64(1); i <= idx; i++ {
		var l raft.Log
		if err := c.GetLog(i, &l); err != nil {
			t.Fatal(err)
		}
		if l.Index != i || len(l.Data) == 0 || l.Data[0] != byte(i) {
			t.Fatalf("entry %d read back as index %d, %d bytes", i, l.Index, len(l.Data))
		}
	}
	if err := c.DeleteRange(1, idx/2); err != nil || c.bytes != 0 {
		t.Fatalf("DeleteRange: %v, %d bytes left", err, c.bytes)
	}
	if c.IsMonotonic() { // the in-memory store makes no such promise
		t.Fatal("IsMonotonic is not the store's")
	}
}
