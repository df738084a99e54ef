package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one endpoint's figures.
type Result struct {
	Endpoint         string            `json:"endpoint"`
	Runtime          string            `json:"runtime"`
	DaemonPid        int               `json:"daemon_pid"`
	Latency          map[string]*Stats `json:"latency"`
	Pull             *PullResult       `json:"pull,omitempty"`
	Memory           MemResult         `json:"memory"`
	StartAllSeconds  float64           `json:"start_all_pods_s"`
	RemoveAllSeconds float64           `json:"remove_all_pods_s"`
	Density          *DensityResult    `json:"density,omitempty"`
	Split            map[string]*Split `json:"split,omitempty"` // by Latency's names: List*/Status/stats only
	Errors           []string          `json:"errors,omitempty"`
	Order            []string          `json:"order"` // the operations in the order measured
}

// MemResult: daemon memory at three moments, and the per-pod helpers with N pods.
type MemResult struct {
	Pods                     int   `json:"pods"`             // the --pods running for WithPods and Shims
	Fresh                    Mem   `json:"daemon_fresh"`     // before the bench did anything
	Idle                     Mem   `json:"daemon_idle"`      // after the latency runs, no pods
	WithPods                 Mem   `json:"daemon_with_pods"` // with --pods pods running
	ShimCount                int   `json:"shims"`
	Shims                    Mem   `json:"shims_total"`
	ShimPssPerPodKB          int64 `json:"shim_pss_per_pod_kb"`
	ShimRssPerPodKB          int64 `json:"shim_rss_per_pod_kb"`
	PerPodKB                 int64 `json:"runtime_pss_per_pod_kb"` // (daemon growth + shims) / pods
	MemAvailableDropPerPodKB int64 `json:"memavailable_drop_per_pod_kb"`
}

type PullResult struct {
	Image       string  `json:"image"`
	SizeBytes   uint64  `json:"size_bytes"`
	MBPerSecond float64 `json:"mb_per_s"`
	// DaemonCPUMsPerPull: the daemon's CPU time (user + system) per pull, when its pid is known.
	DaemonCPUMsPerPull float64 `json:"daemon_cpu_ms_per_pull,omitempty"`
}

// Stats summarises one latency's samples (milliseconds).
type Stats struct {
	N       int       `json:"n"`
	Median  float64   `json:"median_ms"`
	P95     float64   `json:"p95_ms"`
	P99     float64   `json:"p99_ms"`
	Min     float64   `json:"min_ms"`
	Max     float64   `json:"max_ms"`
	Samples []float64 `json:"samples_ms"`
}

func (r *Result) add(name string, d time.Duration) {
	if r == nil {
		return
	}
	s := r.Latency[name]
	if s == nil {
		s = &Stats{}
		r.Latency[name] = s
		r.Order = append(r.Order, name)
	}
	s.Samples = append(s.Samples, float64(d.Microseconds())/1000)
	s.summarise()
}

func (s *Stats) summarise() {
	v := append([]float64(nil), s.Samples...)
	sort.Float64s(v)
	s.N = len(v)
	s.Min, s.Max = v[0], v[len(v)-1]
	s.Median = percentile(v, 50)
	s.P95 = percentile(v, 95)
	s.P99 = percentile(v, 99)
}

// percentile by linear interpolation between closest ranks (sorted input).
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

func printResult(w io.Writer, r *Result) {
	fmt.Fprintf(w, "\n== %s (%s, daemon pid %d)\n", r.Endpoint, r.Runtime, r.DaemonPid)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tn\tmedian ms\tp95 ms\tp99 ms\tmin ms\tmax ms\t")
	for _, name := range r.Order {
		s := r.Latency[name]
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, s.N, s.Median, s.P95, s.P99, s.Min, s.Max)
	}
	tw.Flush()
	printSplit(w, r)
	if r.Pull != nil {
		fmt.Fprintf(w, "pull %s: %.1f MB in median %.1f ms: %.1f MB/s", r.Pull.Image, float64(r.Pull.SizeBytes)/1e6,
			r.Latency["PullImage"].Median, r.Pull.MBPerSecond)
		if r.Pull.DaemonCPUMsPerPull > 0 {
			fmt.Fprintf(w, ", daemon cpu %.0f ms per pull", r.Pull.DaemonCPUMsPerPull)
		}
		fmt.Fprintln(w)
	}
	if r.Density != nil {
		printDensity(w, r)
		return
	}
	if r.Memory.Pods == 0 { // --pull-only: no pods, no memory figures
		return
	}
	m := r.Memory
	if r.DaemonPid > 0 {
		fmt.Fprintf(w, "daemon RSS/PSS: fresh %s/%s, idle %s/%s, with pods %s/%s\n",
			mib(m.Fresh.RssKB), mib(m.Fresh.PssKB), mib(m.Idle.RssKB), mib(m.Idle.PssKB), mib(m.WithPods.RssKB), mib(m.WithPods.PssKB))
	}
	fmt.Fprintf(w, "per-pod helpers: %d, total PSS %s, per pod PSS %s (RSS %s); runtime PSS per pod %s; MemAvailable drop per pod %s\n",
		m.ShimCount, mib(m.Shims.PssKB), mib(m.ShimPssPerPodKB), mib(m.ShimRssPerPodKB), mib(m.PerPodKB), mib(m.MemAvailableDropPerPodKB))
	fmt.Fprintf(w, "start all pods %.2f s, remove all pods %.2f s\n", r.StartAllSeconds, r.RemoveAllSeconds)
}

// printComparison puts the endpoints' medians side by side.
func printComparison(w io.Writer, rs []*Result) {
	fmt.Fprintln(w, "\n== medians (ms) side by side")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"operation"}
	for _, r := range rs {
		head = append(head, r.Runtime)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, name := range rs[0].Order {
		row := []string{name}
		for _, r := range rs {
			if s := r.Latency[name]; s != nil {
				row = append(row, fmt.Sprintf("%.1f", s.Median))
			} else {
				row = append(row, "-")
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	row := func(label string, f func(*Result) string) {
		cells := []string{label}
		for _, r := range rs {
			cells = append(cells, f(r))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if rs[0].Density != nil || rs[0].Memory.Pods == 0 {
		tw.Flush() // the density figures are in the goals table; --pull-only has no memory ones
		return
	}
	row("daemon PSS idle", func(r *Result) string { return mib(r.Memory.Idle.PssKB) })
	row("daemon PSS with pods", func(r *Result) string { return mib(r.Memory.WithPods.PssKB) })
	row("helper PSS per pod", func(r *Result) string { return mib(r.Memory.ShimPssPerPodKB) })
	row("runtime PSS per pod", func(r *Result) string { return mib(r.Memory.PerPodKB) })
	tw.Flush()
}
