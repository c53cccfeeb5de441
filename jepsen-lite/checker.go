package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Anomaly kinds. Each checker reports only the kinds it claims to catch.
const (
	KindNonLinearizable   = "non-linearizable"   // register, cas, follower-reads (porcupine)
	KindLostWrite         = "lost-write"         // set: an acknowledged element is missing
	KindLostIncrement     = "lost-increment"     // counter: fewer than the acknowledged increments
	KindPhantom           = "phantom"            // a value nobody attempted to write
	KindFailApplied       = "fail-but-applied"   // a write reported certainly-failed took effect
	KindStaleRead         = "stale-read"         // counter: a read lower than the increments acknowledged before it
	KindDuplicateIncr     = "duplicate-incr"     // counter: two INCRs answered the same count
	KindDivergence        = "divergence"         // nodes disagree on the final state
	KindBadReply          = "unexpected-reply"   // a success reply of the wrong type (INCR answered +OK)
	KindReadBeforeWrite   = "read-before-write"  // session: seen before it was written
	KindSeenAfterExpiry   = "seen-after-expiry"  // session: seen after its deadline plus the skew bound
	KindLostSession       = "lost-session"       // session: missing while it must be alive
	KindResurrected       = "resurrected"        // session: gone, then back
	KindUnavailable       = "unavailable-healed" // no final read succeeded after every fault was healed
	KindCrash             = "node-crashed"       // a node process exited without being killed
	KindDuplicateEvent    = "duplicate-event"    // expiry-events: one notification twice on one subscriber
	KindSpuriousEvent     = "spurious-event"     // expiry-events: expired for a key renewed or deleted in time
	KindEarlyExpiry       = "early-expiry"       // expiry-events: expired before the key's earliest deadline
	KindMissedEvent       = "missed-event"       // expiry-events: a subscriber connected throughout missed one
	KindDuplicateDelivery = "duplicate-delivery" // queue: an element taken twice, or taken and still queued
)

// Anomaly is one thing the history shows the server did wrong.
type Anomaly struct {
	Kind     string `json:"kind"`
	Workload string `json:"workload"`
	Key      string `json:"key,omitempty"`
	Detail   string `json:"detail"`
	File     string `json:"file,omitempty"` // porcupine's visualisation
}

func (a Anomaly) String() string {
	s := fmt.Sprintf("%s [%s]", a.Kind, a.Workload)
	if a.Key != "" {
		s += " key " + a.Key
	}
	s += ": " + a.Detail
	if a.File != "" {
		s += " (see " + a.File + ")"
	}
	return s
}

// CheckInput is one workload's share of the history.
type CheckInput struct {
	Workload  string
	Ops       []Op
	SkewBound time.Duration // largest clock offset a node ran with
	OutDir    string        // where visualisations go; "" for none
	Timeout   time.Duration // per key, for the linearizability search
}

// CheckResult is what a checker found.
type CheckResult struct {
	Anomalies    []Anomaly
	Inconclusive []string // checks that could not finish (porcupine timed out, no final read)
	Notes        []string
}

func (r *CheckResult) add(o CheckResult) {
	r.Anomalies = append(r.Anomalies, o.Anomalies...)
	r.Inconclusive = append(r.Inconclusive, o.Inconclusive...)
	r.Notes = append(r.Notes, o.Notes...)
}

// Kinds counts anomalies by kind.
func (r CheckResult) Kinds() map[string]int {
	m := map[string]int{}
	for _, a := range r.Anomalies {
		m[a.Kind]++
	}
	return m
}

// checkers maps a workload to its checker.
var checkers = map[string]func(CheckInput) CheckResult{
	"register":       checkLinearizable,
	"follower-reads": checkLinearizable,
	"cas":            checkLinearizable,
	"counter":        checkCounter,
	"set":            checkSet,
	"session":        checkSession,
	"client-session": checkCounter,
	"expiry-events":  checkExpiry,
	"queue":          checkQueue,
}

// Check runs every workload's checker over its operations.
func Check(s *Saved, outDir string, timeout time.Duration) CheckResult {
	byWorkload := map[string][]Op{}
	for _, op := range s.Ops {
		byWorkload[op.Workload] = append(byWorkload[op.Workload], op)
	}
	var res CheckResult
	if s.Unhealthy != "" {
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: KindUnavailable, Workload: "*", Detail: s.Unhealthy})
	}
	for _, c := range s.Crashes {
		res.Anomalies = append(res.Anomalies, Anomaly{Kind: KindCrash, Workload: "*",
			Detail: fmt.Sprintf("%s exited on its own at %s: %s (see %s/node.log)", c.Node, ms(c.At), c.Status, c.Node)})
	}
	if evictions, ok := byWorkload[evictionName]; ok {
		delete(byWorkload, evictionName)
		leaveOutEvicted(byWorkload, evictions, &res)
	}
	names := make([]string, 0, len(byWorkload))
	for w := range byWorkload {
		names = append(names, w)
	}
	sort.Strings(names)
	for _, w := range names {
		c, ok := checkers[w]
		if !ok {
			res.Inconclusive = append(res.Inconclusive, fmt.Sprintf("%s: no checker", w))
			continue
		}
		res.add(c(CheckInput{Workload: w, Ops: byWorkload[w], SkewBound: time.Duration(s.SkewBound), OutDir: outDir, Timeout: timeout}))
	}
	return res
}

// leaveOutEvicted takes every operation on a key maxmemory evicted out of
// the workloads' histories: the server dropped it by its policy, as
// Redis would, so what is missing there is not a lost write. The keys
// left are checked as ever; the notes say how many were left out.
func leaveOutEvicted(byWorkload map[string][]Op, evictions []Op, res *CheckResult) {
	evicted := map[string]bool{}
	for _, op := range evictions {
		evicted[op.Key] = true
	}
	res.Notes = append(res.Notes, fmt.Sprintf("maxmemory evicted %d keys (%d notifications)", len(evicted), len(evictions)))
	for w, ops := range byWorkload {
		keys, gone := map[string]bool{}, map[string]bool{}
		kept := ops[:0:0]
		for _, op := range ops {
			keys[op.Key] = true
			if op.Key != "" && evicted[op.Key] {
				gone[op.Key] = true
				continue
			}
			kept = append(kept, op)
		}
		if len(gone) == 0 {
			continue
		}
		res.Notes = append(res.Notes, fmt.Sprintf("%s: %d of %d keys evicted, not checked", w, len(gone), len(keys)))
		if len(kept) == 0 {
			delete(byWorkload, w)
			continue
		}
		byWorkload[w] = kept
	}
}

// byKey groups operations by key, keys sorted.
func byKey(ops []Op) ([]string, map[string][]Op) {
	m := map[string][]Op{}
	for _, op := range ops {
		m[op.Key] = append(m[op.Key], op)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, m
}

func opList(ops []Op, max int) string {
	var b strings.Builder
	for i, op := range ops {
		if i == max {
			fmt.Fprintf(&b, "\n    ... and %d more", len(ops)-max)
			break
		}
		b.WriteString("\n    " + op.String())
	}
	return b.String()
}

func fmtVal(v *int64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}
