package sandbox_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/sandboxtest"
)

const maxAge = 2 * time.Second

// sampledHarness is a Manager with samples used up to maxAge old, no sampler (the test
// runs its passes) and a clock only advance moves.
func sampledHarness(t *testing.T, maxAge time.Duration) (h *harness, clock func() time.Time, advance func(time.Duration)) {
	h = newHarness(t)
	h.cfg.StatsInterval, h.cfg.StatsMaxAge = -1, maxAge
	h.restart()
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h.m.SetClock(clock)
	return h, clock, func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
}

// A stats request reports a cgroup sample at most StatsMaxAge old and reads the cgroup
// itself only past that; a cached sample keeps its time and CPU rate; an exited
// container's sample goes.
func TestStatsSamplesBoundedAge(t *testing.T) {
	t.Parallel()
	h, clock, advance := sampledHarness(t, maxAge)
	var reads atomic.Int64
	h.env.Cgroups.StatsFunc = func(string) (*sandbox.CgroupStats, error) {
		n := reads.Add(1)
		return &sandbox.CgroupStats{Timestamp: clock(), CPUUsageNanos: uint64(n) * 1e9, MemoryWorkingSet: uint64(n)}, nil
	}
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	ctx := context.Background()
	get := func() *sandbox.ContainerStats {
		t.Helper()
		l := h.m.ListContainerStats(ctx, sandbox.ContainerFilter{ID: id})
		if len(l) != 1 || l[0].Cgroup == nil {
			t.Fatalf("stats %+v", l)
		}
		return l[0]
	}
	first := get()
	if reads.Load() != 1 || first.Cgroup.MemoryWorkingSet != 1 {
		t.Fatalf("first request: %d reads, %+v", reads.Load(), first.Cgroup)
	}
	advance(maxAge)
	if cs := get(); reads.Load() != 1 || cs.Cgroup.MemoryWorkingSet != 1 || !cs.Timestamp.Equal(first.Timestamp) {
		t.Fatalf("a sample exactly StatsMaxAge old was read again (%d reads) or changed: %+v at %v", reads.Load(), cs.Cgroup, cs.Timestamp)
	}
	advance(time.Nanosecond)
	second := get()
	if reads.Load() != 2 || second.Cgroup.MemoryWorkingSet != 2 || second.NanoCores == nil {
		t.Fatalf("a sample older than StatsMaxAge was reported: %d reads, %+v, rate %v", reads.Load(), second.Cgroup, second.NanoCores)
	}
	again := get()
	if reads.Load() != 2 || again.NanoCores == nil || *again.NanoCores != *second.NanoCores {
		t.Fatalf("the cached sample lost its rate: %v, want %d", again.NanoCores, *second.NanoCores)
	}
	pl := h.m.ListPodStats(ctx, sandbox.PodFilter{ID: pod})
	if reads.Load() != 2 || len(pl) != 1 || len(pl[0].Containers) != 1 || pl[0].Memory.MemoryWorkingSet != 2 || !pl[0].Timestamp.Equal(second.Timestamp) {
		t.Fatalf("pod stats over the cached sample: %d reads, %+v", reads.Load(), pl)
	}
	// A call for one container or pod reads now, and leaves its read for the lists.
	if cs, err := h.m.ContainerStats(ctx, id); err != nil || reads.Load() != 3 || cs.Cgroup.MemoryWorkingSet != 3 {
		t.Fatalf("ContainerStats: %d reads, %+v, %v; want a read of its own", reads.Load(), cs, err)
	}
	if ps, err := h.m.PodStats(ctx, pod); err != nil || reads.Load() != 4 || ps.Memory.MemoryWorkingSet != 4 {
		t.Fatalf("PodStats: %d reads, %+v, %v; want a read of its own", reads.Load(), ps, err)
	}
	if cs := get(); reads.Load() != 4 || cs.Cgroup.MemoryWorkingSet != 4 {
		t.Fatalf("the list after a single read: %d reads, %+v; want that read", reads.Load(), cs.Cgroup)
	}

	h.m.MeasureStats()
	if reads.Load() != 5 || h.m.StatsSamples() == 0 {
		t.Fatalf("a sampler pass: %d reads, %d samples", reads.Load(), h.m.StatsSamples())
	}
	if cs := get(); reads.Load() != 5 || cs.Cgroup.MemoryWorkingSet != 5 {
		t.Fatalf("after a pass the request read again (%d reads) or missed the pass's sample: %+v", reads.Load(), cs.Cgroup)
	}

	p, _ := h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).Exit(id, 0, false)
	waitExited(t, h.m, id)
	h.m.MeasureStats()
	if n := h.m.StatsSamples(); n != 0 {
		t.Fatalf("%d samples left with no container running", n)
	}
}

