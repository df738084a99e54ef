package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerStats: a busy container shows CPU time that grows and memory in use.
func TestContainerStats(t *testing.T) { containerStats(t, sharedDaemon(t), "") }

// containerStats is TestContainerStats on a pod of the runtime handler handler.
func containerStats(t *testing.T, d *Daemon, handler string) {
	pod := d.podConfigOn(t, "stats", handler)
	podID := d.runPod(t, pod)
	// A loop of its own, to find the container's process on the host (TestStatsPressureAndIO
	// runs a busy loop too).
	loop := fmt.Sprint("while :; do :; done # stats ", time.Now().UnixNano())
	id := d.runContainer(t, podID, pod, containerConfig("busy", testImage(t, d), "sh", "-c", loop))
	pid := d.hostPidOf(t, "sh -c "+loop)

	sample := func() *runtimeapi.ContainerStats {
		resp, err := d.RT.ContainerStats(ctxT(t, criTimeout), &runtimeapi.ContainerStatsRequest{ContainerId: id})
		if err != nil {
			t.Fatalf("ContainerStats: %v", err)
		}
		return resp.Stats
	}
	// The figure is the container's own cgroup counter, read live: it lies between two
	// reads of that counter around the call.
	before := cgroupCPUNanos(t, pid)
	s1 := sample()
	after := cgroupCPUNanos(t, pid)
	c1 := s1.GetCpu().GetUsageCoreNanoSeconds().GetValue()
	if c1 == 0 || c1 < before || c1 > after {
		t.Errorf("cpu usage %d ns, want the container cgroup's counter, read %d then %d around the call", c1, before, after)
	}
	if s1.GetAttributes().GetId() != id {
		t.Errorf("stats attributes %+v, want id %s", s1.GetAttributes(), id)
	}
	// The figure grows while the loop runs. How much CPU the loop gets in a given time is
	// the scheduler's business (a loaded 2-core machine gave it 35 ms in a second), so wait
	// for 50 ms more of it: that tells a running loop from a parked one or a stale figure.
	var s2 *runtimeapi.ContainerStats
	var c2 uint64
	eventually(t, time.Minute, func() error {
		s2 = sample()
		if c2 = s2.GetCpu().GetUsageCoreNanoSeconds().GetValue(); c2 < c1+uint64(50*time.Millisecond) {
			return fmt.Errorf("cpu usage %d then %d ns: want 50ms more for a busy loop", c1, c2)
		}
		return nil
	})
	if s2.GetCpu().GetTimestamp() <= s1.GetCpu().GetTimestamp() {
		t.Errorf("cpu timestamps %d then %d", s1.GetCpu().GetTimestamp(), s2.GetCpu().GetTimestamp())
	}
	if ws := s2.GetMemory().GetWorkingSetBytes().GetValue(); ws == 0 {
		t.Errorf("memory working set 0 for a running shell (memory %+v)", s2.GetMemory())
	}

	list, err := d.RT.ListContainerStats(ctxT(t, criTimeout), &runtimeapi.ListContainerStatsRequest{
		Filter: &runtimeapi.ContainerStatsFilter{PodSandboxId: podID},
	})
	if err != nil {
		t.Fatalf("ListContainerStats: %v", err)
	}
	// A node-wide list may answer from a sample, but not one older than the reads above.
	if len(list.Stats) != 1 || list.Stats[0].GetAttributes().GetId() != id || list.Stats[0].GetCpu().GetUsageCoreNanoSeconds().GetValue() < c1 {
		t.Errorf("ListContainerStats by pod: %v", list.Stats)
	}
}

// cgroupCPUNanos is the CPU time of pid's cgroup as the kernel counts it.
func cgroupCPUNanos(t *testing.T, pid int) uint64 {
	t.Helper()
	file, scale := "cpuacct/cpuacct.usage", uint64(1)
	if unifiedHost() {
		file, scale = "cpu.stat", 1000 // usage_usec
	}
	v := cgroupValue(t, pid, file)
	if unifiedHost() {
		_, rest, _ := strings.Cut(v, "usage_usec ")
		v, _, _ = strings.Cut(rest, "\n")
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("cgroup cpu usage of %d: %v", pid, err)
	}
	return n * scale
}

