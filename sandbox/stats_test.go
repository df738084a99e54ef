package sandbox_test

import (
	"context"
	"slices"
	"testing"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/sandboxtest"
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

// The cgroup reader keeps a running container's cgroup files open between stats calls;
// the container's exit, and its removal, let them go (an open file keeps a removed
// cgroup's kernel structures alive).
func TestExitedContainerCgroupForgotten(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	h.m.ListContainerStats(context.Background(), sandbox.ContainerFilter{})
	if got := h.env.Cgroups.Forgotten(); len(got) != 0 {
		t.Fatalf("forgotten while running: %v", got)
	}
	p, _ := h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).Exit(id, 0, false)
	waitExited(t, h.m, id)
	want := sandboxtest.FakeCgroupPrefix + id
	if got := h.env.Cgroups.Forgotten(); len(got) != 1 || got[0] != want {
		t.Fatalf("forgotten after the exit: %v, want [%s]", got, want)
	}
	if err := h.m.RemoveContainer(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := h.env.Cgroups.Forgotten(); len(got) != 2 || got[1] != want {
		t.Fatalf("forgotten after the removal: %v, want it again", got)
	}
}

// A started container's cgroup files are opened in the background (openCgroup), so that
// its first stats read does not open them on the request: with cgroups being made and
// removed elsewhere, one open took 13 ms. One that exited is forgotten (again) after it.
func TestStartedContainerCgroupOpened(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app") // waits for the open
	path := sandboxtest.FakeCgroupPrefix + id
	if got := h.env.Cgroups.Opened(); !slices.Equal(got, []string{path}) {
		t.Fatalf("opened %v, want [%s]", got, path)
	}
	if got := h.env.Cgroups.Forgotten(); len(got) != 0 {
		t.Fatalf("forgotten while running: %v", got)
	}
	if _, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("created")); err != nil {
		t.Fatal(err)
	}
	if got := h.env.Cgroups.Opened(); len(got) != 1 {
		t.Errorf("opened %v: a created container's cgroup is not opened before its start", got)
	}
}

// After a restart, the cgroup files of the containers found running are opened in the
// background too (kubelet's first node-wide stats call would open them all), and those
// of the others are not.
func TestRecoveredContainerCgroupOpened(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	exited := h.createStarted(pod, "exited")
	if p, err := h.m.Pod(pod); err == nil {
		h.env.Runtime.Monitor(p.Dir).Exit(exited, 0, false)
	}
	waitExited(t, h.m, exited)
	running := h.createStarted(pod, "running")
	h.restart()
	path := sandboxtest.FakeCgroupPrefix + running
	waitUntil(t, "the open of "+path+" after the restart", func() bool {
		return len(slices.DeleteFunc(h.env.Cgroups.Opened(), func(p string) bool { return p != path })) == 2
	})
	h.m.Close() // waits for the background opens
	if got := h.env.Cgroups.Opened(); slices.Contains(got[2:], sandboxtest.FakeCgroupPrefix+exited) {
		t.Errorf("opened %v: the exited container's cgroup was opened after the restart", got)
	}
}
