package main

import (
	"fmt"
	"sort"
)

// checkSet checks SADD of unique elements: each final SMEMBERS (one per
// node, after every fault healed) holds every acknowledged element, no
// element nobody tried to add, and no element whose SADD certainly failed.
func checkSet(in CheckInput) CheckResult {
	var out CheckResult
	keys, m := byKey(in.Ops)
	for _, k := range keys {
		out.add(checkSetKey(in.Workload, k, m[k]))
	}
	return out
}

func checkSetKey(workload, key string, ops []Op) CheckResult {
	var out CheckResult
	attempted := map[int64]Op{}
	acked, failed := map[int64]bool{}, map[int64]bool{}
	var finals []Op
	unknown, badReplies, badRaw := 0, 0, ""
	for _, op := range ops {
		switch op.F {
		case "add":
			if op.Value == nil {
				continue
			}
			attempted[*op.Value] = op
			switch op.Type {
			case OK:
				acked[*op.Value] = true
				if op.Raw != "" {
					badReplies, badRaw = badReplies+1, op.Raw
				}
			case Fail:
				failed[*op.Value] = true
			case Info:
				unknown++
			}
		case "final-read":
			if op.Type == OK {
				finals = append(finals, op)
			}
		}
	}
	if badReplies > 0 {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindBadReply, Workload: workload, Key: key,
			Detail: fmt.Sprintf("%d acknowledged SADDs did not answer an integer (e.g. %q)", badReplies, badRaw)})
	}
	if len(finals) == 0 {
		out.Inconclusive = append(out.Inconclusive, fmt.Sprintf("%s key %s: no final read succeeded", workload, key))
		return out
	}
	var first []int64
	for i, fr := range finals {
		have := map[int64]bool{}
		for _, e := range fr.Elements {
			have[e] = true
		}
		var lost, phantom, failedIn []int64
		for e := range acked {
			if !have[e] {
				lost = append(lost, e)
			}
		}
		for e := range have {
			if _, ok := attempted[e]; !ok {
				phantom = append(phantom, e)
			} else if failed[e] {
				failedIn = append(failedIn, e)
			}
		}
		if len(lost) > 0 {
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindLostWrite, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final read on %s misses %d of %d acknowledged elements: %s%s",
					fr.Node, len(lost), len(acked), sample(lost), opsOf(attempted, lost))})
		}
		if len(phantom) > 0 {
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindPhantom, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final read on %s holds %d elements nobody added: %s", fr.Node, len(phantom), sample(phantom))})
		}
		if len(failedIn) > 0 {
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindFailApplied, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final read on %s holds %d elements whose SADD was reported certainly failed: %s%s",
					fr.Node, len(failedIn), sample(failedIn), opsOf(attempted, failedIn))})
		}
		cur := append([]int64(nil), fr.Elements...)
		sort.Slice(cur, func(a, b int) bool { return cur[a] < cur[b] })
		if i == 0 {
			first = cur
		} else if fmt.Sprint(cur) != fmt.Sprint(first) {
			out.Anomalies = append(out.Anomalies, Anomaly{Kind: KindDivergence, Workload: workload, Key: key,
				Detail: fmt.Sprintf("final reads on %s and %s differ (%d vs %d elements)", finals[0].Node, fr.Node, len(first), len(cur))})
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s key %s: %d adds acknowledged, %d unknown, %d failed; final set %d elements",
		workload, key, len(acked), unknown, len(failed), len(first)))
	return out
}

func sample(s []int64) string {
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) > 20 {
		return fmt.Sprintf("%v ...", s[:20])
	}
	return fmt.Sprint(s)
}

func opsOf(m map[int64]Op, es []int64) string {
	var ops []Op
	for _, e := range es {
		ops = append(ops, m[e])
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Invoke < ops[j].Invoke })
	return opList(ops, 5)
}
