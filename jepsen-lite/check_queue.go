package main

import (
	"fmt"
	"sort"
)

// checkQueue checks the queue workload: unique elements RPUSHed, taken
// with LPOP/BLPOP, the rest read with LRANGE on every node at the end.
//
//   - no element taken twice, nor taken and still in a final read
//     (duplicate-delivery), nor twice in one final read;
//   - nothing taken or left that nobody pushed (phantom), or whose RPUSH
//     certainly failed (fail-but-applied);
//   - every acknowledged element taken or left (lost-write): an unknown
//     LPOP/BLPOP may have taken one whose reply never came, so as many
//     missing elements as there were unknown takes are allowed;
//   - every node's final list the same (divergence).
func checkQueue(in CheckInput) CheckResult {
	var out CheckResult
	keys, m := byKey(in.Ops)
	for _, k := range keys {
		out.add(checkQueueKey(in.Workload, k, m[k]))
	}
	return out
}

func checkQueueKey(workload, key string, ops []Op) CheckResult {
	var out CheckResult
	bad := func(kind, format string, a ...any) {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: kind, Workload: workload, Key: key, Detail: fmt.Sprintf(format, a...)})
	}
	pushes := map[int64]Op{}
	acked, failed := map[int64]bool{}, map[int64]bool{}
	taken := map[int64][]Op{}
	var finals []Op
	unknownPush, unknownTake, okTakes, empty := 0, 0, 0, 0
	badReplies, badRaw := 0, ""
	for _, op := range ops {
		switch op.F {
		case "enqueue":
			pushes[*op.Value] = op
			switch op.Type {
			case OK:
				acked[*op.Value] = true
				if op.Raw != "" {
					badReplies, badRaw = badReplies+1, op.Raw
				}
			case Fail:
				failed[*op.Value] = true
			default:
				unknownPush++
			}
		case "dequeue":
			switch {
			case op.Type == Info:
				unknownTake++
			case op.Type != OK:
			case op.Value == nil:
				empty++
			default:
				okTakes++
				taken[*op.Value] = append(taken[*op.Value], op)
			}
		case "final-read":
			if op.Type == OK {
				finals = append(finals, op)
			}
		}
	}
	if badReplies > 0 {
		bad(KindBadReply, "%d acknowledged RPUSHes did not answer an integer (e.g. %q)", badReplies, badRaw)
	}
	for _, el := range sortedKeys(taken) {
		l := taken[el]
		p, pushed := pushes[el]
		switch {
		case !pushed:
			bad(KindPhantom, "element %d taken, which nobody pushed:%s", el, opList(l, 3))
		case failed[el]:
			bad(KindFailApplied, "element %d taken, whose RPUSH certainly failed (%s):%s", el, p, opList(l, 3))
		}
		if len(l) > 1 {
			bad(KindDuplicateDelivery, "element %d taken %d times (%s):%s", el, len(l), p, opList(l, 5))
		}
	}
	if len(finals) == 0 {
		out.Inconclusive = append(out.Inconclusive, fmt.Sprintf("%s key %s: no final read succeeded", workload, key))
		return out
	}
	var first []int64
	for i, fr := range finals {
		left := map[int64]int{}
		for _, el := range fr.Elements {
			left[el]++
		}
		var phantom, failedIn, twice, takenToo, lost []int64
		for el, n := range left {
			_, pushed := pushes[el]
			switch {
			case !pushed:
				phantom = append(phantom, el)
			case failed[el]:
				failedIn = append(failedIn, el)
			}
			if n > 1 {
				twice = append(twice, el)
			}
			if len(taken[el]) > 0 {
				takenToo = append(takenToo, el)
			}
		}
		for el := range acked {
			if left[el] == 0 && len(taken[el]) == 0 {
				lost = append(lost, el)
			}
		}
		if len(phantom) > 0 {
			bad(KindPhantom, "final read on %s holds %d elements nobody pushed: %s", fr.Node, len(phantom), sample(phantom))
		}
		if len(failedIn) > 0 {
			bad(KindFailApplied, "final read on %s holds %d elements whose RPUSH certainly failed: %s%s",
				fr.Node, len(failedIn), sample(failedIn), opsOf(pushes, failedIn))
		}
		if len(twice) > 0 {
			bad(KindDuplicateDelivery, "final read on %s holds %d elements twice: %s", fr.Node, len(twice), sample(twice))
		}
		if len(takenToo) > 0 {
			bad(KindDuplicateDelivery, "final read on %s holds %d elements already taken: %s", fr.Node, len(takenToo), sample(takenToo))
		}
		if len(lost) > unknownTake {
			bad(KindLostWrite, "%d acknowledged elements neither taken nor in the final read on %s, more than the %d takes of unknown outcome: %s%s",
				len(lost), fr.Node, unknownTake, sample(lost), opsOf(pushes, lost))
		}
		if i == 0 {
			first = fr.Elements
		} else if fmt.Sprint(fr.Elements) != fmt.Sprint(first) {
			bad(KindDivergence, "final reads on %s and %s differ (%d vs %d elements)", finals[0].Node, fr.Node, len(first), len(fr.Elements))
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s key %s: %d pushes acknowledged, %d unknown, %d failed; %d taken, %d found it empty, %d takes unknown; %d left at the end",
		workload, key, len(acked), unknownPush, len(failed), okTakes, empty, unknownTake, len(first)))
	return out
}

func sortedKeys[V any](m map[int64]V) []int64 {
	ks := make([]int64, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i] < ks[j] })
	return ks
}
