package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// NRI plugins see each lifecycle event once, in order, and adjust the spec at creation.
func TestNRIEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.env.NRI.Env = "FROM_NRI=1"
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	c, _ := h.m.Container(id)
	if !slices.Contains(c.Spec.Process.Env, "FROM_NRI=1") {
		t.Errorf("the plugins' adjustment is not in the spec: %v", c.Spec.Process.Env)
	}
	if err := h.m.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.m.StopContainer(ctx, id, 0); err != nil { // already stopped: no second event
		t.Fatal(err)
	}
	if err := h.m.RemovePod(ctx, pod); err != nil { // stops the pod, then removes its containers
		t.Fatal(err)
	}
	want := []string{"RunPod " + pod, "CreateContainer " + id, "ContainerCreated " + id, "StartContainer " + id,
		"ContainerStarted " + id, "StopContainer " + id, "StopPod " + pod, "RemoveContainer " + id, "RemovePod " + pod}
	if got := h.env.NRI.Events(); !slices.Equal(got, want) {
		t.Errorf("events\n got %q\nwant %q", got, want)
	}
}

// A plugin's resource update replaces the fields it sets and keeps the others.
func TestUpdateContainerOCIResources(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	limit, shares := int64(64<<20), uint64(512)
	if err := h.m.UpdateContainerOCIResources(ctx, id, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
		t.Fatal(err)
	}
	if err := h.m.UpdateContainerOCIResources(ctx, id, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}); err != nil {
		t.Fatal(err)
	}
	c, _ := h.m.Container(id)
	r := c.Spec.Linux.Resources
	if r.Memory == nil || *r.Memory.Limit != limit || r.CPU == nil || *r.CPU.Shares != shares {
		t.Errorf("resources after two updates: %+v", r)
	}
	p, _ := h.m.Pod(pod)
	if u := h.env.Runtime.Monitor(p.Dir).Updated[id]; u == nil || u.CPU == nil || *u.CPU.Shares != shares {
		t.Errorf("the monitor was not given the update: %+v", u)
	}
	if err := h.m.UpdateContainerOCIResources(ctx, "nope", &specs.LinuxResources{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown container: %v", err)
	}
}

// UpdateContainerResources asks the plugins, sets what they answer and tells them after;
// a plugin's refusal changes nothing.
func TestNRIUpdateContainer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	h.env.NRI.UpdateShares = 700
	if err := h.m.UpdateContainerResources(ctx, id, &runtimeapi.LinuxContainerResources{CpuShares: 256}); err != nil {
		t.Fatal(err)
	}
	p, _ := h.m.Pod(pod)
	u := h.env.Runtime.Monitor(p.Dir).Updated[id]
	if u == nil || u.CPU == nil || *u.CPU.Shares != 700 {
		t.Errorf("the monitor got %+v, want the plugin's shares", u)
	}
	c, _ := h.m.Container(id)
	if r := h.m.ContainerResources(c); r.GetCpuShares() != 700 {
		t.Errorf("kept resources %v", r)
	}
	if ev := h.env.NRI.Events(); !slices.Contains(ev, "UpdateContainer "+id) || !slices.Contains(ev, "ContainerUpdated "+id) {
		t.Errorf("events %q", ev)
	}
	h.env.Fail.Set("nri-update", errors.New("refused by a plugin"))
	if err := h.m.UpdateContainerResources(ctx, id, &runtimeapi.LinuxContainerResources{CpuShares: 100}); err == nil {
		t.Fatal("a refused update succeeded")
	}
	c, _ = h.m.Container(id)
	if r := h.m.ContainerResources(c); r.GetCpuShares() != 700 {
		t.Errorf("a refused update changed the resources: %v", r)
	}
}

// A container's own exit tells the plugins it stopped, and a later StopContainer does not
// tell them again.
func TestNRIStopOnExit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	p, _ := h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).Exit(id, 3, false)
	stops := func() int {
		n := 0
		for _, ev := range h.env.NRI.Events() {
			if ev == "StopContainer "+id {
				n++
			}
		}
		return n
	}
	// The exit is handled on the pod's event goroutine: wait for its telling (the deadline
	// only guards a hung test).
	waitUntil(t, "the plugins to be told of the exit", func() bool { return stops() > 0 })
	if err := h.m.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if n := stops(); n != 1 {
		t.Errorf("StopContainer told %d times: %q", n, h.env.NRI.Events())
	}
}
