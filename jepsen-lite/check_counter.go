package main

import (
	"fmt"
	"sort"
)

// checkCounter checks INCR on one key per workload run:
//
//   - every read (and every count an INCR returned) lies between the
//     increments acknowledged before it began and the increments not
//     certainly failed that began before it ended;
//   - no two acknowledged INCRs returned the same count;
//   - the final value, read on every node after the faults healed, is
//     within [acknowledged, acknowledged + unknown], and the same on every node.
func checkCounter(in CheckInput) CheckResult {
	var out CheckResult
	keys, m := byKey(in.Ops)
	for _, k := range keys {
		out.add(checkCounterKey(in.Workload, k, m[k]))
	}
	return out
}

func checkCounterKey(workload, key string, ops []Op) CheckResult {
	var out CheckResult
	var incrs, reads, finals []Op
	acked, unknown, failed, badReplies := 0, 0, 0, 0
	for _, op := range ops {
		switch op.F {
		case "incr":
			incrs = append(incrs, op)
			switch op.Type {
			case OK:
				acked++
				if op.Value == nil {
					badReplies++
				}
			case Info:
				unknown++
			case Fail:
				failed++
			}
		case "read":
			if op.Type == OK {
				reads = append(reads, op)
			}
		case "final-read":
			if op.Type == OK {
				finals = append(finals, op)
			}
		}
	}
	if badReplies > 0 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindBadReply, Workload: workload, Key: key,
			Detail: fmt.Sprintf("%d acknowledged INCRs did not answer an integer (e.g. %q)", badReplies, firstRaw(incrs))})
	}

	// Bounds for an observation made during [inv, comp]: at least the
	// increments acknowledged before inv, at most those invoked before comp
	// that did not certainly fail.
	okDone := make([]int64, 0, acked)        // completion times of ok incrs
	maybeInv := make([]int64, 0, len(incrs)) // invocation times of ok/info incrs
	for _, op := range incrs {
		if op.Type == OK {
			okDone = append(okDone, op.Complete)
		}
		if op.Type != Fail {
			maybeInv = append(maybeInv, op.Invoke)
		}
	}
	sort.Slice(okDone, func(i, j int) bool { return okDone[i] < okDone[j] })
	sort.Slice(maybeInv, func(i, j int) bool { return maybeInv[i] < maybeInv[j] })
	lower := func(inv int64) int64 {
		return int64(sort.Search(len(okDone), func(i int) bool { return okDone[i] >= inv }))
	}
	upper := func(comp int64) int64 {
		return int64(sort.Search(len(maybeInv), func(i int) bool { return maybeInv[i] > comp }))
	}

	var low, high []string
	observe := func(op Op, v int64, self int64) {
		lo, hi := lower(op.Invoke)+self, upper(op.Complete)
		if v < lo {
			low = append(low, fmt.Sprintf("%s saw %d, but %d increments were acknowledged before it began", op.String(), v, lo))
		}
		if v > hi {
			high = append(high, fmt.Sprintf("%s saw %d, but only %d increments had begun when it ended", op.String(), v, hi))
		}
	}
	seen := map[int64]Op{}
	var dups []string
	for _, op := range incrs {
		if op.Type != OK || op.Value == nil {
			continue
		}
		observe(op, *op.Value, 1)
		if prev, ok := seen[*op.Value]; ok {
			dups = append(dups, fmt.Sprintf("%s and %s both answered %d", prev.String(), op.String(), *op.Value))
		}
		seen[*op.Value] = op
	}
	for _, op := range reads {
		v := int64(0)
		if op.Value != nil {
			v = *op.Value
		}
		observe(op, v, 0)
	}
	if len(low) > 0 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindStaleRead, Workload: workload, Key: key,
			Detail: fmt.Sprintf("%d observations below the acknowledged count:%s", len(low), lines(low, 5))})
	}
	if len(high) > 0 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindPhantom, Workload: workload, Key: key,
			Detail: fmt.Sprintf("%d observations above every attempted increment:%s", len(high), lines(high, 5))})
	}
	if len(dups) > 0 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindDuplicateIncr, Workload: workload, Key: key,
			Detail: fmt.Sprintf("%d counts handed out twice:%s", len(dups), lines(dups, 5))})
	}

	if len(finals) == 0 {
		out.Inconclusive = append(out.Inconclusive, fmt.Sprintf("%s key %s: no final read succeeded", workload, key))
		return out
	}
	values := map[int64][]string{}
	for _, op := range finals {
		v := int64(0)
		if op.Value != nil {
			v = *op.Value
		}
		values[v] = append(values[v], op.Node)
		switch {
		case v < int64(acked):
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindLostIncrement, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final value %d on %s, but %d INCRs were acknowledged (%d unknown, %d failed): %d lost",
					v, op.Node, acked, unknown, failed, int64(acked)-v)})
		case v > int64(acked+unknown):
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindPhantom, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final value %d on %s, above %d acknowledged + %d unknown INCRs (%d failed)",
					v, op.Node, acked, unknown, failed)})
		}
	}
	if len(values) > 1 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindDivergence, Workload: workload, Key: key,
			Detail: fmt.Sprintf("nodes disagree on the final value: %v", values)})
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s key %s: %d INCRs acknowledged, %d unknown, %d failed; final %v",
		workload, key, acked, unknown, failed, keysOf(values)))
	return out
}

func firstRaw(ops []Op) string {
	for _, op := range ops {
		if op.Type == OK && op.Value == nil {
			return op.Raw
		}
	}
	return ""
}

func keysOf(m map[int64][]string) []int64 {
	var out []int64
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func lines(s []string, max int) string {
	out := ""
	for i, l := range s {
		if i == max {
			out += fmt.Sprintf("\n    ... and %d more", len(s)-max)
			break
		}
		out += "\n    " + l
	}
	return out
}
