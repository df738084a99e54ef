package e2e

import (
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestListFilters: the filters kubelet's relist and kubectl-like tools use: pods by id,
// state and labels; containers by id, pod, state and labels.
func TestListFilters(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	ready := d.podConfig(t, "filter-ready")
	readyID := d.runPod(t, ready)
	stopped := d.podConfig(t, "filter-stopped")
	stoppedID := d.runPod(t, stopped)
	if _, err := d.RT.StopPodSandbox(ctxT(t, criTimeout), &runtimeapi.StopPodSandboxRequest{PodSandboxId: stoppedID}); err != nil {
		t.Fatal(err)
	}
	runCfg := containerConfig("run", img, "sleep", "3600")
	runCfg.Labels["role"] = "runner"
	running := d.runContainer(t, readyID, ready, runCfg)
	exited := d.runContainer(t, readyID, ready, containerConfig("exit", img, "true"))
	d.waitState(t, exited, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)

	pods := func(f *runtimeapi.PodSandboxFilter) []string {
		t.Helper()
		resp, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{Filter: f})
		if err != nil {
			t.Fatalf("ListPodSandbox %v: %v", f, err)
		}
		var ids []string
		for _, p := range resp.Items {
			if p.Id == readyID || p.Id == stoppedID {
				ids = append(ids, p.Id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	for name, c := range map[string]struct {
		f    *runtimeapi.PodSandboxFilter
		want []string
	}{
		"all":      {nil, sorted(readyID, stoppedID)},
		"id":       {&runtimeapi.PodSandboxFilter{Id: stoppedID}, []string{stoppedID}},
		"ready":    {&runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY}}, []string{readyID}},
		"notready": {&runtimeapi.PodSandboxFilter{State: &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY}}, []string{stoppedID}},
		"label":    {&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": "filter-ready"}}, []string{readyID}},
		"nomatch":  {&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": "filter-ready", "e2e": "no"}}, nil},
	} {
		if got := pods(c.f); !slices.Equal(got, c.want) {
			t.Errorf("ListPodSandbox %s: %v, want %v", name, got, c.want)
		}
	}

	ctrs := func(f *runtimeapi.ContainerFilter) []string {
		t.Helper()
		resp, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: f})
		if err != nil {
			t.Fatalf("ListContainers %v: %v", f, err)
		}
		var ids []string
		for _, c := range resp.Containers {
			if c.Id == running || c.Id == exited {
				ids = append(ids, c.Id)
			}
		}
		slices.Sort(ids)
		return ids
	}
	for name, c := range map[string]struct {
		f    *runtimeapi.ContainerFilter
		want []string
	}{
		"pod":      {&runtimeapi.ContainerFilter{PodSandboxId: readyID}, sorted(running, exited)},
		"id":       {&runtimeapi.ContainerFilter{Id: exited}, []string{exited}},
		"running":  {&runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}}, []string{running}},
		"exited":   {&runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}}, []string{exited}},
		"label":    {&runtimeapi.ContainerFilter{LabelSelector: map[string]string{"role": "runner"}}, []string{running}},
		"otherpod": {&runtimeapi.ContainerFilter{PodSandboxId: stoppedID}, nil},
	} {
		if got := ctrs(c.f); !slices.Equal(got, c.want) {
			t.Errorf("ListContainers %s: %v, want %v", name, got, c.want)
		}
	}
}
