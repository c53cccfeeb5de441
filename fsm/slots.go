package fsm

// Redis Cluster's hash slots. statehouse is one shard that serves every
// slot, but cluster-aware clients route by slot, so the arithmetic must be
// Redis's to the bit: this file is the only place it is done (CLUSTER
// KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, and the slot a MOVED names).

// SlotCount is the number of hash slots, 0 to SlotCount-1.
const SlotCount = 16384

// KeySlot is the hash slot of key: CRC16 (XMODEM) of the key, or of its
// hash tag, mod 16384. The tag is what lies between the first '{' and the
// first '}' after it, when that is not empty; so "{user}:a" and "{user}:b"
// share a slot, while "{}a", "a{b" and "a}b{" hash whole.
func KeySlot(key []byte) int { return slotOf(key) }

// slotOf is KeySlot for a stored key too, without copying it.
func slotOf[K string | []byte](key K) int {
	if s := indexByte(key, '{'); s >= 0 {
		if e := indexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	return int(crc16(key) & (SlotCount - 1))
}

func indexByte[K string | []byte](b K, c byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// crc16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0), the CRC
// Redis Cluster hashes keys with.
func crc16[K string | []byte](b K) uint16 {
	var crc uint16
	for i := 0; i < len(b); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^b[i]]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// CountKeysInSlot is how many live keys of database db hash to slot.
//
// The keyspace has no per-slot index (its tree is ordered by a 64-bit
// hash, which SCAN's cursors rely on), so this walks every key: O(keys)
// under the read lock, as KEYS does. One shard serving every slot has no
// resharding that would call it often; an index kept on every write would
// cost all writes for an admin command.
func (f *FSM) CountKeysInSlot(db int, now int64, slot int) int {
	n := 0
	f.slotScan(db, now, slot, func(string) bool { n++; return true })
	return n
}

// KeysInSlot returns up to max live keys of database db that hash to
// slot, in the keyspace's order. Like CountKeysInSlot it walks the keys
// (O(keys)); it stops once it has max.
func (f *FSM) KeysInSlot(db int, now int64, slot, max int) [][]byte {
	var keys [][]byte
	if max <= 0 {
		return keys
	}
	f.slotScan(db, now, slot, func(k string) bool {
		keys = append(keys, []byte(k))
		return len(keys) < max
	})
	return keys
}

// slotScan calls fn with each live key of db in slot until fn returns
// false.
func (f *FSM) slotScan(db int, now int64, slot int, fn func(key string) bool) {
	if db < 0 || db >= NumDBs || slot < 0 || slot >= SlotCount {
		return
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	now = max(now, f.now)
	f.dbs[db].keys.Scan(func(it *item) bool {
		if it.expired(now) || slotOf(it.key) != slot {
			return true
		}
		return fn(it.key)
	})
}
