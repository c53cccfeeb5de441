package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
)

// A small SVG line-chart writer: enough for throughput curves and latency
// distributions, with no dependency.

type series struct {
	name   string
	xs, ys []float64
}

type axis struct {
	label  string
	log    bool
	ticks  []float64              // fixed ticks; nil picks them
	format func(v float64) string // tick label
}

type chart struct {
	title  string
	x, y   axis
	series []series
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"}

// colorOf keeps a system's colour the same in every plot.
func colorOf(name string) string {
	for i, s := range allSystems {
		if strings.HasPrefix(name, s.name) && (len(name) == len(s.name) || name[len(s.name)] == ' ') {
			return palette[i%len(palette)]
		}
	}
	h := 0
	for _, c := range name {
		h = h*31 + int(c)
	}
	return palette[(h&0x7fffffff)%len(palette)]
}

const (
	svgW, svgH                     = 800, 440
	padL, padR, padT, padB         = 78, 240, 40, 56
	plotW, plotH                   = svgW - padL - padR, svgH - padT - padB
	tickLen                        = 5
	fontAttr                       = `font-family="sans-serif" font-size="12"`
	gridColor                      = "#e5e5e5"
	minLogValue            float64 = 1e-9
)

func (c chart) render() string {
	var xs, ys []float64
	for _, s := range c.series {
		for i := range s.xs {
			if (c.x.log && s.xs[i] <= 0) || (c.y.log && s.ys[i] <= 0) {
				continue
			}
			xs = append(xs, s.xs[i])
			ys = append(ys, s.ys[i])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-family="sans-serif" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.title))
	if len(xs) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>no data</text></svg>`+"\n", padL+plotW/2-30, padT+plotH/2, fontAttr)
		return b.String()
	}
	xlo, xhi := domain(xs, c.x)
	ylo, yhi := domain(ys, c.y)
	if !c.y.log && ylo > 0 {
		ylo = 0 // linear value axes start at zero
	}
	if !c.y.log {
		yhi *= 1.05
	}
	px := func(v float64) float64 { return padL + scale(v, xlo, xhi, c.x.log)*plotW }
	py := func(v float64) float64 { return padT + plotH - scale(v, ylo, yhi, c.y.log)*plotH }

	// Grid and ticks.
	xt := c.x.ticks
	if xt == nil {
		xt = autoTicks(xlo, xhi, c.x.log)
	}
	yt := c.y.ticks
	if yt == nil {
		yt = autoTicks(ylo, yhi, c.y.log)
	}
	fx, fy := c.x.format, c.y.format
	if fx == nil {
		fx = fmtNum
	}
	if fy == nil {
		fy = fmtNum
	}
	for _, t := range xt {
		if t < xlo*(1-1e-9) || t > xhi*(1+1e-9) {
			continue
		}
		x := px(t)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x, padT, x, padT+plotH, gridColor)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s text-anchor="middle">%s</text>`+"\n", x, padT+plotH+tickLen+13, fontAttr, esc(fx(t)))
	}
	for _, t := range yt {
		if t < ylo*(1-1e-9) || t > yhi*(1+1e-9) {
			continue
		}
		y := py(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, gridColor)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s text-anchor="end">%s</text>`+"\n", padL-tickLen-3, y+4, fontAttr, esc(fy(t)))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>`+"\n", padL, padT, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-12, fontAttr, esc(c.x.label))
	fmt.Fprintf(&b, `<text x="16" y="%d" %s text-anchor="middle" transform="rotate(-90 16 %d)">%s</text>`+"\n", padT+plotH/2, fontAttr, padT+plotH/2, esc(c.y.label))

	// Series and legend.
	for i, s := range c.series {
		col := colorOf(s.name)
		dash := ""
		if strings.Contains(s.name, "RssAnon") || strings.Contains(s.name, "live") {
			dash = ` stroke-dasharray="5,3"`
		}
		var pts []string
		for j := range s.xs {
			if (c.x.log && s.xs[j] <= 0) || (c.y.log && s.ys[j] <= 0) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.xs[j]), py(s.ys[j])))
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), col, dash)
		}
		for _, p := range pts {
			x, y, _ := strings.Cut(p, ",")
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`+"\n", x, y, col)
		}
		ly := padT + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", padL+plotW+12, ly, padL+plotW+36, ly, col, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", padL+plotW+42, ly+4, fontAttr, esc(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func esc(s string) string { return html.EscapeString(s) }

// domain is the data's range, widened a little on log axes and when flat.
func domain(vs []float64, a axis) (lo, hi float64) {
	lo, hi = slices.Min(vs), slices.Max(vs)
	if a.ticks != nil {
		lo, hi = min(lo, slices.Min(a.ticks)), max(hi, slices.Max(a.ticks))
	}
	if a.log {
		lo, hi = max(lo, minLogValue), max(hi, minLogValue)
		if hi/lo < 1.5 {
			lo, hi = lo/1.5, hi*1.5
		}
		if a.ticks == nil {
			lo, hi = lo/1.15, hi*1.15
		}
		return lo, hi
	}
	if hi == lo {
		if hi == 0 {
			return 0, 1
		}
		return lo - math.Abs(lo)*0.1, hi + math.Abs(hi)*0.1
	}
	return lo, hi
}

// scale maps v in [lo,hi] to [0,1].
func scale(v, lo, hi float64, log bool) float64 {
	if log {
		return (math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo))
	}
	return (v - lo) / (hi - lo)
}

// autoTicks: 1-2-5 steps on linear axes; decades (with 2 and 5 when the
// range is short) on log axes.
func autoTicks(lo, hi float64, log bool) []float64 {
	var out []float64
	if log {
		d0, d1 := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		mults := []float64{1}
		switch {
		case d1-d0 <= 1:
			mults = []float64{1, 1.5, 2, 3, 5, 7}
		case d1-d0 <= 3:
			mults = []float64{1, 2, 5}
		}
		for d := d0; d <= d1; d++ {
			for _, m := range mults {
				v := m * math.Pow(10, d)
				if v >= lo && v <= hi {
					out = append(out, v)
				}
			}
		}
		return out
	}
	span := hi - lo
	step := math.Pow(10, math.Floor(math.Log10(span/5)))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= 7 {
			step *= m
			break
		}
	}
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, v)
	}
	return out
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.1fM", v/1e6))
	case a >= 1e3:
		return trimZero(fmt.Sprintf("%.1fk", v/1e3))
	case a >= 1 || a == 0:
		return trimZero(fmt.Sprintf("%.1f", v))
	}
	return fmt.Sprintf("%.2g", v)
}

// fmtMicrosTick labels a latency tick: 200µs, 1.5ms, 2s.
func fmtMicrosTick(us float64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%gµs", us)
	case us < 1e6:
		return fmt.Sprintf("%gms", us/1000)
	}
	return fmt.Sprintf("%gs", us/1e6)
}

func trimZero(s string) string {
	if i := strings.Index(s, ".0"); i >= 0 && (i+2 == len(s) || s[i+2] < '0' || s[i+2] > '9') {
		return s[:i] + s[i+2:]
	}
	return s
}

// percentileX maps a percentile onto the x axis of a latency plot: 90% is
// one step right of 0%, 99% two steps, 99.9% three...
func percentileX(p float64) float64 {
	p = min(p, 99.999)
	return -math.Log10(1 - p/100)
}

// plots draws every figure the results have data for, by file name.
func (r *Results) plots() map[string]string {
	out := map[string]string{}
	clientTicks := func() []float64 {
		var t []float64
		for _, c := range r.Meta.Clients {
			t = append(t, float64(c))
		}
		return t
	}()
	for _, wl := range r.Meta.Workloads {
		runs := r.runsOf(wl)
		if len(runs) == 0 {
			continue
		}
		var ss, lat []series
		for _, sys := range allSystems {
			var s series
			s.name = sys.name
			for _, x := range runs {
				if x.System != sys.name {
					continue
				}
				s.xs = append(s.xs, float64(x.Clients))
				s.ys = append(s.ys, x.OpsPerSec)
				if x.Clients == r.Meta.LatencyClients && len(x.Latency) > 0 {
					l := series{name: sys.name}
					for _, q := range x.Latency {
						if q.Percentile >= 100 {
							continue
						}
						l.xs = append(l.xs, percentileX(q.Percentile))
						l.ys = append(l.ys, float64(q.Micros))
					}
					lat = append(lat, l)
				}
			}
			if len(s.xs) > 0 {
				ss = append(ss, s)
			}
		}
		out["throughput-"+wl+".svg"] = chart{
			title:  fmt.Sprintf("%s: throughput against clients", wl),
			x:      axis{label: "clients (closed loop)", log: true, ticks: clientTicks},
			y:      axis{label: "operations per second", log: true},
			series: ss,
		}.render()
		if len(lat) > 0 {
			out["latency-"+wl+".svg"] = chart{
				title: fmt.Sprintf("%s: latency distribution at %d clients", wl, r.Meta.LatencyClients),
				x: axis{label: "percentile", ticks: []float64{0, 1, 2, 3, 4, 5}, format: func(v float64) string {
					return []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"}[int(math.Round(v))]
				}},
				y:      axis{label: "latency", log: true, format: fmtMicrosTick},
				series: lat,
			}.render()
		}
	}
	if len(r.ValueSizes) > 0 {
		for _, wl := range []string{"set", "get"} {
			var ss []series
			var ticks []float64
			for _, sys := range allSystems {
				s := series{name: sys.name}
				for _, x := range r.ValueSizes {
					if x.System == sys.name && x.Workload == wl {
						s.xs = append(s.xs, float64(x.ValueSize))
						s.ys = append(s.ys, x.OpsPerSec)
						if !slices.Contains(ticks, float64(x.ValueSize)) {
							ticks = append(ticks, float64(x.ValueSize))
						}
					}
				}
				if len(s.xs) > 0 {
					ss = append(ss, s)
				}
			}
			if len(ss) == 0 {
				continue
			}
			out["value-size-"+wl+".svg"] = chart{
				title:  fmt.Sprintf("%s: throughput against value size (%d clients)", wl, r.ValueSizes[0].Clients),
				x:      axis{label: "value size", log: true, ticks: ticks, format: func(v float64) string { return fmtBytes(v) }},
				y:      axis{label: "operations per second", log: true},
				series: ss,
			}.render()
		}
	}
	if len(r.Memory) > 0 {
		var ss []series
		var ticks []float64
		for _, sys := range []string{"redis", "statehouse-1"} {
			used := series{name: sys + " used_memory"}
			rss := series{name: sys + " RssAnon"}
			for _, m := range r.Memory {
				if m.System != sys {
					continue
				}
				used.xs = append(used.xs, float64(m.Sessions))
				used.ys = append(used.ys, m.PerSession)
				rss.xs = append(rss.xs, float64(m.Sessions))
				rss.ys = append(rss.ys, m.RSSPerSession)
				if !slices.Contains(ticks, float64(m.Sessions)) {
					ticks = append(ticks, float64(m.Sessions))
				}
			}
			if len(used.xs) > 0 {
				ss = append(ss, used, rss)
			}
		}
		out["memory.svg"] = chart{
			title:  "memory per session against sessions stored",
			x:      axis{label: "sessions", log: true, ticks: ticks},
			y:      axis{label: "bytes per session", format: func(v float64) string { return fmtBytes(v) }},
			series: ss,
		}.render()
	}
	return out
}
