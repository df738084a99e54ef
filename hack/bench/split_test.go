package main

import (
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const metricsBefore = `# HELP crid_cri_request_duration_seconds Latency of CRI requests by method.
# TYPE crid_cri_request_duration_seconds histogram
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.001"} 10
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.002"} 10
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.004"} 10
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="+Inf"} 10
crid_cri_request_duration_seconds_sum{method="ListPodSandbox"} 0.005
crid_cri_request_duration_seconds_count{method="ListPodSandbox"} 10
crid_cri_request_duration_seconds_bucket{method="Version",le="0.001"} 3
crid_cri_request_duration_seconds_bucket{method="Version",le="+Inf"} 3
`

// 100 more ListPodSandbox calls: 90 under 1 ms, 8 in (1, 2] ms, 1 in (2, 4] ms, 1 over.
const metricsAfter = `crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.001"} 100
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.002"} 108
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="0.004"} 109
crid_cri_request_duration_seconds_bucket{method="ListPodSandbox",le="+Inf"} 110
crid_cri_request_duration_seconds_bucket{method="Version",le="0.001"} 9
crid_cri_request_duration_seconds_bucket{method="Version",le="+Inf"} 9
grpc_server_handling_seconds_bucket{grpc_method="ListPodSandbox",grpc_service="runtime.v1.RuntimeService",grpc_type="unary",le="0.005"} 4
grpc_server_handling_seconds_bucket{grpc_method="ListPodSandbox",grpc_service="runtime.v1.RuntimeService",grpc_type="unary",le="+Inf"} 4
other_metric_bucket{method="ListPodSandbox",le="0.001"} 1000
`

func TestServerQuantilesFromTheHistogramsGrowth(t *testing.T) {
	before, err := parseDurations(strings.NewReader(metricsBefore))
	if err != nil {
		t.Fatal(err)
	}
	after, err := parseDurations(strings.NewReader(metricsAfter))
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	lb, la := before["ListPodSandbox"], after["ListPodSandbox"]
	// Only the 100 calls between the scrapes count: the median is the 50th of the 90
	// under 1 ms, interpolated from 0.
	if got := quantileMs(lb, la, 0.5); !near(got, 50.0/90) {
		t.Errorf("p50 = %v ms, want %v", got, 50.0/90)
	}
	// The 95th call is the 5th of 8 in (1, 2] ms.
	if got := quantileMs(lb, la, 0.95); !near(got, 1+5.0/8) {
		t.Errorf("p95 = %v ms, want %v", got, 1+5.0/8)
	}
	if got := quantileMs(lb, la, 0.99); !near(got, 4) {
		t.Errorf("p99 = %v ms, want 4 (the 99th call is the one in (2, 4] ms)", got)
	}
	// Past the last finite bound, the estimate is that bound, as histogram_quantile does.
	if got := quantileMs(lb, la, 0.999); !near(got, 4) {
		t.Errorf("p99.9 = %v ms, want 4", got)
	}
	// 6 calls under 1 ms: the 5.94th of them.
	if got := quantileMs(before["Version"], after["Version"], 0.99); !near(got, 0.99) {
		t.Errorf("Version p99 = %v ms, want 0.99", got)
	}
	// A method with no calls between the scrapes, or none at all, has no estimate.
	if got := quantileMs(lb, lb, 0.99); got != -1 {
		t.Errorf("p99 of no calls = %v, want -1", got)
	}
	if got := quantileMs(nil, after["StopPodSandbox"], 0.99); got != -1 {
		t.Errorf("p99 of an absent method = %v, want -1", got)
	}
	// Neither go-grpc-prometheus' series of the same method (another runtime's kind) nor
	// another histogram add to crid's.
	if got := la[0.001]; got != 100 || len(la) != 4 || len(after) != 2 {
		t.Errorf("ListPodSandbox le=0.001 = %v, want 100; parsed %v", got, after)
	}
	ctrd, err := parseDurations(strings.NewReader(metricsAfter[strings.Index(metricsAfter, "grpc_server"):]))
	if err != nil {
		t.Fatal(err)
	}
	if got := quantileMs(nil, ctrd["ListPodSandbox"], 0.5); !near(got, 2.5) {
		t.Errorf("containerd's ListPodSandbox p50 = %v ms, want 2.5", got)
	}
}

func TestRunQueueOfThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/schedstat"); err != nil {
		t.Skip("no schedstat in this kernel")
	}
	q := newRunQueue(os.Getpid())
	defer q.close()
	a, ok := q.ns()
	if !ok {
		t.Fatal("no run-queue figure for this process")
	}
	// Threads that start or end between two reads are followed: the files kept are those
	// of the threads there are (retried: the Go runtime starts threads of its own).
	keepsEvery := func(when string) {
		t.Helper()
		for range 50 {
			if _, ok := q.ns(); ok && len(q.threads) == countThreads(t) {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("%s: %d threads' files kept, %d threads", when, len(q.threads), countThreads(t))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
			<-stop
		})
	}
	keepsEvery("3 locked threads started")
	close(stop)
	wg.Wait()
	keepsEvery("3 locked threads ended")
	b, _ := q.ns()
	if b < a-int64(time.Second) { // an ended thread's wait leaves the sum; the rest only grows
		t.Errorf("run-queue time went back: %d then %d", a, b)
	}
	if q := newRunQueue(-1); q != nil {
		t.Error("a process that does not exist has a run-queue figure")
	}
	// A call watched with no daemon pid gets the bench's figure only.
	var sp Split
	rqs := newRunQueues(0)
	defer rqs.close()
	rqs.since(rqs.watch(), &sp)
	if len(sp.DaemonRunQueue) != 0 || len(sp.BenchRunQueue) != 1 || sp.BenchRunQueue[0] < 0 {
		t.Errorf("split %+v", sp)
	}
}

