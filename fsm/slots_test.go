package fsm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/statehouse/statehouse/internal/testcluster"
)

// Hash-tag edge cases: where Redis hashes the tag and where the whole key.
var slotEdgeKeys = []string{
	"", "foo", "123456789", "{", "}", "{}", "}{", "{{", "}}", "{{}}", "{}{}", "{a}", "{a", "a}",
	"a{b}c", "a}b{c}", "a{}b{c}", "{}a", "{}{a}", "{{a}}", "{a}{b}", "a{b{c}d}e", "{user1000}.following",
	"{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "\x00{\x00}\x00", "{\xff\xfe}",
}

// CRC16/XMODEM's check value, and slots clients know by heart.
func TestKeySlotKnownValues(t *testing.T) {
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	for _, tc := range []struct {
		key  string
		slot int
	}{
		{"foo", 12182}, {"bar", 5061}, {"", 0},
		// the tag alone is hashed: these share foo's slot
		{"{foo}", 12182}, {"x{foo}y", 12182}, {"{foo}{bar}", 12182},
		// no tag: an empty one, or none closed, hashes the whole key
		{"{}foo", int(crc16("{}foo") & 16383)}, {"foo{", int(crc16("foo{") & 16383)},
	} {
		if got := KeySlot([]byte(tc.key)); got != tc.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
		if got := slotOf(tc.key); got != tc.slot {
			t.Errorf("slotOf(%q) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

// KeySlot agrees with redis-server 7.0's CLUSTER KEYSLOT on the edge
// cases and on random keys made mostly of braces.
func TestKeySlotMatchesRedis(t *testing.T) {
	addr := testcluster.StartRedisCluster(t)
	rc := redis.NewClient(testcluster.ClientOptions(addr))
	defer rc.Close()
	seed := testcluster.Seed(t)
	rnd := rand.New(rand.NewPCG(seed, seed))
	keys := slices.Clone(slotEdgeKeys)
	alphabet := []byte("{}{}{}ab\x00\xff")
	for range 3000 {
		k := make([]byte, rnd.IntN(12))
		for i := range k {
			k[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		keys = append(keys, string(k))
	}
	for range 200 {
		keys = append(keys, fmt.Sprintf("session:%x", rnd.Uint64()))
	}
	ctx := context.Background()
	pipe := rc.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.ClusterKeySlot(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("CLUSTER KEYSLOT on redis-server: %v", err)
	}
	for i, k := range keys {
		if got, want := KeySlot([]byte(k)), int(cmds[i].Val()); got != want {
			t.Errorf("KeySlot(%q) = %d, redis-server says %d", k, got, want)
		}
	}
}

// The keys of a slot: live ones only, in one database, at most max.
func TestKeysInSlot(t *testing.T) {
	tf := newTFSM()
	for i := range 5 {
		tf.do(0, "SET", fmt.Sprintf("{cart}:%d", i), "x")
	}
	tf.do(0, "SET", "other", "x")
	tf.do(1, "SET", "{cart}:db1", "x")
	tf.do(0, "SET", "{cart}:gone", "x", "PX", "10")
	slot := KeySlot([]byte("cart"))

	if n := tf.f.CountKeysInSlot(0, tf.now, slot); n != 6 {
		t.Fatalf("CountKeysInSlot before expiry = %d, want 6", n)
	}
	tf.now += 11 // {cart}:gone is past its deadline: invisible, though not reclaimed
	if n := tf.f.CountKeysInSlot(0, tf.now, slot); n != 5 {
		t.Fatalf("CountKeysInSlot = %d, want 5", n)
	}
	if n := tf.f.CountKeysInSlot(1, tf.now, slot); n != 1 {
		t.Fatalf("CountKeysInSlot in db 1 = %d, want 1", n)
	}
	all := tf.f.KeysInSlot(0, tf.now, slot, 100)
	if len(all) != 5 {
		t.Fatalf("KeysInSlot = %q, want the 5 {cart} keys", all)
	}
	for _, k := range all {
		if KeySlot(k) != slot {
			t.Fatalf("KeysInSlot returned %q of slot %d", k, KeySlot(k))
		}
	}
	if got := tf.f.KeysInSlot(0, tf.now, slot, 2); len(got) != 2 || string(got[0]) != string(all[0]) || string(got[1]) != string(all[1]) {
		t.Fatalf("KeysInSlot max 2 = %q, want the first two of %q", got, all)
	}
	for _, bad := range []struct{ db, slot, max int }{{0, slot, 0}, {0, -1, 10}, {0, SlotCount, 10}, {-1, slot, 10}, {NumDBs, slot, 10}} {
		if got := tf.f.KeysInSlot(bad.db, tf.now, bad.slot, bad.max); len(got) != 0 {
			t.Errorf("KeysInSlot(db %d, slot %d, max %d) = %q, want none", bad.db, bad.slot, bad.max, got)
		}
	}
}

func BenchmarkKeySlot(b *testing.B) {
	key := []byte("session:{user:12345}:cart")
	for b.Loop() {
		KeySlot(key)
	}
}
