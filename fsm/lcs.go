package fsm

import "github.com/statehouse/statehouse/internal/resp"

// lcsCmd is Redis 7.0's LCS: the classic dynamic-programming table, walked
// back from the end exactly as Redis walks it so that IDX reports the same
// ranges. Like Redis, it refuses a table larger than proto-max-bulk-len.
func lcsCmd(c *Ctx, args [][]byte) {
	ia, ib := c.Get(args[1]), c.Get(args[2])
	if (ia != nil && ia.kind != KindString) || (ib != nil && ib.kind != KindString) {
		c.Error("ERR The specified keys must contain string values")
		return
	}
	var a, b string
	if ia != nil {
		a = ia.str
	}
	if ib != nil {
		b = ib.str
	}
	var getLen, getIdx, withMatchLen bool
	var minMatchLen int64
	for j := 3; j < len(args); j++ {
		opt := cString(args[j])
		switch {
		case resp.EqualFold(opt, "idx"):
			getIdx = true
		case resp.EqualFold(opt, "len"):
			getLen = true
		case resp.EqualFold(opt, "withmatchlen"):
			withMatchLen = true
		case resp.EqualFold(opt, "minmatchlen") && j < len(args)-1:
			n, ok := resp.ParseInt(args[j+1])
			if !ok {
				c.Error(resp.ErrNotInt)
				return
			}
			minMatchLen = max(n, 0)
			j++
		default:
			c.Error(resp.ErrSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.Error("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	alen, blen := len(a), len(b)
	if uint64(alen+1)*uint64(blen+1)*4 > maxStringLen {
		c.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
		return
	}
	w := blen + 1
	lcs := make([]uint32, (alen+1)*w)
	for i := 1; i <= alen; i++ {
		for j := 1; j <= blen; j++ {
			if a[i-1] == b[j-1] {
				lcs[i*w+j] = lcs[(i-1)*w+j-1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i-1)*w+j], lcs[i*w+j-1])
			}
		}
	}
	total := int(lcs[alen*w+blen])
	if getLen {
		c.Int(int64(total))
		return
	}
	result := make([]byte, total)
	type lcsRange struct{ a0, a1, b0, b1 int }
	var ranges []lcsRange
	idx := total
	aStart, aEnd, bStart, bEnd := alen, 0, 0, 0 // aStart == alen: no open range
	for i, j := alen, blen; i > 0 && j > 0; {
		emit := false
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			if aStart == alen {
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			} else if aStart == i && bStart == j {
				aStart--
				bStart--
			} else {
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if lcs[(i-1)*w+j] > lcs[i*w+j-1] {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			if matchLen := aEnd - aStart + 1; minMatchLen == 0 || int64(matchLen) >= minMatchLen {
				ranges = append(ranges, lcsRange{aStart, aEnd, bStart, bEnd})
			}
			aStart = alen
		}
	}
	if !getIdx {
		c.Bulk(result)
		return
	}
	c.Array(4)
	c.BulkString("matches")
	c.Array(len(ranges))
	for _, r := range ranges {
		if withMatchLen {
			c.Array(3)
		} else {
			c.Array(2)
		}
		c.Array(2)
		c.Int(int64(r.a0))
		c.Int(int64(r.a1))
		c.Array(2)
		c.Int(int64(r.b0))
		c.Int(int64(r.b1))
		if withMatchLen {
			c.Int(int64(r.a1 - r.a0 + 1))
		}
	}
	c.BulkString("len")
	c.Int(int64(total))
}
