package fsm

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/statehouse/statehouse/internal/resp"
)

// SORT and SORT_RO, as Redis 7.0 runs them outside cluster mode: BY and
// GET patterns read other keys of the database. Inside the fsm that is
// deterministic (every replica reads the same keys at the same point of
// the log), so statehouse supports them whatever slot the keys hash to.
// SORT is a write (STORE), so it goes through the log like any write, as
// Redis replicates it; SORT_RO is a read.
//
// Differences: ALPHA compares bytes (Redis uses strcoll, which is byte
// order in the C locale), and elements that compare equal under ALPHA BY
// keep the order they were loaded in (Redis's qsort leaves it undefined).
// An unsorted set (BY nosort) comes in tree order, as SMEMBERS.

var sortingCommands = []*Command{
	{Name: "sort", Arity: -2, Flags: FlagWrite | FlagDenyOOM, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet | CatSortedSet | CatList | CatDangerous, Group: "generic", KeysFunc: sortKeys, Handler: sortCmd},
	{Name: "sort_ro", Arity: -2, Flags: FlagReadOnly, FirstKey: 1, LastKey: 1, Step: 1, Categories: CatSet | CatSortedSet | CatList | CatDangerous, Group: "generic", KeysFunc: sortKeys, Handler: sortCmd},
}

const (
	errSortScore  = "ERR One or more scores can't be converted into double"
	errSortByACL  = "ERR BY option of SORT denied due to insufficient ACL permissions."
	errSortGetACL = "ERR GET option of SORT denied due to insufficient ACL permissions."
)

// sortKeys is Redis's sortGetKeys: the key sorted and the last STORE's.
func sortKeys(args [][]byte) [][]byte {
	if len(args) < 2 {
		return nil
	}
	keys := [][]byte{args[1]}
	var store []byte
	for j := 2; j < len(args); j++ {
		switch {
		case resp.EqualFold(args[j], "limit"):
			j += 2
		case resp.EqualFold(args[j], "get"), resp.EqualFold(args[j], "by"):
			j++
		case resp.EqualFold(args[j], "store") && j+1 < len(args):
			store = args[j+1]
			j++
		}
	}
	if store != nil {
		keys = append(keys, store)
	}
	return keys
}

// SortPatternDenied is SORT's own permission check, which Redis makes
// beyond the command's keys: BY with a pattern and GET read keys named by
// the data, so they take a user that may read every key. It returns
// Redis's error, or "" (allKeys: the user has ~* or allkeys).
func SortPatternDenied(cmd *Command, args [][]byte, allKeys bool) string {
	if allKeys || (cmd.Name != "sort" && cmd.Name != "sort_ro") {
		return ""
	}
	for j := 2; j < len(args); j++ {
		left := len(args) - j - 1
		switch {
		case resp.EqualFold(args[j], "limit") && left >= 2:
			j += 2
		case resp.EqualFold(args[j], "store") && left >= 1:
			j++
		case resp.EqualFold(args[j], "by") && left >= 1:
			if bytes.IndexByte(args[j+1], '*') >= 0 {
				return errSortByACL
			}
			j++
		case resp.EqualFold(args[j], "get") && left >= 1:
			return errSortGetACL
		}
	}
	return ""
}

type sortElem struct {
	v     string
	score float64
	cmp   *string // ALPHA BY: the value looked up, nil if none
}

// sortSource is what SORT loads from the key: every element, in the
// value's own order. One case per kind; a sorted set is loaded in score
// order and, like a list, is ordered already.
func sortSource(it *item) (elems []string, ordered bool) {
	switch it.kind {
	case KindList:
		return it.list.slice(0, it.list.len()), true
	case KindSet:
		elems = make([]string, 0, it.members().Len())
		it.members().Scan(func(m string) bool {
			elems = append(elems, m)
			return true
		})
		return elems, false
	case KindZSet:
		elems = make([]string, 0, it.zset.len())
		it.zset.byScore.Scan(func(e zent) bool {
			elems = append(elems, e.member)
			return true
		})
		return elems, true
	}
	return nil, false
}

// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC]
// [ALPHA] [STORE destination]; SORT_RO without STORE.
func sortCmd(c *Ctx, args [][]byte) {
	ro := resp.EqualFold(args[0], "sort_ro")
	var (
		desc, alpha, dontsort  bool
		limitStart, limitCount int64 = 0, -1
		sortby, storekey       []byte
		gets                   [][]byte
	)
	for j := 2; j < len(args); j++ {
		left := len(args) - j - 1
		switch {
		case resp.EqualFold(args[j], "asc"):
			desc = false
		case resp.EqualFold(args[j], "desc"):
			desc = true
		case resp.EqualFold(args[j], "alpha"):
			alpha = true
		case resp.EqualFold(args[j], "limit") && left >= 2:
			s, ok1 := resp.ParseInt(args[j+1])
			n, ok2 := resp.ParseInt(args[j+2])
			if !ok1 || !ok2 {
				c.Error(resp.ErrNotInt)
				return
			}
			limitStart, limitCount = s, n
			j += 2
		case resp.EqualFold(args[j], "store") && left >= 1 && !ro:
			storekey = args[j+1]
			j++
		case resp.EqualFold(args[j], "by") && left >= 1:
			sortby = args[j+1]
			dontsort = bytes.IndexByte(sortby, '*') < 0
			j++
		case resp.EqualFold(args[j], "get") && left >= 1:
			gets = append(gets, args[j+1])
			j++
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	it := c.Get(args[1])
	var elems []string
	ordered := true
	if it != nil {
		if it.kind != KindList && it.kind != KindSet {
			c.Error(resp.ErrWrongType)
			return
		}
		elems, ordered = sortSource(it)
	}
	if dontsort && !ordered && storekey != nil {
		// Redis sorts an unordered set anyway when storing, so the
		// result is the same on every replica.
		dontsort, alpha, sortby = false, true, nil
	}
	n := int64(len(elems))
	start := max(limitStart, 0)
	end := n - 1
	if limitCount >= 0 {
		end = start + limitCount - 1
	}
	if start >= n {
		start, end = n-1, n-2
	}
	if end >= n {
		end = n - 1
	}
	if dontsort && ordered && desc {
		slices.Reverse(elems)
	}
	vec := make([]sortElem, len(elems))
	for i, e := range elems {
		vec[i].v = e
	}
	convErr := false
	if !dontsort {
		for i := range vec {
			var by string
			if sortby != nil {
				v, ok := sortLookup(c, sortby, vec[i].v)
				if !ok {
					continue
				}
				by = v
			} else {
				by = vec[i].v
			}
			if alpha {
				if sortby != nil {
					vec[i].cmp = &by
				}
				continue
			}
			score, ok := sortStrtod(by)
			if !ok {
				convErr = true
			}
			vec[i].score = score
		}
		slices.SortStableFunc(vec, func(a, b sortElem) int {
			cmp := sortCompare(&a, &b, alpha, sortby != nil)
			if desc {
				return -cmp
			}
			return cmp
		})
	}
	if convErr {
		c.Error(errSortScore)
		return
	}
	count := max(end-start+1, 0)
	outLen := count
	if len(gets) > 0 {
		outLen *= int64(len(gets))
	}
	if storekey == nil {
		c.Array(int(outLen))
		for j := start; j <= end; j++ {
			if len(gets) == 0 {
				c.BulkString(vec[j].v)
			}
			for _, g := range gets {
				if v, ok := sortLookup(c, g, vec[j].v); ok {
					c.BulkString(v)
				} else {
					c.Null()
				}
			}
		}
		return
	}
	if outLen == 0 {
		if c.Del(storekey) {
			c.notify(NotifyGeneric, "del", storekey)
		}
		c.Int(0)
		return
	}
	out := make([]string, 0, outLen)
	for j := start; j <= end; j++ {
		if len(gets) == 0 {
			out = append(out, vec[j].v)
		}
		for _, g := range gets {
			v, _ := sortLookup(c, g, vec[j].v) // a missing one stores ""
			out = append(out, v)
		}
	}
	c.Put(&item{key: string(storekey), kind: KindList, list: newList(out)}) // no TTL, as Redis's setKey
	c.notify(NotifyList, "sortstore", storekey)
	c.Int(outLen)
}

// sortCompare is Redis's sortCompare before DESC: by score then bytes, or
// ALPHA by the looked-up value (missing ones first) or the element.
func sortCompare(a, b *sortElem, alpha, byPattern bool) int {
	if !alpha {
		switch {
		case a.score > b.score:
			return 1
		case a.score < b.score:
			return -1
		}
		return strings.Compare(a.v, b.v)
	}
	if byPattern {
		switch {
		case a.cmp == nil && b.cmp == nil:
			return 0
		case a.cmp == nil:
			return -1
		case b.cmp == nil:
			return 1
		}
		return strings.Compare(*a.cmp, *b.cmp)
	}
	return strings.Compare(a.v, b.v)
}

// sortLookup is Redis's lookupKeyByPattern: "#" is the element itself;
// otherwise the first '*' is replaced by the element, and "->field" after
// it reads a hash field. A pattern without '*', a missing key or one of
// another kind answers nothing.
func sortLookup(c *Ctx, pat []byte, elem string) (string, bool) {
	if len(pat) == 1 && pat[0] == '#' {
		return elem, true
	}
	star := bytes.IndexByte(pat, '*')
	if star < 0 {
		return "", false
	}
	var field []byte
	keyPat := pat
	if f := bytes.Index(pat[star+1:], []byte("->")); f >= 0 && star+1+f+2 < len(pat) {
		field = pat[star+1+f+2:]
		keyPat = pat[:star+1+f]
	}
	key := make([]byte, 0, len(keyPat)+len(elem))
	key = append(append(append(key, keyPat[:star]...), elem...), keyPat[star+1:]...)
	it := c.Get(key)
	if it == nil {
		return "", false
	}
	if field != nil {
		if it.kind != KindHash {
			return "", false
		}
		return it.hashGet(string(field))
	}
	if it.kind != KindString {
		return "", false
	}
	return it.str, true
}

// sortStrtod parses a score as Redis's SORT does with strtod: leading spaces
// allowed, the whole rest must be the number, not NaN, not out of range;
// an empty string is 0.
func sortStrtod(s string) (float64, bool) {
	if s == "" {
		return 0, true
	}
	if s = strings.TrimLeft(s, " \t\n\v\f\r"); s == "" {
		return 0, false // strtod converted nothing: the spaces are left over
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || strings.ContainsRune(s, '_') {
		return 0, false
	}
	return f, true
}
