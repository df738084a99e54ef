package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Charts are plain SVG written here: two chart kinds do not need a plotting library in the
// module graph, and the files are small and byte-stable, fit to commit beside the README.

// palette gives each runtime measured in one run its colour, in --endpoint order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// writePlots writes latency.svg (the distribution of every operation's samples, one box
// per runtime) and memory.svg (the runtime's memory against the number of pods) to dir.
func writePlots(dir string, rs []*Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, c := range []struct {
		name string
		draw func(io.Writer, []*Result) bool
	}{{"latency.svg", plotLatency}, {"memory.svg", plotMemory}} {
		var b strings.Builder
		if !c.draw(&b, rs) {
			continue // nothing to draw (no memory figures without a daemon pid)
		}
		p := filepath.Join(dir, c.name)
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

func runtimeLabel(r *Result) string {
	if r.Runtime != "" {
		return r.Runtime
	}
	return r.Endpoint
}

// plotLatency draws one row per operation and in it one box per runtime: the box spans
// p25–p75, the line p5–p95, a tick marks the median and a dot p99; the axis is
// logarithmic (ms) since operations range from 0.1 ms to seconds.
func plotLatency(w io.Writer, rs []*Result) bool {
	var ops []string
	seen := map[string]bool{}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		for _, name := range r.Order {
			s := r.Latency[name]
			if s == nil || len(s.Samples) == 0 {
				continue
			}
			if !seen[name] {
				seen[name] = true
				ops = append(ops, name)
			}
			for _, v := range s.Samples {
				lo, hi = math.Min(lo, math.Max(v, 0.01)), math.Max(hi, v)
			}
		}
	}
	if len(ops) == 0 {
		return false
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	const left, right, top, boxH = 290, 30, 60, 14
	rowH := boxH*len(rs) + 10
	width := 960
	height := top + rowH*len(ops) + 60
	plotW := float64(width - left - right)
	x := func(v float64) float64 {
		v = math.Max(v, lo)
		return left + plotW*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	svgHeader(w, width, height, "Latency per operation (ms, log scale)", "box p25–p75, whiskers p5–p95, bar median, dot p99")
	// Decade grid with 2 and 5 between.
	for d := lo; d <= hi*1.0001; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := d * m
			if v > hi*1.0001 {
				break
			}
			stroke, label := "#eee", ""
			if m == 1 {
				stroke, label = "#ccc", fmtMs(v)
			} else if hi/lo <= 1e4 {
				label = fmtMs(v)
			}
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x(v), top-5, x(v), top+rowH*len(ops), stroke)
			if label != "" {
				fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", x(v), top+rowH*len(ops)+16, label)
			}
		}
	}
	for i, op := range ops {
		y0 := top + i*rowH
		if i%2 == 1 {
			fmt.Fprintf(w, `<rect x="0" y="%d" width="%d" height="%d" fill="#000" fill-opacity="0.03"/>`+"\n", y0, width, rowH)
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y0+rowH/2+4, html.EscapeString(op))
		for j, r := range rs {
			s := r.Latency[op]
			if s == nil || len(s.Samples) == 0 {
				continue
			}
			v := append([]float64(nil), s.Samples...)
			sort.Float64s(v)
			c := palette[j%len(palette)]
			yc := float64(y0+5+j*boxH) + boxH/2.0
			p5, p25, p50, p75, p95 := percentile(v, 5), percentile(v, 25), percentile(v, 50), percentile(v, 75), percentile(v, 95)
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x(p5), yc, x(p95), yc, c)
			fmt.Fprintf(w, `<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s" fill-opacity="0.35" stroke="%s"/>`+"\n",
				x(p25), yc-boxH/2.0+2, math.Max(x(p75)-x(p25), 1), boxH-4, c, c)
			fmt.Fprintf(w, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2.5"/>`+"\n", x(p50), yc-boxH/2.0+1, x(p50), yc+boxH/2.0-1, c)
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s %s: median %.2f ms, p95 %.2f, p99 %.2f (n=%d)</title></circle>`+"\n",
				x(percentile(v, 99)), yc, c, html.EscapeString(runtimeLabel(r)), html.EscapeString(op), p50, p95, percentile(v, 99), len(v))
		}
	}
	legend(w, rs, width, height-18)
	fmt.Fprintln(w, "</svg>")
	return true
}

// memPoints returns the runtime's memory against pods: the --density curve, or the two
// points the default mode measures (no pods, --pods pods).
func memPoints(r *Result) []MemPoint {
	if r.Density != nil && len(r.Density.Curve) > 0 {
		return r.Density.Curve
	}
	if r.Memory.WithPods.PssKB == 0 {
		return nil
	}
	return []MemPoint{
		{Pods: 0, Daemon: r.Memory.Idle},
		{Pods: r.Memory.Pods, Daemon: r.Memory.WithPods, Helpers: r.Memory.Shims},
	}
}

// plotMemory draws, per runtime, the daemon's PSS plus its per-pod helpers' (solid) and
// the daemon's PSS alone (dashed) against the number of pods running.
func plotMemory(w io.Writer, rs []*Result) bool {
	maxPods, maxMiB := 0, 0.0
	found := false
	for _, r := range rs {
		for _, p := range memPoints(r) {
			found = true
			maxPods = max(maxPods, p.Pods)
			maxMiB = math.Max(maxMiB, float64(p.Daemon.PssKB+p.Helpers.PssKB)/1024)
		}
	}
	if !found {
		return false
	}
	const width, height, left, right, top, bottom = 720, 440, 70, 30, 60, 80
	xMax, xStep := niceAxis(float64(max(maxPods, 1)))
	yMax, yStep := niceAxis(math.Max(maxMiB, 1))
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	x := func(pods float64) float64 { return left + plotW*pods/xMax }
	y := func(mib float64) float64 { return top + plotH*(1-mib/yMax) }
	svgHeader(w, width, height, "Runtime memory against pods running (PSS, MiB)", "solid: daemon + per-pod helpers; dashed: daemon alone")
	for vx := 0.0; vx <= xMax*1.0001; vx += xStep {
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", x(vx), top, x(vx), height-bottom)
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%g</text>`+"\n", x(vx), height-bottom+16, vx)
	}
	for vy := 0.0; vy <= yMax*1.0001; vy += yStep {
		fmt.Fprintf(w, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, y(vy), width-right, y(vy))
		fmt.Fprintf(w, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%g</text>`+"\n", left-6, y(vy)+4, vy)
	}
	fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle" fill="#555">pods</text>`+"\n", left+int(plotW/2), height-bottom+34)
	for j, r := range rs {
		pts := memPoints(r)
		if len(pts) == 0 {
			continue
		}
		c := palette[j%len(palette)]
		var total, daemon []string
		for _, p := range pts {
			total = append(total, fmt.Sprintf("%.1f,%.1f", x(float64(p.Pods)), y(float64(p.Daemon.PssKB+p.Helpers.PssKB)/1024)))
			daemon = append(daemon, fmt.Sprintf("%.1f,%.1f", x(float64(p.Pods)), y(float64(p.Daemon.PssKB)/1024)))
		}
		fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(total, " "), c)
		fmt.Fprintf(w, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-dasharray="5,4"/>`+"\n", strings.Join(daemon, " "), c)
		for _, p := range pts {
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s, %d pods: daemon %.1f MiB + helpers %.1f MiB</title></circle>`+"\n",
				x(float64(p.Pods)), y(float64(p.Daemon.PssKB+p.Helpers.PssKB)/1024), c, html.EscapeString(runtimeLabel(r)), p.Pods,
				float64(p.Daemon.PssKB)/1024, float64(p.Helpers.PssKB)/1024)
		}
	}
	legend(w, rs, width, height-18)
	fmt.Fprintln(w, "</svg>")
	return true
}

func svgHeader(w io.Writer, width, height int, title, subtitle string) {
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	fmt.Fprintf(w, `<text x="%d" y="22" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", width/2, html.EscapeString(title))
	fmt.Fprintf(w, `<text x="%d" y="40" text-anchor="middle" fill="#555">%s</text>`+"\n", width/2, html.EscapeString(subtitle))
}

func legend(w io.Writer, rs []*Result, width, y int) {
	step := width / (len(rs) + 1)
	for j, r := range rs {
		cx := step * (j + 1)
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="14" height="10" fill="%s"/>`+"\n", cx-60, y-9, palette[j%len(palette)])
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", cx-40, y, html.EscapeString(runtimeLabel(r)))
	}
}

// niceAxis returns an axis end at or above v and a tick step of 1, 2, 2.5 or 5 times a
// power of ten, giving 4 to 10 ticks.
func niceAxis(v float64) (end, step float64) {
	p := math.Pow(10, math.Floor(math.Log10(v/5)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * p
		if v/step <= 8 {
			break
		}
	}
	return math.Ceil(v/step) * step, step
}

func fmtMs(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gs", v/1000)
	}
	return fmt.Sprintf("%g", v)
}
