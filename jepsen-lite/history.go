package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"
)

// Op types, as Jepsen names them: ok (it happened), fail (it certainly did
// not happen), info (it may or may not have happened).
const (
	OK   = "ok"
	Fail = "fail"
	Info = "info"
)

// Op is one operation of the history, invoked at Invoke and completed at
// Complete: nanoseconds since the run began, on the monotonic clock. An
// invoke/complete pair is kept as one record.
type Op struct {
	Index    int    `json:"index"`
	Workload string `json:"workload"`
	Process  int    `json:"process"` // logical client; a fresh one after every info
	Node     string `json:"node,omitempty"`
	F        string `json:"f"` // read, write, cas, incr, add, final-read
	Key      string `json:"key,omitempty"`
	Type     string `json:"type"` // ok, fail, info

	// Value: write/cas/add/session write: the value written (cas: the new
	// value); read: the value read when ok, nil for a missing key; incr: the
	// count the server returned, nil if the reply was not an integer.
	Value    *int64  `json:"value,omitempty"`
	Expect   *int64  `json:"expect,omitempty"`   // cas: the value it swaps from
	Observed *int64  `json:"observed,omitempty"` // cas failed on a mismatch: what its read saw (nil: no key)
	Elements []int64 `json:"elements,omitempty"` // set final-read; queue final-read: the queue
	Moved    []int64 `json:"moved,omitempty"`    // queue final-read: the list BLMOVE moves to
	TTL      int64   `json:"ttl_ms,omitempty"`   // session write: PX
	Raw      string  `json:"raw,omitempty"`      // a reply that did not parse as expected
	Error    string  `json:"error,omitempty"`

	Invoke   int64 `json:"invoke_ns"`
	Complete int64 `json:"complete_ns"`
}

func (o Op) String() string {
	s := fmt.Sprintf("#%d %s p%d %s %s %s", o.Index, o.Workload, o.Process, o.Type, o.F, o.Key)
	if o.Expect != nil {
		s += fmt.Sprintf(" %d→", *o.Expect)
	} else {
		s += " "
	}
	switch {
	case o.Value != nil:
		s += fmt.Sprint(*o.Value)
	case o.F == "read" && o.Type == OK:
		s += "nil"
	}
	if o.Observed != nil {
		s += fmt.Sprintf(" (saw %d)", *o.Observed)
	}
	if o.Node != "" {
		s += " on " + o.Node
	}
	s += fmt.Sprintf(" [%s, %s]", ms(o.Invoke), ms(o.Complete))
	if o.Error != "" {
		s += " err=" + o.Error
	}
	return s
}

// ms prints a run-relative nanosecond time as seconds with milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%.3fs", float64(ns)/1e9) }

func i64(v int64) *int64 { return &v }

// NemesisEvent is one fault: when it began and when it was healed.
type NemesisEvent struct {
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Start  int64  `json:"start_ns"`
	End    int64  `json:"end_ns"`
	Error  string `json:"error,omitempty"`
}

// Crash is a node process that exited without the harness killing it.
type Crash struct {
	Node   string `json:"node"`
	At     int64  `json:"at_ns"`
	Status string `json:"status"`
}

// History records operations and faults as they happen.
type History struct {
	mu      sync.Mutex
	base    time.Time
	proc    int
	ops     []Op
	nem     []NemesisEvent
	crashes []Crash
}

// AddCrash records a node that exited on its own.
func (h *History) AddCrash(node, status string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.crashes = append(h.crashes, Crash{Node: node, At: int64(time.Since(h.base)), Status: status})
}

// Crashes returns a copy of the crashes.
func (h *History) Crashes() []Crash {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Crash(nil), h.crashes...)
}

// NewHistory starts the run's clock.
func NewHistory() *History { return &History{base: time.Now()} }

// Now is the time since the run began, monotonic.
func (h *History) Now() int64 { return int64(time.Since(h.base)) }

// NewProcess hands out a logical client id.
func (h *History) NewProcess() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.proc++
	return h.proc
}

// Add records a completed operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	op.Index = len(h.ops)
	h.ops = append(h.ops, op)
}

// AddNemesis records a fault.
func (h *History) AddNemesis(e NemesisEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nem = append(h.nem, e)
}

// Ops returns a copy of the operations, ordered by invocation.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]Op(nil), h.ops...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Invoke < out[j].Invoke })
	return out
}

// Nemesis returns a copy of the fault events.
func (h *History) Nemesis() []NemesisEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]NemesisEvent(nil), h.nem...)
}

// Saved is the JSON file written for replay (`--check FILE`).
type Saved struct {
	Seed       int64          `json:"seed"`
	Command    string         `json:"command"`
	Workloads  []string       `json:"workloads"`
	Nemeses    []string       `json:"nemeses"`
	Nodes      []string       `json:"nodes"`                 // every node that ran
	Members    []string       `json:"members,omitempty"`     // the members at the end, under membership nemeses
	RaftConfig string         `json:"raft_config,omitempty"` // the leader's configuration at the end, then
	SkewBound  int64          `json:"skew_bound_ns"`         // largest clock offset any node ran with
	Started    time.Time      `json:"started"`
	Ops        []Op           `json:"ops"`
	Nemesis    []NemesisEvent `json:"nemesis"`
	Unhealthy  string         `json:"unhealthy,omitempty"` // the cluster did not recover after the last heal
	Crashes    []Crash        `json:"crashes,omitempty"`
}

// WriteJSON writes the history for replay.
func (s *Saved) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// LoadSaved reads a history written by WriteJSON.
func LoadSaved(path string) (*Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}