// A node-wide stats request wakes the sampler, which reads every running container in
// the background.
func TestStatsRequestWakesTheSampler(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reads := make(chan string, 100)
	h.env.Cgroups.StatsFunc = func(id string) (*sandbox.CgroupStats, error) {
		reads <- id
		return &sandbox.CgroupStats{Timestamp: time.Now()}, nil
	}
	h.cfg.StatsInterval = time.Hour // one pass per wake-up during the test
	h.restart()
	pod := h.runPod("web")
	a := h.createStarted(pod, "a")
	b := h.createStarted(pod, "b")
	h.m.ListContainerStats(context.Background(), sandbox.ContainerFilter{ID: a})
	seen := map[string]bool{}
	for !seen[b] {
		select {
		case id := <-reads:
			seen[id] = true
		case <-time.After(time.Minute):
			t.Fatalf("the sampler read %v after a request for %s, want %s too", seen, a, b)
		}
	}
}

// A node-wide pod stats request reports the pressure of each pod's cgroup from a sample
// at most StatsMaxAge old, as it does its containers' cgroups: no file reads per pod per
// call (3 on v2, hundreds of pods per node). A call for one pod reads now; the sampler's
// pass reads it; the pod's stop lets the reader close the cgroup's files.
func TestPodPressureSampled(t *testing.T) {
	t.Parallel()
	h, _, advance := sampledHarness(t, maxAge)
	const parent = "/kubepods/burstable/poduid-web"
	var reads atomic.Int64
	h.env.Cgroups.PressureFunc = func(path string) (cpu, memory, io *sandbox.Pressure, err error) {
		if path != parent {
			t.Errorf("pressure of %q, want the pod's cgroup %q", path, parent)
		}
		n := reads.Add(1)
		return &sandbox.Pressure{Some: &sandbox.PressureLine{TotalMicros: uint64(n)}}, nil, nil, nil
	}
	cfg := podConfig("web")
	cfg.LogDirectory = t.TempDir()
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{CgroupParent: parent}
	pod, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	total := func() uint64 {
		t.Helper()
		l := h.m.ListPodStats(ctx, sandbox.PodFilter{ID: pod})
		if len(l) != 1 || l[0].CPUPressure == nil {
			t.Fatalf("pod stats %+v", l)
		}
		return l[0].CPUPressure.Some.TotalMicros
	}
	if got := total(); got != 1 || reads.Load() != 1 {
		t.Fatalf("first request: pressure %d, %d reads", got, reads.Load())
	}
	advance(maxAge)
	for range 3 {
		if got := total(); got != 1 || reads.Load() != 1 {
			t.Fatalf("within StatsMaxAge: pressure %d, %d reads; want the sample, no read", got, reads.Load())
		}
	}
	advance(time.Nanosecond)
	if got := total(); got != 2 || reads.Load() != 2 {
		t.Fatalf("past StatsMaxAge: pressure %d, %d reads; want a new read", got, reads.Load())
	}
	if ps, err := h.m.PodStats(ctx, pod); err != nil || reads.Load() != 3 || ps.CPUPressure.Some.TotalMicros != 3 {
		t.Fatalf("PodStats: %d reads, %+v, %v; want a read of its own", reads.Load(), ps, err)
	}
	h.m.MeasureStats()
	if got := total(); reads.Load() != 4 || got != 4 {
		t.Fatalf("a sampler pass: %d reads, the request then saw %d; want the pass's read", reads.Load(), got)
	}
	if err := h.m.StopPod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if got := h.env.Cgroups.Forgotten(); !slices.Contains(got, parent) {
		t.Fatalf("forgotten after the pod's stop: %v, want %s", got, parent)
	}
}