func countThreads(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestStatThreads(t *testing.T) {
	// A command name with spaces and a parenthesis: fields count from the last ')'.
	line := "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 7 0 123 456 789"
	if n, ok := statThreads([]byte(line)); !ok || n != 7 {
		t.Errorf("statThreads = %d, %v; want 7", n, ok)
	}
	if got := string(field([]byte(" 12  345 6\n"), 1)); got != "345" {
		t.Errorf("field 1 = %q", got)
	}
	if field([]byte("1 2"), 2) != nil {
		t.Error("field past the end is not nil")
	}
}

// BenchmarkRunQueueWatch: what the bench does around each timed call (the daemon's threads
// and its own, before and after), here on this process twice.
//
//	go test -run '^$' -bench RunQueue -benchmem ./hack/bench/
func BenchmarkRunQueueWatch(b *testing.B) {
	rqs := newRunQueues(os.Getpid())
	defer rqs.close()
	var sp Split
	b.ReportAllocs()
	for range b.N {
		rqs.since(rqs.watch(), &sp)
	}
}

func TestPrintSplitShowsTheSlowestCallsWaits(t *testing.T) {
	r := &Result{Latency: map[string]*Stats{}, Split: map[string]*Split{}}
	name := "density: ListPodSandbox (250 pods)"
	sp := &Split{ServerP50: 0.7, ServerP99: 2.5}
	s := &Stats{}
	for i := range 200 {
		ms, daemon, bench := 1.0, 0.0, 0.1
		switch i {
		case 17: // the two slowest calls waited for the CPU, in both processes
			ms, daemon, bench = 40, 30, 8
		case 150:
			ms, daemon, bench = 30, 20, 6
		}
		s.Samples = append(s.Samples, ms)
		sp.DaemonRunQueue = append(sp.DaemonRunQueue, daemon)
		sp.BenchRunQueue = append(sp.BenchRunQueue, bench)
	}
	s.summarise()
	r.Latency[name], r.Order = s, []string{name}
	r.Split[name] = sp
	var b strings.Builder
	printSplit(&b, r)
	got := strings.Join(strings.Fields(b.String()), " ")
	// The slowest 1% of 200 are the calls 17 and 150: latency (40+30)/2, daemon 25, bench 7.
	if want := "density: ListPodSandbox (250 pods) 1.0 / 1.3 0.7 / 2.5 35.0 25.0 7.0"; !strings.Contains(got, want) {
		t.Errorf("split lacks %q:\n%s", want, b.String())
	}
	// Without --metrics and schedstat the row still prints, with dashes.
	r.Split[name] = &Split{ServerP50: -1, ServerP99: -1}
	b.Reset()
	printSplit(&b, r)
	if want := "1.0 / 1.3 - 35.0 - -"; !strings.Contains(strings.Join(strings.Fields(b.String()), " "), want) {
		t.Errorf("split lacks %q:\n%s", want, b.String())
	}
}
