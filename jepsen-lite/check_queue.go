package main

import (
	"fmt"
	"sort"
)

// checkQueue checks the queue workload: unique elements RPUSHed, taken
// with LPOP/BLPOP, the rest read with LRANGE on every node at the end.
//
// An element BLMOVE took is in the moved list for good.
//
//   - no element taken twice (by LPOP, BLPOP or BLMOVE), nor taken and
//     still in the queue, nor in the queue and the moved list, nor twice
//     in either (duplicate-delivery);
//   - in the moved list only what a BLMOVE that did not certainly fail
//     moved (phantom), and everything an acknowledged BLMOVE moved
//     (lost-write);
//   - nothing taken or left that nobody pushed (phantom), or whose RPUSH
//     certainly failed (fail-but-applied);
//   - every acknowledged element taken, left or moved (lost-write): an
//     unknown LPOP/BLPOP may have taken one whose reply never came, so as
//     many missing elements as there were unknown pops are allowed;
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
	unknownMoves := 0
	movedBy := map[int64]bool{} // acknowledged BLMOVEs
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
		case "dequeue", "move":
			switch {
			case op.Type == Info && op.F == "move":
				unknownMoves++
			case op.Type == Info:
				unknownTake++
			case op.Type != OK:
			case op.Value == nil:
				empty++
			default:
				okTakes++
				taken[*op.Value] = append(taken[*op.Value], op)
				if op.F == "move" {
					movedBy[*op.Value] = true
				}
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
		inMoved := map[int64]int{}
		for _, el := range fr.Moved {
			inMoved[el]++
		}
		var movedTwice, movedAndLeft, movedPhantom, movedLost, unexplained []int64
		for el, n := range inMoved {
			if n > 1 {
				movedTwice = append(movedTwice, el)
			}
			if left[el] > 0 {
				movedAndLeft = append(movedAndLeft, el)
			}
			if !movedBy[el] && len(taken[el]) > 0 {
				takenToo := taken[el]
				bad(KindDuplicateDelivery, "final read on %s: element %d is in the moved list, and was taken by:%s", fr.Node, el, opList(takenToo, 3))
			}
			if _, pushed := pushes[el]; !pushed {
				movedPhantom = append(movedPhantom, el)
			} else if !movedBy[el] {
				unexplained = append(unexplained, el)
			}
		}
		for el := range movedBy {
			if inMoved[el] == 0 {
				movedLost = append(movedLost, el)
			}
		}
		if len(movedTwice)+len(movedAndLeft) > 0 {
			bad(KindDuplicateDelivery, "final read on %s: %d elements twice in the moved list, %d in it and in the queue: %s %s",
				fr.Node, len(movedTwice), len(movedAndLeft), sample(movedTwice), sample(movedAndLeft))
		}
		if len(unexplained) > unknownMoves {
			// Each BLMOVE of unknown outcome may have moved one of them.
			bad(KindPhantom, "final read on %s: %d elements in the moved list without an acknowledged BLMOVE, more than the %d of unknown outcome: %s",
				fr.Node, len(unexplained), unknownMoves, sample(unexplained))
		}
		if len(movedPhantom) > 0 {
			bad(KindPhantom, "final read on %s: %d elements in the moved list that no BLMOVE moved: %s", fr.Node, len(movedPhantom), sample(movedPhantom))
		}
		if len(movedLost) > 0 {
			bad(KindLostWrite, "final read on %s: %d elements an acknowledged BLMOVE moved are not in the moved list: %s", fr.Node, len(movedLost), sample(movedLost))
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
			if left[el] == 0 && len(taken[el]) == 0 && inMoved[el] == 0 {
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
		} else if fmt.Sprint(fr.Elements, fr.Moved) != fmt.Sprint(first, finals[0].Moved) {
			bad(KindDivergence, "final reads on %s and %s differ (%d vs %d elements queued, %d vs %d moved)",
				finals[0].Node, fr.Node, len(first), len(fr.Elements), len(finals[0].Moved), len(fr.Moved))
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s key %s: %d pushes acknowledged, %d unknown, %d failed; %d taken (%d by BLMOVE), %d found it empty, %d pops and %d BLMOVEs unknown; %d left, %d in the moved list at the end",
		workload, key, len(acked), unknownPush, len(failed), okTakes, len(movedBy), empty, unknownTake, unknownMoves, len(first), len(finals[0].Moved)))
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