// A sampler pass works on a snapshot of the ready pods: a stop that forgets a pod's cgroup
// while the pass reads it must not leave the reader keeping the cgroup's files (opened
// again by the read after the Forget, on v2 pinning the removed cgroup until the idle
// sweep): the read is followed by a Forget of its own.
func TestPodPressureReadRacingStopIsForgotten(t *testing.T) {
	t.Parallel()
	h, _, _ := sampledHarness(t, maxAge)
	const parent = "/kubepods/burstable/poduid-race"
	ctx := context.Background()
	var pod string
	var raced atomic.Bool
	forgetsAtRead := -1
	h.env.Cgroups.PressureFunc = func(string) (cpu, memory, io *sandbox.Pressure, err error) {
		if pod != "" && raced.CompareAndSwap(false, true) {
			// The stop runs between the pass's snapshot and this read's open.
			if err := h.m.StopPod(ctx, pod); err != nil {
				t.Error(err)
			}
			forgetsAtRead = len(h.env.Cgroups.Forgotten())
		}
		return &sandbox.Pressure{}, nil, nil, nil
	}
	cfg := podConfig("race")
	cfg.LogDirectory = t.TempDir()
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{CgroupParent: parent}
	var err error
	if pod, err = h.m.RunPod(ctx, cfg, ""); err != nil {
		t.Fatal(err)
	}
	passForgetsAfterRace(t, h, &raced, &forgetsAtRead, parent)
}

// The same for a container: an exit that forgets its cgroup while a pass reads it.
func TestCgroupReadRacingExitIsForgotten(t *testing.T) {
	t.Parallel()
	h, clock, _ := sampledHarness(t, maxAge)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	path := sandboxtest.FakeCgroupPrefix + id
	p, _ := h.m.Pod(pod)
	var raced atomic.Bool
	forgetsAtRead := -1
	h.env.Cgroups.StatsFunc = func(string) (*sandbox.CgroupStats, error) {
		if raced.CompareAndSwap(false, true) {
			// The exit is handled between the pass's snapshot and this read's open.
			h.env.Runtime.Monitor(p.Dir).Exit(id, 0, false)
			// The exit's forget follows its state change.
			waitUntil(t, "the exit's forget of "+path, func() bool { return slices.Contains(h.env.Cgroups.Forgotten(), path) })
			forgetsAtRead = len(h.env.Cgroups.Forgotten())
		}
		return &sandbox.CgroupStats{Timestamp: clock(), CPUUsageNanos: 1}, nil
	}
	passForgetsAfterRace(t, h, &raced, &forgetsAtRead, path)
	if n := h.m.StatsSamples(); n != 0 {
		t.Errorf("%d samples kept of a container that exited", n)
	}
}

// passForgetsAfterRace runs a sampler pass whose read of path races a stop or an exit (the
// fake read sets raced and counts the Forgets so far in forgetsAtRead) and checks that path
// is forgotten again after that read.
func passForgetsAfterRace(t *testing.T, h *harness, raced *atomic.Bool, forgetsAtRead *int, path string) {
	t.Helper()
	h.m.MeasureStats()
	if !raced.Load() {
		t.Fatalf("the sampler pass did not read %s", path)
	}
	got := h.env.Cgroups.Forgotten()
	if len(got) <= *forgetsAtRead || got[len(got)-1] != path {
		t.Errorf("forgotten %v, %d of them before the read: want %s forgotten after the read", got, *forgetsAtRead, path)
	}
}

