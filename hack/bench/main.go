// Command bench measures a CRI runtime through its gRPC endpoint, so that crid and another
// runtime (containerd, CRI-O) can be compared on one machine in one run:
//
//	go run ./hack/bench --endpoint unix:///run/crid/crid.sock \
//	    --endpoint unix:///run/harness-containerd/containerd.sock --json /tmp/bench.json
//
// Phase by phase, each phase on every endpoint right after the other (the lifecycle and
// pull samples alternate endpoints one by one, so a shared machine's drifting load weighs
// on all alike): pod start latency (RunPodSandbox + CreateContainer + StartContainer, with
// --running pods up) and the stop/remove calls, ExecSync latency, image pull throughput,
// List*/Status latency with N pods running, and memory: the daemon's RSS/PSS fresh, idle
// and with N pods, and the per-pod helper processes' PSS (from /proc/PID/smaps_rollup).
// It prints a table per endpoint (median, p95, p99), a comparison of medians, issue 16's
// goals with every runtime's figure beside crid's, and JSON.
//
// --density N (make bench-density: 250 pods, 10 workers) measures a node at scale instead:
// N pods started by --workers concurrent workers (wall time, per-pod start latency), List*
// and stats latency with all of them running, the daemon's RSS and the helpers' total PSS
// (and the memory curve every --density-step pods), then every pod removed the same way
// and the node checked for leftovers (pods or containers still listed, helper processes,
// mounts and cgroups naming an id of the run). The figures are printed beside the goals of
// issue 16.4.
//
// --plot DIR draws latency.svg (each operation's distribution, one box per runtime) and
// memory.svg (memory against pods, one line per runtime); --plot-from FILE redraws them
// from a --json file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type options struct {
	endpoints      []string
	image          string
	pullImage      string
	iterations     int
	pullIterations int
	pullOnly       bool
	pods           int
	running        int
	podCgroups     bool
	daemonPids     []int
	metrics        []string
	shimRegex      string
	settle         time.Duration
	jsonPath       string
	execCmd        []string
	cmd            []string
	timeout        time.Duration
	density        int
	workers        int
	densityStep    int
	plotDir        string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// exitCode is set instead of calling os.Exit so that deferred cleanup (the served
// registry) runs.
var exitCode int

