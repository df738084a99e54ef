package sandbox_test

import (
	"context"
	"testing"

	"github.com/crid-dev/crid/sandbox"
)

// A container removed while its stats were being taken must not leave its CPU sample
// behind: kubelet asks for stats every few seconds, so on a node with churn such
// samples would pile up for ever.
func TestStatsOfARemovedContainerLeaveNoSample(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	h.env.Cgroups.StatsFunc = func(cid string) (*sandbox.CgroupStats, error) {
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