// The sampler pass a node-wide request wakes does not read again what the request has just
// read: the first request after the sampler idled reads every container's cgroup itself
// (its samples are stale), and the pass it woke read them all again (2.9-5.6 ms at 110
// pods). It reads what the request left stale: here the pod's pressure, which
// ListContainerStats does not report, read after every container's cgroup.
func TestWokenSamplerSkipsWhatTheRequestRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.cfg.StatsInterval = time.Hour // one pass per wake-up during the test
	h.restart()
	var reads sync.Map // container id → *atomic.Int64
	h.env.Cgroups.StatsFunc = func(id string) (*sandbox.CgroupStats, error) {
		n, _ := reads.LoadOrStore(id, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		return &sandbox.CgroupStats{Timestamp: time.Now()}, nil
	}
	passDone := make(chan struct{}, 1)
	h.env.Cgroups.PressureFunc = func(string) (cpu, memory, io *sandbox.Pressure, err error) {
		select {
		case passDone <- struct{}{}:
		default:
		}
		return &sandbox.Pressure{}, nil, nil, nil
	}
	cfg := podConfig("web")
	cfg.LogDirectory = t.TempDir()
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods/poduid-web"}
	pod, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{h.createStarted(pod, "a"), h.createStarted(pod, "b")}
	if l := h.m.ListContainerStats(context.Background(), sandbox.ContainerFilter{}); len(l) != len(ids) {
		t.Fatalf("stats of %d containers, want %d", len(l), len(ids))
	}
	select {
	case <-passDone:
	case <-time.After(time.Minute):
		t.Fatal("the request did not wake the sampler")
	}
	for _, id := range ids {
		n, _ := reads.Load(id)
		if got := n.(*atomic.Int64).Load(); got != 1 {
			t.Errorf("container %s: cgroup read %d times by the request and the pass it woke, want once", id, got)
		}
	}
}

// A pass skips a sample younger than half the interval (read since the last pass by a
// request) and reads any older one: a sample the last pass read is an interval old at the
// next, so the cadence is unchanged and a skipped sample is at most 1.5 intervals old at
// the pass after, within StatsMaxAge (twice the interval).
func TestSamplerPassSkipsYoungSamples(t *testing.T) {
	t.Parallel()
	const interval = time.Hour // the sampler never wakes: the test runs the passes
	h := newHarnessWith(t, func(c *sandbox.Config) { c.StatsInterval = interval })
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	h.m.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var reads atomic.Int64
	h.env.Cgroups.StatsFunc = func(string) (*sandbox.CgroupStats, error) {
		reads.Add(1)
		return &sandbox.CgroupStats{}, nil
	}
	id := h.createStarted(h.runPod("web"), "app")
	if _, err := h.m.ContainerStats(context.Background(), id); err != nil || reads.Load() != 1 {
		t.Fatalf("ContainerStats: %d reads, %v", reads.Load(), err)
	}
	advance(interval/2 - time.Nanosecond)
	h.m.MeasureStats()
	if reads.Load() != 1 {
		t.Fatalf("a pass read a sample younger than half the interval: %d reads", reads.Load())
	}
	if n := h.m.StatsSamples(); n != 1 {
		t.Fatalf("%d samples after a pass that skipped the container, want its sample kept", n)
	}
	advance(time.Nanosecond)
	h.m.MeasureStats()
	if reads.Load() != 2 {
		t.Fatalf("a pass skipped a sample half the interval old: %d reads", reads.Load())
	}
	advance(interval)
	h.m.MeasureStats()
	if reads.Load() != 3 {
		t.Fatalf("a pass skipped the last pass's sample: %d reads", reads.Load())
	}
}
