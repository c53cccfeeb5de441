package fsm

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest returns the applied index and a SHA-256 of the snapshot of the
// keyspace at that index: two replicas at the same index must agree.
func (f *FSM) Digest() (uint64, string) {
	s := f.Snapshot()
	h := sha256.New()
	s.WriteTo(h)
	return s.applied, hex.EncodeToString(h.Sum(nil))
}
