package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// checkExpiry checks the expiry-events workload. Each key's fate follows
// from its operations: a SET that certainly failed wrote nothing; after an
// acknowledged SET, a PEXPIRE or DEL that answered 1 found the key alive
// (renewed or deleted in time: it never expires), one that answered 0
// found it expired, and no such operation (or one that certainly failed)
// leaves it to expire. An unknown SET, PEXPIRE or DEL leaves the fate
// open. For every subscriber (one per node):
//
//   - no event twice for a key, in any window (duplicate-event): pub/sub
//     may lose events, never repeat them;
//   - never expired and renewed or deleted both (duplicate-event);
//   - no expired event for a key renewed or deleted in time, no event at
//     all for a key whose SET certainly failed (spurious-event);
//   - no expired event before the key's earliest deadline (early-expiry);
//   - a subscriber whose one connection spanned the key's whole life, from
//     before its SET to the end of the run, saw exactly the events its fate
//     gives: expired once for a key that expired, expire (PEXPIRE) or del
//     once for one renewed or deleted in time (missed-event).
func checkExpiry(in CheckInput) CheckResult {
	var out CheckResult
	bad := func(kind, key, format string, a ...any) {
		out.Anomalies = append(out.Anomalies, Anomaly{Kind: kind, Workload: in.Workload, Key: key, Detail: fmt.Sprintf(format, a...)})
	}
	sets, actions := map[string]Op{}, map[string]Op{}
	windows := map[string][]Op{}           // node -> connected windows
	events := map[string]map[string][]Op{} // node -> key -> events
	var nodes []string
	for _, op := range in.Ops {
		switch {
		case op.F == "set":
			sets[op.Key] = op
		case op.F == "renew" || op.F == "del":
			actions[op.Key] = op
		case op.F == "subscribed":
			if windows[op.Node] == nil {
				nodes = append(nodes, op.Node)
			}
			windows[op.Node] = append(windows[op.Node], op)
		case strings.HasPrefix(op.F, "ev:"):
			if events[op.Node] == nil {
				events[op.Node] = map[string][]Op{}
			}
			events[op.Node][op.Key] = append(events[op.Node][op.Key], op)
		}
	}
	sort.Strings(nodes)
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	// Fates.
	const (
		fateExpire  = "expire"  // it expired: expired once
		fateKept    = "kept"    // renewed or deleted in time: expire or del once, never expired
		fateNothing = "nothing" // the SET certainly failed: no event
		fateOpen    = "open"    // unknown: at most one of expired and the action's event
	)
	fates := map[string]string{}
	count := map[string]int{}
	for _, k := range keys {
		set, act := sets[k], actions[k]
		_, hasAct := actions[k]
		f := fateOpen
		switch {
		case set.Type == Fail:
			f = fateNothing
		case set.Type != OK:
		case !hasAct || act.Type == Fail:
			f = fateExpire
		case act.Type == OK && act.Raw != "":
			bad(KindBadReply, k, "%s did not answer 0 or 1 (%q)", act, act.Raw)
		case act.Type == OK && *act.Value == 1:
			f = fateKept
		case act.Type == OK:
			f = fateExpire
		}
		fates[k] = f
		count[f]++
	}

	judged, seen := 0, 0
	for _, n := range nodes {
		// The window open at the end (closed by the harness, not by an error).
		lastStart := int64(-1)
		for _, w := range windows[n] {
			if w.Error == "" {
				lastStart = w.Invoke
			}
		}
		for _, k := range keys {
			set, f := sets[k], fates[k]
			evs := events[n][k]
			seen += len(evs)
			byName := map[string][]Op{}
			for _, ev := range evs {
				name := strings.TrimPrefix(ev.F, "ev:")
				byName[name] = append(byName[name], ev)
			}
			if f == fateNothing {
				if len(evs) > 0 {
					bad(KindFailApplied, k, "the subscriber on %s got %s for a key whose SET certainly failed (%s)", n, evs[0], set)
				}
				continue
			}
			// What the key's fate gives: SET PX fires expire; PEXPIRE that
			// renews fires expire again, DEL that deletes fires del; an
			// expiry fires expired. An open fate bounds them only.
			act := actions[k]
			renewed, deleted := 0, 0
			switch {
			case f == fateKept && act.F == "renew":
				renewed = 1
			case f == fateKept:
				deleted = 1
			}
			want := map[string]int{"expire": 1 + renewed, "del": deleted, "expired": 0}
			if f == fateExpire {
				want["expired"] = 1
			}
			most := want
			if f == fateOpen {
				most = map[string]int{"expire": 1, "del": 0, "expired": 1}
				if act.F == "renew" && act.Type != Fail {
					most["expire"] = 2
				}
				if act.F == "del" && act.Type != Fail {
					most["del"] = 1
				}
			}
			for _, name := range []string{"expire", "expired", "del"} {
				if l := byName[name]; len(l) > most[name] {
					kind := KindDuplicateEvent
					if f == fateKept && name == "expired" {
						kind = KindSpuriousEvent // renewed or deleted in time, yet expired
					}
					bad(kind, k, "the subscriber on %s got %q %d times, at most %d expected (%s%s):%s",
						n, name, len(l), most[name], set, actionString(act), opList(evs, 6))
				}
			}
			// Renewed or deleted, and expired too: one of them is a duplicate.
			if l := byName["expired"]; len(l) > 0 && f == fateOpen &&
				(len(byName["del"]) > 0 || len(byName["expire"]) > 1) {
				bad(KindDuplicateEvent, k, "the subscriber on %s got expired and %s's event both (%s%s):%s",
					n, act.F, set, actionString(act), opList(evs, 6))
			}
			for name := range byName {
				if name != "expire" && name != "expired" && name != "del" {
					bad(KindSpuriousEvent, k, "the subscriber on %s got %q, which nothing here does (%s%s)", n, name, set, actionString(act))
				}
			}
			if expired := byName["expired"]; len(expired) > 0 {
				earliest := set.Invoke + int64(time.Duration(set.TTL)*time.Millisecond-in.SkewBound-sessionMargin)
				if expired[0].Invoke < earliest {
					bad(KindEarlyExpiry, k, "the subscriber on %s got %s %v before the earliest deadline (%s, ttl %dms)",
						n, expired[0], time.Duration(earliest-expired[0].Invoke), set, set.TTL)
				}
			}
			if f == fateOpen || lastStart < 0 || lastStart > set.Invoke {
				continue
			}
			judged++
			for _, name := range []string{"expire", "expired", "del"} {
				if l := byName[name]; len(l) < want[name] {
					bad(KindMissedEvent, k, "the subscriber on %s, connected from %s to the end, got %q %d times, %d expected (%s%s)",
						n, ms(lastStart), name, len(l), want[name], set, actionString(act))
				}
			}
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s: %d keys (%d expired, %d renewed or deleted in time, %d failed, %d unknown); %d subscribers, %d events, %d key×subscriber pairs judged",
		in.Workload, len(keys), count[fateExpire], count[fateKept], count[fateNothing], count[fateOpen], len(nodes), seen, judged))
	if len(nodes) == 0 && len(keys) > 0 {
		out.Inconclusive = append(out.Inconclusive, in.Workload+": no subscriber ever subscribed")
	}
	return out
}

func actionString(op Op) string {
	if op.F == "" {
		return ""
	}
	return "; " + op.String()
}
