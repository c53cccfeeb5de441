package cluster

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
)

// The hot paths of a 3-node cluster on loopback with real disks (fsync on):
// a write proposed on the leader, a write forwarded by a follower, and a
// read-index round on each. Sequential benchmarks give the latency of one
// round; the parallel ones (50 goroutines) show what group commit and
// shared read rounds make of many callers. Track them with benchstat:
//
//	go test ./cluster -run '^$' -bench . -count 6 | tee new.txt
//	benchstat old.txt new.txt

func benchCluster(b *testing.B) (leader, follower *Node) {
	tc := newTestCluster(b, 3)
	leader = tc.leader()
	follower = tc.followers()[0]
	// Warm the peer connections a forwarded write and a read index use.
	benchSet(b, follower, "warm", 0)
	if err := follower.ReadBarrier(context.Background()); err != nil {
		b.Fatal(err)
	}
	return leader, follower
}

const benchValue = "0123456789abcdef0123456789abcdef"

func benchSet(b *testing.B, n *Node, prefix string, i int) {
	set(b, n, prefix+strconv.Itoa(i), benchValue)
}

func BenchmarkPropose(b *testing.B) {
	leader, follower := benchCluster(b)
	for _, c := range []struct {
		name string
		n    *Node
	}{{"leader", leader}, {"forwarded", follower}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				benchSet(b, c.n, "k", i)
			}
		})
		b.Run(c.name+"-parallel50", func(b *testing.B) {
			before := leader.Status().LastIndex
			var seq atomic.Int64
			b.SetParallelism(25) // × GOMAXPROCS 2 = 50 writers
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := trySet(c.n, "p"+strconv.Itoa(int(seq.Add(1))), benchValue); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if entries := leader.Status().LastIndex - before; entries > 0 {
				b.ReportMetric(float64(b.N)/float64(entries), "cmds/entry")
			}
		})
	}
}

func BenchmarkReadIndex(b *testing.B) {
	leader, follower := benchCluster(b)
	for _, c := range []struct {
		name string
		n    *Node
	}{{"leader", leader}, {"follower", follower}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.n.ReadBarrier(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"-parallel50", func(b *testing.B) {
			b.SetParallelism(25)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := c.n.ReadBarrier(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
