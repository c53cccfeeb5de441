package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report renders the summary: operations per workload, availability per
// fault kind, anomalies by kind, and where the files are.
func Report(s *Saved, c CheckResult, out string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "jepsen-lite: seed %d, nodes %v, workloads %s, nemesis %s\n",
		s.Seed, s.Nodes, strings.Join(s.Workloads, ","), ternary(len(s.Nemeses) == 0, "none", strings.Join(s.Nemeses, ",")))
	if s.Command != "" {
		fmt.Fprintf(&b, "command: %s\n", s.Command)
	}
	b.WriteString("\n")

	type counts struct{ ops, ok, fail, info, anomalies int }
	per := map[string]*counts{}
	var names []string
	get := func(w string) *counts {
		if per[w] == nil {
			per[w] = &counts{}
			names = append(names, w)
		}
		return per[w]
	}
	for _, w := range s.Workloads {
		get(w)
	}
	var total counts
	for _, op := range s.Ops {
		c := get(op.Workload)
		for _, x := range []*counts{c, &total} {
			x.ops++
			switch op.Type {
			case OK:
				x.ok++
			case Fail:
				x.fail++
			case Info:
				x.info++
			}
		}
	}
	for _, a := range c.Anomalies {
		if a.Workload != "*" {
			get(a.Workload).anomalies++
		}
		total.anomalies++
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tops\tok\tfail\tunknown\tanomalies\t")
	for _, w := range names {
		x := per[w]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", w, x.ops, x.ok, x.fail, x.info, x.anomalies)
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t\n", total.ops, total.ok, total.fail, total.info, total.anomalies)
	tw.Flush()

	// Availability: the share of operations invoked during each kind of
	// fault that succeeded, against the share outside every fault.
	if len(s.Nemesis) > 0 {
		b.WriteString("\n")
		type avail struct{ faults, ops, ok int }
		kinds := map[string]*avail{}
		var knames []string
		var healthy avail
		for _, e := range s.Nemesis {
			if kinds[e.Kind] == nil {
				kinds[e.Kind] = &avail{}
				knames = append(knames, e.Kind)
			}
			kinds[e.Kind].faults++
		}
		sort.Strings(knames)
		for _, op := range s.Ops {
			if op.F == "final-read" {
				continue
			}
			in := false
			for _, e := range s.Nemesis {
				if op.Invoke >= e.Start && op.Invoke <= e.End {
					a := kinds[e.Kind]
					a.ops++
					if op.Type == OK {
						a.ok++
					}
					in = true
					break
				}
			}
			if !in {
				healthy.ops++
				if op.Type == OK {
					healthy.ok++
				}
			}
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "fault\ttimes\tops during\tok during\t")
		for _, k := range knames {
			a := kinds[k]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", k, a.faults, a.ops, pct(a.ok, a.ops))
		}
		fmt.Fprintf(tw, "(no fault)\t\t%d\t%s\t\n", healthy.ops, pct(healthy.ok, healthy.ops))
		tw.Flush()
		b.WriteString("\nfaults:\n")
		for _, e := range s.Nemesis {
			fmt.Fprintf(&b, "  %8s - %8s  %-16s %s%s\n", ms(e.Start), ms(e.End), e.Kind, e.Detail,
				ternary(e.Error != "", "  (error: "+e.Error+")", ""))
		}
	}
	if len(s.Members) > 0 {
		fmt.Fprintf(&b, "members at the end: %v; the leader's configuration: %s\n", s.Members, s.RaftConfig)
	}
	if s.SkewBound > 0 {
		fmt.Fprintf(&b, "clock skew bound used by the session checker: %v\n", time.Duration(s.SkewBound))
	}

	b.WriteString("\n")
	if len(c.Anomalies) == 0 {
		b.WriteString("anomalies: none\n")
	} else {
		kinds := c.Kinds()
		var ks []string
		for k, n := range kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(ks)
		fmt.Fprintf(&b, "ANOMALIES: %s\n", strings.Join(ks, ", "))
		for _, a := range c.Anomalies {
			fmt.Fprintf(&b, "  - %s\n", a)
		}
	}
	if len(c.Inconclusive) > 0 {
		b.WriteString("inconclusive:\n")
		for _, x := range c.Inconclusive {
			fmt.Fprintf(&b, "  - %s\n", x)
		}
	}
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	fmt.Fprintf(&b, "\nhistory: %s\n", filepath.Join(out, "history.json"))
	fmt.Fprintf(&b, "node logs: %s\n", filepath.Join(out, "n*", "node.log"))
	return b.String()
}

func pct(a, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(n))
}
