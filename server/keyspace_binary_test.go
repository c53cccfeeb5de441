package server

// Binary safety: keys, values, fields and members with any bytes.

import (
	"bytes"
	"slices"
	"testing"
)

func TestKeyspaceBinarySafe(t *testing.T) {
	_, c := ksNode(t)
	k := checker{t}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\x00\r\n"), 1<<13) // 152 KiB
	keys := []string{"", "\x00", "a\x00b", "\r\n", "line\r\nbreak", "\xff\xfe\xfd", "sp ace", "*", "\"quoted\"", string(all), "ключ"}
	for i, key := range keys {
		val := string(all[i:]) + key
		k.eq(c.Set(kctx, key, val, 0), "OK")
		k.eq(c.Get(kctx, key), val)
		k.eq(c.StrLen(kctx, key), len(val))
		k.eq(c.GetRange(kctx, key, 0, 0), val[:1])
		k.eq(c.Append(kctx, key, "\x00\xff"), len(val)+2)
		k.eq(c.Get(kctx, key), val+"\x00\xff")
	}
	got, err := c.Keys(kctx, "*").Result()
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(keys)); err != nil || !slices.Equal(got, want) {
		t.Errorf("KEYS * = %q, %v; want %q", got, err, want)
	}
	var scanned []string
	iter := c.Scan(kctx, 0, "", 2).Iterator()
	for iter.Next(kctx) {
		scanned = append(scanned, iter.Val())
	}
	slices.Sort(scanned)
	if want := slices.Sorted(slices.Values(keys)); !slices.Equal(scanned, want) {
		t.Errorf("SCAN = %q; want %q", scanned, want)
	}
	k.eq(c.Keys(kctx, "a?b"), []string{"a\x00b"})
	k.eq(c.Keys(kctx, "line\r\n*"), []string{"line\r\nbreak"})
	mget := make([]any, len(keys))
	for i, key := range keys {
		mget[i] = string(all[i:]) + key + "\x00\xff"
	}
	k.eq(c.MGet(kctx, keys...), mget)
	k.eq(c.Rename(kctx, "a\x00b", "a\x00c"), "OK")
	k.eq(c.Get(kctx, "a\x00c"), string(all[2:])+"a\x00b\x00\xff")
	k.eq(c.Exists(kctx, "a\x00b", "a"), 0)

	// A large value, byte for byte, and a range of it.
	k.eq(c.Set(kctx, "big", big, 0), "OK")
	if v, err := c.Get(kctx, "big").Bytes(); err != nil || !bytes.Equal(v, big) {
		t.Errorf("GET big: %d bytes, %v; want %d", len(v), err, len(big))
	}
	k.eq(c.GetRange(kctx, "big", 1<<16, 1<<16+18), string(big[1<<16:1<<16+19]))
	k.eq(c.SetRange(kctx, "big", 5, "\x00\r\n"), len(big))

	// Hash fields and values, set members.
	fields := map[string]string{"": "empty", "a\x00b": "x\x00\r\n", "\xff": string(all), "sp ace": "v a l"}
	k.eq(c.HSet(kctx, "h\x00", fields), 4)
	k.eq(c.HGetAll(kctx, "h\x00"), fields)
	for f, v := range fields {
		k.eq(c.HGet(kctx, "h\x00", f), v)
		k.eq(c.HStrLen(kctx, "h\x00", f), len(v))
		k.eq(c.HExists(kctx, "h\x00", f), true)
	}
	k.eq(c.HExists(kctx, "h\x00", "a"), false)
	k.eq(c.HDel(kctx, "h\x00", "a\x00b"), 1)
	k.eq(c.HKeys(kctx, "h\x00"), []string{"", "sp ace", "\xff"})
	members := []any{"a\x00b", "\r\n", "", string(all), "\xff"}
	k.eq(c.SAdd(kctx, "s\r\n", members...), 5)
	k.eq(c.SMembers(kctx, "s\r\n"), []string{"", string(all), "\r\n", "a\x00b", "\xff"})
	k.eq(c.SMIsMember(kctx, "s\r\n", "a\x00b", "a", "\r", "\r\n"), []bool{true, false, false, true})
	k.eq(c.SRem(kctx, "s\r\n", "a\x00b", "\r\n"), 2)
	k.eq(c.SCard(kctx, "s\r\n"), 3)
	k.eq(c.SAdd(kctx, "bigset", big), 1)
	k.eq(c.SIsMember(kctx, "bigset", big), true)
}
