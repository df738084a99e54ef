package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Split tells where one List*/Status/stats figure's time went, so that a tail can be put
// on the runtime's own work or on the machine's run queue: the handling time the runtime
// itself reports (its request-duration histogram, with --metrics), and, for every call,
// how long the daemon's threads and the bench's own threads waited in the kernel's run
// queue while it was in flight (run_delay of /proc/PID/task/*/schedstat, summed over the
// threads: several threads waiting at once count each).
type Split struct {
	// ServerP50/ServerP99 are estimated from the histogram's buckets, as Prometheus'
	// histogram_quantile does; -1 without --metrics or without the method's series.
	ServerP50 float64 `json:"server_p50_ms"`
	ServerP99 float64 `json:"server_p99_ms"`
	// One per sample, in the order of the latency samples; nil when schedstat is missing.
	DaemonRunQueue []float64 `json:"daemon_run_queue_ms,omitempty"`
	BenchRunQueue  []float64 `json:"bench_run_queue_ms,omitempty"`
}

// runQueueWatch is the run-queue time of the daemon and of the bench before a call.
type runQueueWatch struct {
	daemon, self     int64
	daemonOK, selfOK bool
}

// runQueues reads the run-queue time of the daemon's threads and the bench's own.
type runQueues struct{ daemon, self *runQueue }

func newRunQueues(daemonPid int) *runQueues {
	q := &runQueues{self: newRunQueue(os.Getpid())}
	if daemonPid > 0 {
		q.daemon = newRunQueue(daemonPid)
	}
	return q
}

func (q *runQueues) watch() runQueueWatch {
	var w runQueueWatch
	w.daemon, w.daemonOK = q.daemon.ns()
	w.self, w.selfOK = q.self.ns()
	return w
}

// since adds the run-queue time of both since w to s.
func (q *runQueues) since(w runQueueWatch, s *Split) {
	now := q.watch()
	if w.daemonOK && now.daemonOK {
		s.DaemonRunQueue = append(s.DaemonRunQueue, float64(max(now.daemon-w.daemon, 0))/1e6)
	}
	if w.selfOK && now.selfOK {
		s.BenchRunQueue = append(s.BenchRunQueue, float64(max(now.self-w.self, 0))/1e6)
	}
}

func (q *runQueues) close() {
	q.daemon.close()
	q.self.close()
}

// histogram is one method's cumulative bucket counts: upper bound (s) -> count.
type histogram map[float64]float64

// Request-duration histograms the bench knows, and the label naming the method: crid's own,
// and go-grpc-prometheus' (containerd with grpc_histogram enabled).
var durationHistograms = map[string]string{
	"crid_cri_request_duration_seconds_bucket": "method",
	"grpc_server_handling_seconds_bucket":      "grpc_method",
}

// scrapeDurations reads the request-duration histograms of url by method.
func scrapeDurations(url string) (map[string]histogram, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseDurations(resp.Body)
}

// parseDurations reads the Prometheus text format's bucket lines of durationHistograms
// (name{label="v",...,le="0.001"} count) by method, each method from the first of them
// that has it.
func parseDurations(r io.Reader) (map[string]histogram, error) {
	out := map[string]histogram{}
	family := map[string]string{} // method -> the histogram its series come from
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		open := strings.IndexByte(line, '{')
		shut := strings.LastIndexByte(line, '}')
		if open < 0 || shut < open {
			continue
		}
		methodLabel, ok := durationHistograms[line[:open]]
		if !ok {
			continue
		}
		labels := map[string]string{}
		for _, kv := range strings.Split(line[open+1:shut], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if ok {
				labels[k] = strings.Trim(v, `"`)
			}
		}
		le, err := strconv.ParseFloat(labels["le"], 64) // "+Inf" parses as +Inf
		if err != nil {
			continue
		}
		count, err := strconv.ParseFloat(strings.TrimSpace(line[shut+1:]), 64)
		if err != nil {
			continue
		}
		m := labels[methodLabel]
		if f, seen := family[m]; seen && f != line[:open] {
			continue // one runtime exposes one of them; never mix two
		}
		family[m] = line[:open]
		if out[m] == nil {
			out[m] = histogram{}
		}
		out[m][le] += count
	}
	return out, sc.Err()
}

// quantileMs estimates quantile q (0..1) in ms of the observations after minus before, by
// linear interpolation inside the bucket it falls in (histogram_quantile's way); -1 when
// there are none. In the +Inf bucket it answers the highest finite bound.
func quantileMs(before, after histogram, q float64) float64 {
	bounds := make([]float64, 0, len(after))
	for le := range after {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return -1
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return -1
	}
	rank := q * total
	prevLe, prevCount := 0.0, 0.0
	for _, le := range bounds {
		count := after[le] - before[le]
		if count >= rank {
			if math.IsInf(le, 1) {
				return prevLe * 1000
			}
			if count == prevCount {
				return le * 1000
			}
			return (prevLe + (le-prevLe)*(rank-prevCount)/(count-prevCount)) * 1000
		}
		prevLe, prevCount = le, count
	}
	return prevLe * 1000
}

// printSplit prints, for each figure with a Split, the client's p50/p99, the server's,
// and what the slowest 1% of calls spent waiting in the run queue.
func printSplit(w io.Writer, r *Result) {
	if len(r.Split) == 0 {
		return
	}
	fmt.Fprintln(w, "where the time went: client latency; the runtime's own handling (its duration histogram, --metrics: crid's is the handler's time);")
	fmt.Fprintln(w, "and, in the slowest 1% of calls, the run-queue wait of the daemon's and the bench's threads (schedstat)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tclient p50 / p99 ms\tserver p50 / p99 ms\tslowest 1%: latency\tdaemon run queue\tbench run queue\t")
	for _, name := range r.Order {
		sp, lat := r.Split[name], r.Latency[name]
		if sp == nil || lat == nil {
			continue
		}
		server := "-"
		if sp.ServerP99 >= 0 {
			server = fmt.Sprintf("%.1f / %.1f", sp.ServerP50, sp.ServerP99)
		}
		slow := slowest(lat.Samples, 0.01)
		fmt.Fprintf(tw, "%s\t%.1f / %.1f\t%s\t%s\t%s\t%s\t\n", name, lat.Median, lat.P99, server,
			meanAt(lat.Samples, slow), meanAt(sp.DaemonRunQueue, slow), meanAt(sp.BenchRunQueue, slow))
	}
	tw.Flush()
}

// slowest returns the indices of the slowest fraction of samples (at least one).
func slowest(samples []float64, fraction float64) []int {
	idx := make([]int, len(samples))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return samples[idx[a]] > samples[idx[b]] })
	n := min(len(idx), max(1, int(math.Ceil(fraction*float64(len(samples))))))
	return idx[:n]
}

// meanAt is the mean of v at the indices idx, in ms, "-" when v lacks them.
func meanAt(v []float64, idx []int) string {
	if len(idx) == 0 {
		return "-"
	}
	sum := 0.0
	for _, i := range idx {
		if i >= len(v) {
			return "-"
		}
		sum += v[i]
	}
	return fmt.Sprintf("%.1f", sum/float64(len(idx)))
}
