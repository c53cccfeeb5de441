package main

import (
	"fmt"
	"sort"
	"time"
)

// sessionMargin absorbs the server's millisecond clock and the
// truncation of the leader's timestamp.
const sessionMargin = 5 * time.Millisecond

// checkSession checks session keys, each SET once with PX ttl and read
// many times. The server stamps the deadline with the leader's clock when
// it proposes the SET, so (on one machine, with no skew) the real deadline
// lies in [invoke+ttl, applied+ttl], where applied is the earliest moment
// the write is known to have taken effect: its acknowledgement, or the end
// of the first read that saw it. Clock skew widens both ends by the skew
// bound. A key must:
//
//   - never be seen before its SET was invoked (read-before-write), nor
//     with a value nobody wrote (phantom), nor when its SET certainly failed;
//   - never be seen by a read that began after the latest deadline
//     (seen-after-expiry);
//   - never be missing from a read that began after the write took effect
//     and ended before the earliest deadline (lost-session);
//   - once a read found it gone after it had taken effect, never come back
//     (resurrected), beyond what skew between two nodes' clocks explains.
func checkSession(in CheckInput) CheckResult {
	var out CheckResult
	keys, m := byKey(in.Ops)
	checked := 0
	for _, k := range keys {
		r := checkSessionKey(in.Workload, k, m[k], in.SkewBound)
		out.Anomalies = append(out.Anomalies, r.Anomalies...)
		checked++
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s: %d keys checked, skew bound %v", in.Workload, checked, in.SkewBound))
	return out
}

func checkSessionKey(workload, key string, ops []Op, skew time.Duration) CheckResult {
	var out CheckResult
	var w *Op
	var reads []Op
	for i := range ops {
		op := ops[i]
		switch op.F {
		case "write":
			if w != nil {
				out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindPhantom, Workload: workload, Key: key,
					Detail: "harness error: a session key was written twice"})
				return out
			}
			w = &ops[i]
		case "read":
			if op.Type == OK {
				reads = append(reads, op)
			}
		}
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].Invoke < reads[j].Invoke })
	bad := func(kind string, format string, a ...any) {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: kind, Workload: workload, Key: key, Detail: fmt.Sprintf(format, a...)})
	}
	var seen []Op
	for _, r := range reads {
		if r.Value == nil {
			continue
		}
		switch {
		case w == nil || w.Value == nil || *r.Value != *w.Value:
			bad(KindPhantom, "%s read a value nobody wrote to this key (write: %v)", r, w)
			continue
		case w.Type == Fail:
			bad(KindFailApplied, "%s saw the value of %s, which was reported certainly failed", r, w)
		case r.Complete < w.Invoke:
			bad(KindReadBeforeWrite, "%s saw the value before %s was invoked", r, w)
		}
		seen = append(seen, r)
	}
	if w == nil || w.Type == Fail {
		return out
	}
	ttl := time.Duration(w.TTL) * time.Millisecond
	applied := int64(-1)
	if w.Type == OK {
		applied = w.Complete
	}
	for _, r := range seen {
		if applied < 0 || r.Complete < applied {
			applied = r.Complete
		}
	}
	if applied < 0 {
		return out // an unknown write nobody ever saw: nothing to hold it to
	}
	earliest := w.Invoke + int64(ttl-skew-sessionMargin)
	latest := applied + int64(ttl+skew+sessionMargin)
	for _, r := range seen {
		if r.Invoke > latest {
			bad(KindSeenAfterExpiry, "%s saw the session %v after its latest possible deadline (write %s, ttl %v, skew bound %v)",
				r, time.Duration(r.Invoke-latest), w, ttl, skew)
		}
	}
	var goneAt *Op // the first read that found it gone after it took effect
	for i, r := range reads {
		if r.Value != nil || r.Invoke < applied {
			continue
		}
		if r.Complete < earliest {
			bad(KindLostSession, "%s found no session %v before its earliest deadline (write %s, ttl %v)",
				r, time.Duration(earliest-r.Complete), w, ttl)
		}
		if goneAt == nil {
			goneAt = &reads[i]
		}
	}
	if goneAt != nil {
		// Two nodes' expiry moments differ by up to twice the skew bound.
		after := goneAt.Complete + int64(2*skew+sessionMargin)
		for _, r := range seen {
			if r.Invoke > after {
				bad(KindResurrected, "%s saw the session again after %s found it gone (write %s, ttl %v)", r, goneAt, w, ttl)
				break
			}
		}
	}
	return out
}
