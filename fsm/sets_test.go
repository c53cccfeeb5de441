package fsm

import (
	"strconv"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/internal/resp"
)

// Two replicas applying the same entries pop the same members with SPOP;
// what is popped was a member and is gone, and different entries pop
// differently.
func TestSpopSameOnEveryReplica(t *testing.T) {
	a, b := newHSFSM(), newHSFSM()
	args := []string{"SADD", "s"}
	for i := range 200 {
		args = append(args, "m"+strconv.Itoa(i))
	}
	a.do(0, args...)
	b.do(0, args...)
	seen := map[string]bool{}
	var replies []string
	for range 20 {
		ra, rb := a.do(0, "SPOP", "s", "3"), b.do(0, "SPOP", "s", "3")
		if ra != rb {
			t.Fatalf("replicas popped differently: %q and %q", ra, rb)
		}
		replies = append(replies, ra)
		for _, m := range resp.SplitArray([]byte(ra)) {
			if seen[string(m)] {
				t.Fatalf("%q popped twice", m)
			}
			seen[string(m)] = true
			if got := a.do(0, "SISMEMBER", "s", bulkText(m)); got != ":0\r\n" {
				t.Fatalf("%q still a member after SPOP", m)
			}
		}
	}
	if len(seen) != 60 || a.do(0, "SCARD", "s") != ":140\r\n" {
		t.Fatalf("popped %d members, SCARD %q", len(seen), a.do(0, "SCARD", "s"))
	}
	if replies[0] == replies[1] && replies[1] == replies[2] {
		t.Fatalf("every SPOP popped the same: %q", replies[0])
	}
	if ra, rb := a.do(0, "SPOP", "s"), b.do(0, "SPOP", "s"); ra != rb {
		t.Fatalf("replicas popped differently: %q and %q", ra, rb)
	}
}

// SSCAN and HSCAN of a large collection page by COUNT, and every member
// present for the whole scan comes back at least once although members
// are added and removed between the calls.
func TestScanPagesAcrossWrites(t *testing.T) {
	for _, kind := range []string{"set", "hash"} {
		t.Run(kind, func(t *testing.T) {
			h := newHSFSM()
			add := func(m string) {
				if kind == "set" {
					h.do(0, "SADD", "k", m)
				} else {
					h.do(0, "HSET", "k", m, "v")
				}
			}
			del := func(m string) {
				if kind == "set" {
					h.do(0, "SREM", "k", m)
				} else {
					h.do(0, "HDEL", "k", m)
				}
			}
			stable := map[string]bool{}
			for i := range 1000 {
				// Members differ within their first 7 bytes, where the
				// cursor looks (scanPage: members sharing those bytes come
				// back in one page).
				m := strconv.Itoa(i) + ":member"
				if i%3 == 0 {
					m = "m" + strconv.Itoa(i) // short ones, sharing no 7-byte prefix
				}
				add(m)
				if i%10 != 0 {
					stable[m] = true
				}
			}
			cmd := map[string]string{"set": "SSCAN", "hash": "HSCAN"}[kind]
			got := map[string]bool{}
			cursor, calls := "0", 0
			for {
				args := []string{cmd, "k", cursor, "COUNT", "10"}
				if kind == "hash" {
					args = append(args, "NOVALUES")
				}
				r := resp.SplitArray([]byte(h.do(0, args...)))
				if len(r) != 2 {
					t.Fatalf("bad reply %q", r)
				}
				page := resp.SplitArray(r[1])
				if len(page) > 200 {
					t.Fatalf("a page of %d members for COUNT 10", len(page))
				}
				for _, m := range page {
					got[bulkText(m)] = true
				}
				calls++
				// Between calls: one member that stays is added, one that
				// was never stable is removed.
				add("new:" + strconv.Itoa(calls))
				del("m" + strconv.Itoa(calls*30))
				if cursor = bulkText(r[0]); cursor == "0" {
					break
				}
				if calls > 10000 {
					t.Fatal("the scan does not end")
				}
			}
			for m := range stable {
				if !got[m] && m != "m"+strconv.Itoa(0) {
					if _, err := strconv.Atoi(m[1:]); err == nil {
						continue // a short member some call removed
					}
					t.Fatalf("%q, present for the whole scan, never returned", m)
				}
			}
			if calls < 50 {
				t.Fatalf("%d calls for 1000 members at COUNT 10: not paged", calls)
			}
		})
	}
}

// bulkText is the text of one bulk string reply.
func bulkText(b []byte) string {
	_, v, _ := strings.Cut(string(b), "\r\n")
	return strings.TrimSuffix(v, "\r\n")
}
