package fsm

import (
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// OBJECT: what Redis 7.0 would say of a value.
//
// ENCODING answers the encoding redis-server 7.0 would use for the value
// as it stands, under the thresholds of EncodingLimits (CONFIG SET
// hash-max-listpack-entries and the rest; Redis's defaults until set):
// int, embstr or raw for strings, quicklist for lists (7.0 has no other),
// intset or hashtable for sets, listpack or hashtable for hashes. It
// describes the value's size, not statehouse's memory (a B-tree for every
// kind), and not its history: Redis never converts a shrunk value back,
// statehouse reports what its current size calls for.
//
// FREQ answers Redis's error for a node whose maxmemory-policy is not an
// LFU one, which is statehouse's case: it counts no accesses. IDLETIME is
// the seconds since the key was last written, by the log's clock: reads
// are served by every node and leave no trace in the log, so it is the
// time since the last write rather than since the last access (a key
// loaded from a snapshot counts as written at the snapshot's time).
// REFCOUNT is what Redis answers: 2147483647 for the small integers it
// shares, 1 otherwise.

var objectCommands = []*Command{
	{Name: "object", Arity: -2, Categories: CatSlow, Group: "generic", Subcommands: []*Command{
		{Name: "encoding", Arity: 3, Flags: FlagReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: objectEncodingCmd},
		{Name: "freq", Arity: 3, Flags: FlagReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: objectFreqCmd},
		{Name: "idletime", Arity: 3, Flags: FlagReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: objectIdletimeCmd},
		{Name: "refcount", Arity: 3, Flags: FlagReadOnly, FirstKey: 2, LastKey: 2, Step: 1, Categories: CatKeyspace, Group: "generic", Handler: objectRefcountCmd},
		// Redis flags it loading and stale only; here every keyspace row
		// is a read or a write.
		{Name: "help", Arity: 2, Flags: FlagReadOnly | FlagLoading | FlagStale, Categories: CatKeyspace, Group: "generic", Handler: objectHelpCmd},
	}},
}

// EncodingLimits are Redis's encoding thresholds, as CONFIG names them.
// They change what OBJECT ENCODING reports and nothing else.
type EncodingLimits struct {
	HashMaxListpackEntries int64 // hash-max-listpack-entries (hash-max-ziplist-entries)
	HashMaxListpackValue   int64 // hash-max-listpack-value (hash-max-ziplist-value)
	SetMaxIntsetEntries    int64 // set-max-intset-entries
	ListMaxListpackSize    int64 // list-max-listpack-size (list-max-ziplist-size): 7.0 lists are quicklists whatever it is
	ZSetMaxListpackEntries int64 // zset-max-listpack-entries (zset-max-ziplist-entries)
	ZSetMaxListpackValue   int64 // zset-max-listpack-value (zset-max-ziplist-value)
}

// DefaultEncodingLimits are redis-server 7.0's defaults.
var DefaultEncodingLimits = EncodingLimits{
	HashMaxListpackEntries: 512, HashMaxListpackValue: 64, SetMaxIntsetEntries: 512,
	ListMaxListpackSize: -2, ZSetMaxListpackEntries: 128, ZSetMaxListpackValue: 64,
}

// EncodingLimits returns the thresholds OBJECT ENCODING uses.
func (f *FSM) EncodingLimits() EncodingLimits {
	if l := f.encLimits.Load(); l != nil {
		return *l
	}
	return DefaultEncodingLimits
}

// SetEncodingLimits sets them (CONFIG SET, on this node).
func (f *FSM) SetEncodingLimits(l EncodingLimits) { f.encLimits.Store(&l) }

const errNotLFU = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."

// objectKey is the live item OBJECT asks about; a missing key answers nil.
func objectKey(c *Ctx, args [][]byte) *item {
	it := c.Get(args[2])
	if it == nil {
		c.Null()
	}
	return it
}

func objectEncodingCmd(c *Ctx, args [][]byte) {
	if it := objectKey(c, args); it != nil {
		c.BulkString(redisEncoding(it, c.f.EncodingLimits()))
	}
}

func objectFreqCmd(c *Ctx, args [][]byte) {
	if objectKey(c, args) != nil {
		c.Error(errNotLFU)
	}
}

func objectIdletimeCmd(c *Ctx, args [][]byte) {
	if it := objectKey(c, args); it != nil {
		c.Int(max(c.Now-it.wrote, 0) / 1000)
	}
}

func objectRefcountCmd(c *Ctx, args [][]byte) {
	if it := objectKey(c, args); it != nil {
		if n, ok := redisLong(it.str); it.kind == KindString && ok && n >= 0 && n < 10000 {
			c.Int(2147483647) // OBJ_SHARED_REFCOUNT: Redis's shared integers
			return
		}
		c.Int(1)
	}
}

func objectHelpCmd(c *Ctx, _ [][]byte) {
	lines := []string{
		"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"ENCODING <key>",
		"    Return the kind of internal representation used in order to store the value",
		"    associated with a <key>.",
		"FREQ <key>",
		"    Return the access frequency index of the <key>. The returned integer is",
		"    proportional to the logarithm of the recent access frequency of the key.",
		"IDLETIME <key>",
		"    Return the idle time of the <key>, that is the approximated number of",
		"    seconds elapsed since the last access to the key.",
		"REFCOUNT <key>",
		"    Return the number of references of the value associated with the specified",
		"    <key>.",
		"HELP",
		"    Prints this help.",
	}
	c.Array(len(lines))
	for _, l := range lines {
		c.Status(l)
	}
}

// redisEncoding is the encoding redis-server 7.0 would report for the value.
func redisEncoding(it *item, l EncodingLimits) string {
	switch it.kind {
	case KindString:
		if _, ok := redisLong(it.str); ok {
			return "int"
		}
		if len(it.str) <= 44 {
			return "embstr"
		}
		return "raw"
	case KindList:
		return "quicklist"
	case KindSet:
		if int64(it.members().Len()) > l.SetMaxIntsetEntries {
			return "hashtable"
		}
		enc := "intset"
		it.members().Scan(func(m string) bool {
			if _, ok := redisLong(m); !ok {
				enc = "hashtable"
			}
			return enc == "intset"
		})
		return enc
	case KindHash:
		if int64(it.hashLen()) > l.HashMaxListpackEntries {
			return "hashtable"
		}
		enc := "listpack"
		it.hashScan(func(k, v string) bool {
			if int64(len(k)) > l.HashMaxListpackValue || int64(len(v)) > l.HashMaxListpackValue {
				enc = "hashtable"
			}
			return enc == "listpack"
		})
		return enc
	case KindZSet:
		if it.zset.big { // Redis never converts a skiplist back
			return "skiplist"
		}
		longest := 0
		it.zset.byScore.Scan(func(e zent) bool {
			longest = max(longest, len(e.member))
			return true
		})
		return zsetEncoding(it.zset.len(), longest, l)
	}
	return "unknown"
}

// zsetEncoding is what Redis 7.0 reports for a sorted set of n members
// whose longest member is longest bytes.
func zsetEncoding(n, longest int, l EncodingLimits) string {
	if int64(n) > l.ZSetMaxListpackEntries || int64(longest) > l.ZSetMaxListpackValue {
		return "skiplist"
	}
	return "listpack"
}

// redisLong reports whether s is an integer as Redis's string2ll writes
// one (no sign but '-', no leading zeros, no spaces, fits in 64 bits):
// the strings Redis stores int-encoded.
func redisLong(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	n, ok := resp.ParseInt([]byte(s))
	if !ok || strings.HasPrefix(s, "+") || (len(s) > 1 && s[0] == '0') || strings.HasPrefix(s, "-0") {
		return 0, false
	}
	return n, true
}