func main() {
	defer func() { os.Exit(exitCode) }()
	var o options
	var endpoints, pids, metrics listFlag
	var execCmd, cmd string
	flag.Var(&endpoints, "endpoint", "CRI endpoint, unix:///path (repeat to compare runtimes; default unix:///run/crid/crid.sock)")
	flag.StringVar(&o.image, "image", "registry.k8s.io/e2e-test-images/busybox:1.29-2", "container image (busybox userland: sh, sleep, true); pulled if missing")
	flag.StringVar(&o.pullImage, "pull-image", "", "image whose pull is timed (removed and pulled --pull-iterations times; default --image)")
	serve := flag.Bool("serve-pull-image", false, "serve hack/testimages' 200 MiB bench image (5 incompressible layers) from a registry in this process and time pulls of it")
	serveAddr := flag.String("serve-addr", "127.0.0.1:5001", "where --serve-pull-image listens (the critest kit's hosts.d maps 127.0.0.1:5001 to plain HTTP); empty: a random loopback port")
	flag.IntVar(&o.iterations, "iterations", 20, "samples per latency figure")
	flag.IntVar(&o.pullIterations, "pull-iterations", 5, "timed pulls (0 skips the pull figure)")
	flag.BoolVar(&o.pullOnly, "pull-only", false, "time only the pulls (--pull-image or --serve-pull-image): no pods, no --image, no other phase")
	flag.IntVar(&o.running, "running", 0, "pods kept running on each endpoint while the pod lifecycle is timed (issue 16.3 times pod start with 30)")
	flag.BoolVar(&o.podCgroups, "pod-cgroups", true, "give each pod a cgroup parent /crid-bench-RUNID/podN as kubelet does with the cgroupfs driver (containerd has no pod stats without one); the bench removes them at the end")
	flag.IntVar(&o.pods, "pods", 10, "pods running while List*/Status latency and memory are measured")
	flag.Var(&pids, "daemon-pid", "the runtime daemon's pid, one per --endpoint in order (default: the process listening on the socket)")
	flag.Var(&metrics, "metrics", "the runtime's Prometheus URL (crid: http://127.0.0.1:9325/metrics), one per --endpoint in order (\"\" for none): List*/stats figures get the server's own p50/p99 beside the client's")
	flag.StringVar(&o.shimRegex, "shim-regex", "crid-monitor|containerd-shim", "regex on /proc/PID/cmdline (NULs as spaces) of per-pod helper processes; only those naming one of the bench's pod ids count")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait before reading memory figures")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to FILE")
	flag.StringVar(&execCmd, "exec-cmd", "true", "command ExecSync runs (space-separated)")
	flag.StringVar(&cmd, "cmd", "trap 'exit 0' TERM; sleep 3600 & wait", "shell script the containers run (sh -c); it should exit on SIGTERM so stop latency is the runtime's, not a grace period")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "timeout of one CRI call")
	flag.IntVar(&o.density, "density", 0, "density mode: start this many pods with --workers concurrent workers, time List*/stats (--iterations each) with all running, read memory, remove them all and check nothing is left; skips the other phases")
	flag.IntVar(&o.workers, "workers", 10, "concurrent workers of --density")
	flag.StringVar(&o.plotDir, "plot", "", "write SVG charts to DIR: latency.svg (each operation's distribution per runtime) and memory.svg (runtime memory against pods)")
	plotFrom := flag.String("plot-from", "", "only draw the --plot charts from a JSON file an earlier --json wrote (no runtime is measured)")
	flag.IntVar(&o.densityStep, "density-step", 25, "--density reads the runtime's memory every this many pods started (the memory curve)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if *plotFrom != "" {
		if o.plotDir == "" {
			fmt.Fprintln(os.Stderr, "bench: --plot-from needs --plot DIR")
			os.Exit(2)
		}
		if err := plotFromJSON(*plotFrom, o.plotDir); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	o.endpoints = endpoints
	if len(o.endpoints) == 0 {
		o.endpoints = []string{"unix:///run/crid/crid.sock"}
	}
	for _, p := range pids {
		var pid int
		if _, err := fmt.Sscan(p, &pid); err != nil || pid <= 0 {
			fmt.Fprintf(os.Stderr, "bench: --daemon-pid %q: not a pid\n", p)
			os.Exit(2)
		}
		o.daemonPids = append(o.daemonPids, pid)
	}
	if len(o.daemonPids) > 0 && len(o.daemonPids) != len(o.endpoints) {
		fmt.Fprintln(os.Stderr, "bench: give one --daemon-pid per --endpoint, or none")
		os.Exit(2)
	}
	o.metrics = metrics
	if len(o.metrics) > 0 && len(o.metrics) != len(o.endpoints) {
		fmt.Fprintln(os.Stderr, "bench: give one --metrics per --endpoint (\"\" for none), or none")
		os.Exit(2)
	}
	if *serve {
		ref, stop, err := serveBenchImage(*serveAddr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: serving the pull image:", err)
			os.Exit(1)
		}
		defer stop()
		o.pullImage = ref
	}
	if o.pullImage == "" {
		o.pullImage = o.image
	}
	o.execCmd = strings.Fields(execCmd)
	o.cmd = []string{"sh", "-c", cmd}
	if o.pullOnly && o.pullIterations < 1 {
		fmt.Fprintln(os.Stderr, "bench: --pull-only needs --pull-iterations of at least 1")
		os.Exit(2)
	}
	if o.iterations < 1 || o.pods < 1 || o.workers < 1 || o.density < 0 || o.running < 0 {
		fmt.Fprintln(os.Stderr, "bench: --iterations, --pods and --workers must be at least 1, --density and --running at least 0")
		os.Exit(2)
	}

	var eps []*endpoint
	failed := false
	for i, ep := range o.endpoints {
		pid, murl := 0, ""
		if len(o.daemonPids) > 0 {
			pid = o.daemonPids[i]
		}
		if len(o.metrics) > 0 {
			murl = o.metrics[i]
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", ep)
		e, err := openEndpoint(o, ep, pid, murl)
		if e != nil {
			defer e.close()
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", ep, err)
			failed = true
			continue
		}
		eps = append(eps, e)
	}
	if len(runAll(o, eps)) > 0 {
		failed = true
	}
	var results []*Result
	for _, e := range eps {
		results = append(results, e.r)
		printResult(os.Stdout, e.r)
	}
	if len(results) > 1 {
		printComparison(os.Stdout, results)
	}
	printGoals(os.Stdout, results)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(map[string]any{
			"date": time.Now().UTC().Format(time.RFC3339), "image": o.image, "pull_image": o.pullImage,
			"iterations": o.iterations, "pods": o.pods, "running": o.running, "density": o.density, "workers": o.workers, "results": results,
		}, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			failed = true
		}
	}
	if o.plotDir != "" && len(results) > 0 {
		files, err := writePlots(o.plotDir, results)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: --plot:", err)
			failed = true
		}
		for _, f := range files {
			fmt.Fprintln(os.Stderr, "bench: wrote", f)
		}
	}
	if failed {
		exitCode = 1
	}
}

// plotFromJSON draws the charts of a run saved with --json.
func plotFromJSON(path, dir string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var run struct {
		Results []*Result `json:"results"`
	}
	if err := json.Unmarshal(b, &run); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(run.Results) == 0 {
		return fmt.Errorf("%s: no results", path)
	}
	files, err := writePlots(dir, run.Results)
	for _, f := range files {
		fmt.Fprintln(os.Stderr, "bench: wrote", f)
	}
	return err
}
