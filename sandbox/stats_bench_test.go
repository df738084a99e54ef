package sandbox_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// BenchmarkListPodStats: the daemon's own work for one node-wide pod stats answer at 250
// pods of one running container each (issue 16.4's node), over the fakes' cgroups and
// with every sample fresh (as while kubelet polls): what is left is building the answer
// (the CRI messages are built by package cri, after).
//
//	go test -run '^$' -bench ListPodStats -benchmem ./sandbox/
func BenchmarkListPodStats(b *testing.B) {
	h := newHarness(b)
	for i := range 250 {
		h.createStarted(h.runHostPod(fmt.Sprint("p", i)), "c")
	}
	ctx := context.Background()
	now := time.Now()
	h.m.SetClock(func() time.Time { return now }) // the samples stay fresh
	h.m.MeasureStats()
	b.ReportAllocs()
	for b.Loop() {
		if n := len(h.m.ListPodStats(ctx, sandbox.PodFilter{})); n != 250 {
			b.Fatalf("%d pods", n)
		}
	}
}

// runHostPod runs a pod in the host's network: the fake pause's pid has no
// /proc/<pid>/net/dev, whose failed open on every stats call would be most of a figure.
func (h *harness) runHostPod(name string) string {
	h.t.Helper()
	cfg := podConfig(name)
	cfg.LogDirectory = h.t.TempDir()
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE}}}
	id, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// TestListPodStatsAnswerShape: a node-wide pod stats answer groups each pod's containers
// oldest first (PodContainers' order), a pod without containers has none, and the answer
// costs about the same number of allocations whatever the number of pods and containers
// (it made ~6 per container and pod). Not parallel: AllocsPerRun.
func TestListPodStatsAnswerShape(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	h.m.SetClock(func() time.Time { return now }) // the samples stay fresh
	want := map[string][]string{}
	for i := range 6 {
		pod := h.runHostPod(fmt.Sprint("p", i))
		want[pod] = nil
		for j := range i % 3 {
			want[pod] = append(want[pod], h.createStarted(pod, fmt.Sprint("c", j)))
		}
	}
	ctx := context.Background()
	h.m.MeasureStats()
	got := h.m.ListPodStats(ctx, sandbox.PodFilter{})
	if len(got) != len(want) {
		t.Fatalf("%d pods, want %d", len(got), len(want))
	}
	for _, ps := range got {
		var ids []string
		for _, cs := range ps.Containers {
			if cs.Cgroup == nil {
				t.Errorf("pod %s container %s: no cgroup figures", ps.Pod.ID, cs.Container.ID)
			}
			ids = append(ids, cs.Container.ID)
		}
		if !slices.Equal(ids, want[ps.Pod.ID]) {
			t.Errorf("pod %s: containers %v, want %v (oldest first)", ps.Pod.ID, ids, want[ps.Pod.ID])
		}
	}
	if single, err := h.m.PodStats(ctx, got[0].Pod.ID); err != nil || len(single.Containers) != len(got[0].Containers) {
		t.Fatalf("PodStats: %+v, %v", single, err)
	}
	small := testing.AllocsPerRun(20, func() { h.m.ListPodStats(ctx, sandbox.PodFilter{}) })
	for i := range 20 {
		h.createStarted(h.runHostPod(fmt.Sprint("more", i)), "c")
	}
	h.m.MeasureStats()
	// 20 pods and containers more: ~120 allocations more before; a bigger map now.
	if large := testing.AllocsPerRun(20, func() { h.m.ListPodStats(ctx, sandbox.PodFilter{}) }); large > small+4 {
		t.Errorf("%.0f allocations per answer at 26 pods, %.0f at 6: want about the same", large, small)
	}
}
