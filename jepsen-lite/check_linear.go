package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// The register model: one key's value, or absent. Writes carry unique
// values, which keeps porcupine's search short.

type regState struct {
	Set bool
	V   int64
}

func (s regState) String() string {
	if !s.Set {
		return "nil"
	}
	return fmt.Sprint(s.V)
}

func stateOf(v *int64) regState {
	if v == nil {
		return regState{}
	}
	return regState{true, *v}
}

type regInput struct {
	F       string // read, write, cas
	V       int64  // write/cas: new value
	Expect  int64  // cas
	Unknown bool   // info: the outcome is not known
}

type regOutput struct {
	Read regState // read: what was seen
}

var registerModel = porcupine.Model{
	Init: func() interface{} { return regState{} },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		s, in := state.(regState), input.(regInput)
		switch in.F {
		case "read":
			return output.(regOutput).Read == s, s
		case "write":
			return true, regState{true, in.V}
		case "cas":
			if s == (regState{true, in.Expect}) {
				return true, regState{true, in.V}
			}
			// A known-successful cas needs its expected value; an unknown
			// one at this point in the order simply did nothing.
			return in.Unknown, s
		}
		return false, s
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		q := ""
		if in.Unknown {
			q = " ?"
		}
		switch in.F {
		case "read":
			return "read → " + output.(regOutput).Read.String()
		case "write":
			return fmt.Sprintf("write %d%s", in.V, q)
		case "cas":
			return fmt.Sprintf("cas %d→%d%s", in.Expect, in.V, q)
		}
		return in.F
	},
	DescribeState: func(state interface{}) string { return state.(regState).String() },
}

// porcupineOps turns one key's operations into porcupine's form. Failed
// operations did not happen and are dropped; so are reads with unknown
// results. An operation with an unknown outcome may take effect at any
// time after its invocation, or never: it stays open until the end.
func porcupineOps(ops []Op) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		end = max(end, op.Complete, op.Invoke)
	}
	end++
	clients := map[int]int{}
	client := func(p int) int {
		if c, ok := clients[p]; ok {
			return c
		}
		clients[p] = len(clients)
		return clients[p]
	}
	var out []porcupine.Operation
	for _, op := range ops {
		var in regInput
		var outp regOutput
		ret := op.Complete
		switch {
		case op.F == "read" && op.Type == OK:
			in.F, outp.Read = "read", stateOf(op.Value)
		case op.F == "write" && op.Type != Fail && op.Value != nil:
			in.F, in.V = "write", *op.Value
		case op.F == "cas" && op.Type != Fail && op.Value != nil && op.Expect != nil:
			in.F, in.V, in.Expect = "cas", *op.Value, *op.Expect
		case op.F == "cas" && op.Type == Fail && op.Error == "mismatch":
			// The cas read the key (linearizably) and found another value:
			// that read is an observation like any other.
			in.F, outp.Read = "read", stateOf(op.Observed)
		default:
			continue
		}
		if op.Type == Info {
			in.Unknown, ret = true, end
		}
		out = append(out, porcupine.Operation{ClientId: client(op.Process), Input: in, Output: outp, Call: op.Invoke, Return: ret})
	}
	return out
}

// checkLinearizable checks every key of a register-like workload with
// porcupine and writes the visualisation of each failing key.
func checkLinearizable(in CheckInput) CheckResult {
	keys, m := byKey(in.Ops)
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	type keyResult struct {
		key  string
		res  porcupine.CheckResult
		info porcupine.LinearizationInfo
		n    int
	}
	results := make([]keyResult, len(keys))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, k := range keys {
		wg.Add(1)
		go func(i int, k string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ops := porcupineOps(m[k])
			res, info := porcupine.CheckOperationsVerbose(registerModel, ops, timeout)
			results[i] = keyResult{k, res, info, len(ops)}
		}(i, k)
	}
	wg.Wait()
	var out CheckResult
	checked := 0
	for _, r := range results {
		switch r.res {
		case porcupine.Ok:
			checked++
		case porcupine.Unknown:
			out.Inconclusive = append(out.Inconclusive, fmt.Sprintf("%s key %s: porcupine gave up after %v (%d operations)", in.Workload, r.key, timeout, r.n))
		case porcupine.Illegal:
			a := Anomaly{Kind: KindNonLinearizable, Workload: in.Workload, Key: r.key,
				Detail: fmt.Sprintf("no linearization of %d operations", r.n)}
			if w := witness(m[r.key]); w != "" {
				a.Detail += "; e.g. " + w
			}
			if in.OutDir != "" {
				path := filepath.Join(in.OutDir, fmt.Sprintf("%s-%s.html", in.Workload, fileSafe(r.key)))
				if err := porcupine.VisualizePath(registerModel, r.info, path); err != nil {
					a.Detail += "; visualisation failed: " + err.Error()
				} else {
					a.File = path
				}
			}
			out.Anomalies = append(out.Anomalies, a)
		}
	}
	out.Notes = append(out.Notes, fmt.Sprintf("%s: %d keys linearizable, %d not, %d undecided", in.Workload, checked, len(out.Anomalies), len(out.Inconclusive)))
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// witness looks for a simple, human-readable reason a key's history is
// not linearizable: a read that saw a value already overwritten before it
// began, a read of nothing after a write had completed, or a value nobody
// wrote. "" if none of these explains it (porcupine's visualisation does).
func witness(ops []Op) string {
	writes := map[int64]Op{} // value -> the op that wrote it (write, or ok cas)
	var done []Op            // acknowledged writes
	for _, op := range ops {
		if op.Value == nil || op.Type == Fail || (op.F != "write" && op.F != "cas") {
			continue
		}
		writes[*op.Value] = op
		if op.Type == OK {
			done = append(done, op)
		}
	}
	for _, r := range ops {
		var v *int64
		switch {
		case r.F == "read" && r.Type == OK:
			v = r.Value
		case r.F == "cas" && r.Type == Fail && r.Error == "mismatch":
			v = r.Observed
		default:
			continue
		}
		if v == nil {
			for _, w := range done {
				if w.Complete < r.Invoke {
					return fmt.Sprintf("%s found no value, though %s had completed before it began", r, w)
				}
			}
			continue
		}
		w, ok := writes[*v]
		if !ok {
			return fmt.Sprintf("%s saw %d, which no write that did not fail wrote", r, *v)
		}
		for _, w2 := range done {
			if w2.Invoke > w.Complete && w2.Complete < r.Invoke && w.Type == OK {
				return fmt.Sprintf("%s saw %d, but %s had replaced it before the read began", r, *v, w2)
			}
		}
	}
	return ""
}