// TestContainerEvents: GetContainerEvents reports CREATED, STARTED, STOPPED, DELETED for a
// container, in that order, with the pod's id.
func TestContainerEvents(t *testing.T) {
	d := sharedDaemon(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := d.RT.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatalf("GetContainerEvents: %v", err)
	}
	events := make(chan *runtimeapi.ContainerEventResponse, 100)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	pod := d.podConfig(t, "events")
	podID := d.runPod(t, pod)
	img := testImage(t, d)
	// The server registers the subscriber asynchronously: a first container whose CREATED
	// event arrives proves the subscription is live before the measured container starts.
	probe := d.createContainer(t, podID, pod, containerConfig("probe", img, "true"))
	if err := waitEvent(events, probe, 20*time.Second); err != nil {
		t.Fatalf("no CREATED event for a first container: %v", err)
	}
	id := d.runContainer(t, podID, pod, containerConfig("short", img, "sh", "-c", "exit 0"))
	d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if _, err := d.RT.RemoveContainer(ctxT(t, criTimeout), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}

	want := []runtimeapi.ContainerEventType{
		runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
	}
	var got []runtimeapi.ContainerEventType
	timeout := time.After(20 * time.Second)
	for len(got) < len(want) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("event stream ended; got %v", got)
			}
			if ev.ContainerId != id {
				continue
			}
			got = append(got, ev.ContainerEventType)
			if ev.PodSandboxStatus.GetId() != podID {
				t.Errorf("%v event: pod status id %q, want %s", ev.ContainerEventType, ev.PodSandboxStatus.GetId(), podID)
			}
			if ev.CreatedAt == 0 {
				t.Errorf("%v event without a time", ev.ContainerEventType)
			}
			// kubelet's evented PLEG takes the event's statuses as the pod's whole
			// status: the container must be there, in the state the event announces
			// (a deleted container is gone from them).
			checkEventStatus(t, ev, id)
		case <-timeout:
			t.Fatalf("container events %v, want %v", got, want)
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("container events %v, want %v", got, want)
		}
	}
}

// waitEvent waits for any event of container id.
func waitEvent(events <-chan *runtimeapi.ContainerEventResponse, id string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return errString("event stream ended")
			}
			if ev.ContainerId == id {
				return nil
			}
		case <-deadline:
			return errString("timed out")
		}
	}
}

// wantState is the container state each event type announces.
var wantState = map[runtimeapi.ContainerEventType]runtimeapi.ContainerState{
	runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT: runtimeapi.ContainerState_CONTAINER_CREATED,
	runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT: runtimeapi.ContainerState_CONTAINER_RUNNING,
	runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT: runtimeapi.ContainerState_CONTAINER_EXITED,
}

func checkEventStatus(t *testing.T, ev *runtimeapi.ContainerEventResponse, id string) {
	t.Helper()
	var found *runtimeapi.ContainerStatus
	for _, st := range ev.ContainersStatuses {
		if st.Id == id {
			found = st
		}
	}
	want, alive := wantState[ev.ContainerEventType]
	switch {
	case !alive && found != nil:
		t.Errorf("%v event still lists the container: %v", ev.ContainerEventType, found)
	case alive && found == nil:
		t.Errorf("%v event: container %s not in its statuses %v", ev.ContainerEventType, id, ev.ContainersStatuses)
	case alive && found.State != want:
		// A later state is fine: the status is read when the event is sent.
		if found.State < want {
			t.Errorf("%v event: container state %v, want %v", ev.ContainerEventType, found.State, want)
		}
	}
}

// TestStatsPressureAndIO (cgroup v2 hosts with PSI, e.g. the VM tier): the
// CRI stats carry cpu, memory and io pressure, and ListPodSandboxMetrics
// cadvisor's container_pressure_* series. On a v1 host PSI is absent and
// none is reported (checked too: zeros would claim "no pressure").
func TestStatsPressureAndIO(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "psi")
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("busy", testImage(t, d), "sh", "-c", "while :; do :; done"))
	time.Sleep(time.Second) // a busy loop accumulates CPU stall time meanwhile
	resp, err := d.RT.ContainerStats(ctxT(t, criTimeout), &runtimeapi.ContainerStatsRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStats: %v", err)
	}
	s := resp.Stats
	if !hostHasPSI() {
		if s.GetCpu().GetPsi() != nil || s.GetMemory().GetPsi() != nil || s.GetIo() != nil {
			t.Errorf("pressure reported on a host without cgroup v2 PSI: cpu %v memory %v io %v", s.GetCpu().GetPsi(), s.GetMemory().GetPsi(), s.GetIo())
		}
		t.Skip("host has no cgroup v2 PSI (a v1 hybrid): the pressure figures are for the VM tier")
	}
	if s.GetCpu().GetPsi().GetSome() == nil || s.GetMemory().GetPsi().GetSome() == nil || s.GetIo().GetPsi().GetSome() == nil {
		t.Fatalf("pressure missing: cpu %v memory %v io %v", s.GetCpu().GetPsi(), s.GetMemory().GetPsi(), s.GetIo())
	}
	m, err := d.RT.ListPodSandboxMetrics(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatalf("ListPodSandboxMetrics: %v", err)
	}
	seen := map[string]bool{}
	for _, pm := range m.PodMetrics {
		for _, cm := range pm.ContainerMetrics {
			if cm.ContainerId != id {
				continue
			}
			for _, x := range cm.Metrics {
				seen[x.Name] = true
			}
		}
	}
	for _, name := range []string{"container_pressure_cpu_waiting_seconds_total", "container_pressure_memory_waiting_seconds_total", "container_pressure_io_waiting_seconds_total"} {
		if !seen[name] {
			t.Errorf("metric %s missing", name)
		}
	}
}

// hostHasPSI: a unified cgroup hierarchy and a kernel reporting pressure.
func hostHasPSI() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	_, err := os.ReadFile("/proc/pressure/cpu")
	return err == nil
}
