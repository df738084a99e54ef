package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// The goals of issue 16 that a run measures, printed with every runtime's figure beside
// crid's. Ratios are crid's figure over the first other runtime's in the same run.
const (
	goalPodStartRatio   = 0.3 // pod start median, crid / reference
	goalStatsListP99Ms  = 20  // ListContainerStats, ListPodSandboxStats (110 pods)
	goalContainerStatMs = 1   // ContainerStats p99
	goalPullRatio       = 1.5 // pull throughput, crid / reference
)

// goal is one row of the goals table: how to read the figure from a result, and whether
// the subject's figure meets the goal given the reference's (ref is NaN-free: a row whose
// reference lacks the figure is judged on the subject alone, or not at all for a ratio).
type goal struct {
	label  string
	unit   string
	figure func(*Result) (float64, bool)
	goal   string
	// met judges the subject's figure v; ref is the reference runtime's, hasRef whether
	// there is one. ratio, when set, is printed beside the verdict.
	met func(v, ref float64, hasRef bool) (ok, judged bool, ratio float64)
}

func latencyFigure(name string, p func(*Stats) float64) func(*Result) (float64, bool) {
	return func(r *Result) (float64, bool) {
		if s := r.Latency[name]; s != nil && s.N > 0 {
			return p(s), true
		}
		return 0, false
	}
}

func median(s *Stats) float64 { return s.Median }
func p99(s *Stats) float64    { return s.P99 }

func atMost(limit float64) func(v, ref float64, hasRef bool) (bool, bool, float64) {
	return func(v, _ float64, _ bool) (bool, bool, float64) { return v <= limit, true, 0 }
}

// ratioAtMost and ratioAtLeast judge v/ref against a bound; without a reference there is
// no verdict.
func ratioAtMost(bound float64) func(v, ref float64, hasRef bool) (bool, bool, float64) {
	return func(v, ref float64, hasRef bool) (bool, bool, float64) {
		if !hasRef || ref <= 0 {
			return false, false, 0
		}
		return v/ref <= bound, true, v / ref
	}
}

func ratioAtLeast(bound float64) func(v, ref float64, hasRef bool) (bool, bool, float64) {
	return func(v, ref float64, hasRef bool) (bool, bool, float64) {
		if !hasRef || ref <= 0 {
			return false, false, 0
		}
		return v/ref >= bound, true, v / ref
	}
}

