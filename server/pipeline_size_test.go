package server

import (
	"bufio"
	"fmt"
	"strings"
	"testing"

	"github.com/statehouse/statehouse/cluster"
	"github.com/tidwall/redcon"
)

// A pipeline of writes larger than a log entry may hold (what redcon
// hands on in one read when redis-cli --pipe streams a bulk load into a
// node that fell behind) is proposed in parts: every write applies. It was
// one request per run of consecutive writes, refused whole once over
// cluster.MaxEntryBytes, and a load of 1M sessions kept 81k of them.
func TestPipelineLargerThanAnEntryApplies(t *testing.T) {
	n := startNode(t, withNoSync())
	s := n.srv
	const writes = 3000
	value := []byte(strings.Repeat("v", 16<<10)) // 3000 × 16 KiB: 48 MiB, over the 32 MiB ceiling
	if writes*len(value) <= cluster.MaxEntryBytes {
		t.Fatal("the pipeline would fit in one entry")
	}
	fc := newFakeConn()
	if !s.accept(fc) {
		t.Fatal("fake connection refused")
	}
	var cmds []redcon.Command
	for i := range writes {
		cmds = append(cmds, redcon.Command{Args: [][]byte{[]byte("SET"), []byte(fmt.Sprint("bulk:", i)), value}})
	}
	fc.pending = cmds[1:]
	s.handle(fc, cmds[0])
	fc.w.Flush()
	r := bufio.NewReader(&fc.out)
	for i := range writes {
		if v, err := readValue(r); err != nil || v != "+OK\r\n" {
			t.Fatalf("write %d: %q, %v", i, v, err)
		}
	}
	s.closed(fc, nil)
	dialRaw(t, n.addr).expect(fmt.Sprintf(":%d\r\n", writes), "DBSIZE")
}
