package sandbox_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/crid-dev/crid/sandbox"
)

// A container removed while its stats were being taken must not leave its CPU sample
// behind: kubelet asks for stats every few seconds, so on a node with churn such
// samples would pile up for ever.
func TestStatsOfARemovedContainerLeaveNoSample(t *testing.T) {
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	mon.StatsFunc = func(cid string) (*sandbox.CgroupStats, error) {
		if err := h.m.RemoveContainer(context.Background(), cid); err != nil {
			t.Error(err)
		}
		return &sandbox.CgroupStats{CPUUsageNanos: 1}, nil
	}
	h.m.ListContainerStats(context.Background(), sandbox.ContainerFilter{ID: id})
	if _, err := h.m.Container(id); err == nil {
		t.Fatal("the container was not removed")
	}
	if n := h.m.CPUSamples(); n != 0 {
		t.Errorf("%d CPU samples left after the container was removed", n)
	}
}

// A stuck monitor costs one stats timeout per pass, not one per container of its pod.
func TestStuckMonitorIsAskedOncePerStatsPass(t *testing.T) {
	h := newHarness(t)
	pod := h.runPod("web")
	for _, n := range []string{"a", "b", "c"} {
		h.createStarted(pod, n)
	}
	p, _ := h.m.Pod(pod)
	stuck := make(chan struct{})
	defer close(stuck)
	var calls atomic.Int32
	h.env.Runtime.Monitor(p.Dir).StatsFunc = func(string) (*sandbox.CgroupStats, error) {
		calls.Add(1)
		<-stuck
		return nil, context.Canceled
	}
	ps := h.m.ListPodStats(context.Background(), sandbox.PodFilter{})
	if len(ps) != 1 || len(ps[0].Containers) != 3 {
		t.Fatalf("stats: %+v", ps)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the stuck monitor was asked %d times in one pass, want 1", n)
	}
}
