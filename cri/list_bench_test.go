package cri

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

func sandboxFilterAll() sandbox.ContainerFilter { return sandbox.ContainerFilter{} }

// Benchmarks of kubelet's relist path with 100 pods and 200 containers in memory, over
// real gRPC on a unix socket (the fakes stand for images, CNI and monitors). They report
// p50 and p99 latency per call:
//
//	go test -run x -bench List -benchtime 2000x ./cri/

func populate(b *testing.B, r *rig) {
	ctx := context.Background()
	for i := range 100 {
		p, err := r.m.RunPod(ctx, podCfg(fmt.Sprint("pod", i), r.dir), "")
		if err != nil {
			b.Fatal(err)
		}
		for j := range 2 {
			if _, err := r.m.CreateContainer(ctx, p, ctrCfg(fmt.Sprint("c", j))); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func benchList(b *testing.B, call func(ctx context.Context, r *rig) (int, error), want int) {
	r := newRig(b)
	populate(b, r)
	ctx := context.Background()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		n, err := call(ctx, r)
		d = append(d, time.Since(start))
		if err != nil || n != want {
			b.Fatalf("got %d items, %v", n, err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, d)
}

func BenchmarkListPodSandboxGRPC(b *testing.B) {
	benchList(b, func(ctx context.Context, r *rig) (int, error) {
		resp, err := r.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return len(resp.GetItems()), err
	}, 100)
}

func BenchmarkListContainersGRPC(b *testing.B) {
	benchList(b, func(ctx context.Context, r *rig) (int, error) {
		resp, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return len(resp.GetContainers()), err
	}, 200)
}

func BenchmarkListPodSandboxHandler(b *testing.B) {
	benchList(b, func(ctx context.Context, r *rig) (int, error) {
		resp, err := r.srv.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
		return len(resp.GetItems()), err
	}, 100)
}

func BenchmarkListContainersHandler(b *testing.B) {
	benchList(b, func(ctx context.Context, r *rig) (int, error) {
		resp, err := r.srv.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		return len(resp.GetContainers()), err
	}, 200)
}

// The relist must not wait for a slow operation: with a StopContainer stuck on a process
// that ignores its signal, listing stays as fast.
func BenchmarkListContainersDuringSlowStop(b *testing.B) {
	r := newRig(b)
	populate(b, r)
	ctx := context.Background()
	c := r.m.Containers(sandboxFilterAll())[0]
	if err := r.m.StartContainer(ctx, c.ID); err != nil {
		b.Fatal(err)
	}
	p, _ := r.m.Pod(c.PodID)
	r.env.Runtime.Monitor(p.Dir).IgnoreSignals = true
	go func() { _ = r.m.StopContainer(ctx, c.ID, 30) }()
	time.Sleep(10 * time.Millisecond)
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		resp, err := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
		d = append(d, time.Since(start))
		if err != nil || len(resp.Containers) != 200 {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportPercentiles(b, d)
}

// BenchmarkListPodSandboxStatsGRPC: kubelet's node-wide stats call over the fakes (the
// cgroup and network reads are the fakes': this is the daemon's own work per call).
func BenchmarkListPodSandboxStatsGRPC(b *testing.B) {
	benchList(b, func(ctx context.Context, r *rig) (int, error) {
		resp, err := r.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
		return len(resp.GetStats()), err
	}, 100)
}