// goalsFor lists the rows that apply to a run: the density mode's, or the normal mode's
// with pods the --pods figure.
func goalsFor(rs []*Result) []goal {
	if rs[0].Density != nil {
		d := rs[0].Density
		at := func(name string) string { return fmt.Sprintf("density: %s (%d pods)", name, d.Pods) }
		dens := func(f func(*DensityResult) float64) func(*Result) (float64, bool) {
			return func(r *Result) (float64, bool) {
				if r.Density == nil {
					return 0, false
				}
				return f(r.Density), true
			}
		}
		return []goal{
			{"start wall", "s", dens(func(d *DensityResult) float64 { return d.StartWallS }), "", nil},
			{"pod start p99", "ms", latencyFigure("density: pod start (run+create+start)", p99), "", nil},
			{"ListPodSandbox p99", "ms", latencyFigure(at("ListPodSandbox"), p99), fmt.Sprintf("<= %d ms", goalListP99Ms), atMost(goalListP99Ms)},
			{"ListContainers p99", "ms", latencyFigure(at("ListContainers"), p99), fmt.Sprintf("<= %d ms", goalListP99Ms), atMost(goalListP99Ms)},
			{"ListContainerStats p99", "ms", latencyFigure(at("ListContainerStats"), p99), fmt.Sprintf("<= %d ms", goalStatsP99Ms), atMost(goalStatsP99Ms)},
			{"ListPodSandboxStats p99", "ms", latencyFigure(at("ListPodSandboxStats"), p99), fmt.Sprintf("<= %d ms", goalStatsP99Ms), atMost(goalStatsP99Ms)},
			{"ContainerStats p99", "ms", latencyFigure(at("ContainerStats"), p99), fmt.Sprintf("<= %d ms", goalStatsP99Ms), atMost(goalStatsP99Ms)},
			{"daemon RSS, all pods", "MiB", dens(func(d *DensityResult) float64 { return float64(d.DaemonWithAll.RssKB) / 1024 }),
				fmt.Sprintf("<= %d MiB", goalDaemonRSSKB>>10), atMost(goalDaemonRSSKB >> 10)},
			{"helpers' total PSS", "MiB", dens(func(d *DensityResult) float64 { return float64(d.Helpers.PssKB) / 1024 }), "", nil},
			{"remove wall", "s", dens(func(d *DensityResult) float64 { return d.RemoveWallS }), "", nil},
			{"leftovers", "", dens(func(d *DensityResult) float64 { return float64(len(d.Leftovers)) }), "0", atMost(0)},
		}
	}
	at := func(name string) string { return fmt.Sprintf("%s (%d pods)", name, rs[0].Memory.Pods) }
	return []goal{
		{"pod start median", "ms", latencyFigure("pod start (run+create+start)", median),
			fmt.Sprintf("<= %.1fx", goalPodStartRatio), ratioAtMost(goalPodStartRatio)},
		{"RunPodSandbox median", "ms", latencyFigure("RunPodSandbox", median), "", nil},
		{"ListContainerStats p99", "ms", latencyFigure(at("ListContainerStats"), p99), fmt.Sprintf("<= %d ms", goalStatsListP99Ms), atMost(goalStatsListP99Ms)},
		{"ListPodSandboxStats p99", "ms", latencyFigure(at("ListPodSandboxStats"), p99), fmt.Sprintf("<= %d ms", goalStatsListP99Ms), atMost(goalStatsListP99Ms)},
		{"ContainerStats p99", "ms", latencyFigure(at("ContainerStats"), p99), fmt.Sprintf("<= %d ms", goalContainerStatMs), atMost(goalContainerStatMs)},
		{"pull throughput", "MB/s", func(r *Result) (float64, bool) {
			if r.Pull == nil {
				return 0, false
			}
			return r.Pull.MBPerSecond, true
		}, fmt.Sprintf(">= %.1fx", goalPullRatio), ratioAtLeast(goalPullRatio)},
		{"helper PSS per pod", "MiB", func(r *Result) (float64, bool) {
			return float64(r.Memory.ShimPssPerPodKB) / 1024, r.Memory.ShimCount > 0
		}, "", nil},
	}
}

// subjectIndex is the result judged against the goals: crid's (by the runtime name it
// reports), else the first.
func subjectIndex(rs []*Result) int {
	for i, r := range rs {
		if strings.HasPrefix(r.Runtime, "crid ") {
			return i
		}
	}
	return 0
}

// printGoals prints each goal's figure for every runtime, crid's first, with the verdict
// on crid's (against the first other runtime for the ratios).
func printGoals(w io.Writer, rs []*Result) {
	if len(rs) == 0 {
		return
	}
	si := subjectIndex(rs)
	order := []*Result{rs[si]}
	for i, r := range rs {
		if i != si {
			order = append(order, r)
		}
	}
	fmt.Fprintln(w, "\n== issue 16 goals (same run; ratios are the first runtime's figure over the second's)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"figure"}
	for _, r := range order {
		head = append(head, runtimeLabel(r))
	}
	head = append(head, "goal", "verdict")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, g := range goalsFor(order) {
		row := []string{g.label}
		var vals []float64
		var have []bool
		for _, r := range order {
			v, ok := g.figure(r)
			vals, have = append(vals, v), append(have, ok)
			if ok {
				row = append(row, strings.TrimSpace(fmt.Sprintf("%.1f %s", v, g.unit)))
			} else {
				row = append(row, "-")
			}
		}
		verdict := ""
		if g.met != nil && have[0] {
			hasRef := len(order) > 1 && have[1]
			ref := 0.0
			if hasRef {
				ref = vals[1]
			}
			ok, judged, ratio := g.met(vals[0], ref, hasRef)
			switch {
			case !judged:
				verdict = "no reference"
			case ratio > 0 && ok:
				verdict = fmt.Sprintf("%.2fx ok", ratio)
			case ratio > 0:
				verdict = fmt.Sprintf("%.2fx MISSED", ratio)
			case ok:
				verdict = "ok"
			default:
				verdict = "MISSED"
			}
		}
		row = append(row, g.goal, verdict)
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}
