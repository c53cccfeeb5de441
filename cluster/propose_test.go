package cluster

import (
	"testing"
	"time"
)

// TestGroupWaitPlan: the proposer holds an entry open only for writers in a
// loop with the last commit, for at most one commit time and CommitDelay.
func TestGroupWaitPlan(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := time.Millisecond
	var g groupWait
	g.committed(30, 20, true, t0, t0.Add(3*ms)) // a 3ms round answered 30 with 20 more queued

	cases := []struct {
		name      string
		max       time.Duration
		first     time.Time // when the next entry's first write came
		wantUntil time.Time
		wantN     int
	}{
		{"soon after: waits one commit time for all 50", 5 * ms, t0.Add(4 * ms), t0.Add(7 * ms), 50},
		{"max below the commit time bounds it", 2 * ms, t0.Add(4 * ms), t0.Add(6 * ms), 50},
		{"off", -1, t0.Add(4 * ms), time.Time{}, 0},
		{"first write later than the wait: no loop, no wait", 5 * ms, t0.Add(7 * ms), time.Time{}, 0},
	}
	for _, c := range cases {
		until, n := g.plan(c.max, c.first)
		if !until.Equal(c.wantUntil) || n != c.wantN {
			t.Errorf("%s: plan = %v, %d; want %v, %d", c.name, until, n, c.wantUntil, c.wantN)
		}
	}

	// A failed entry answered nobody who will come back with a next write.
	g.committed(30, 20, false, t0, t0.Add(3*ms))
	if until, n := g.plan(5*ms, t0.Add(4*ms)); n != 0 {
		t.Errorf("after a failed entry: plan = %v, %d; want no writers to wait for", until, n)
	}
}
