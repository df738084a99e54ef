package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// TestPodLifecycle walks a pod and a container through every state kubelet drives them
// through and checks what each status and list call reports on the way.
func TestPodLifecycle(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "lifecycle")
	podID := d.runPod(t, pod)

	ps, err := d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatalf("PodSandboxStatus: %v", err)
	}
	if ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("pod state %v, want READY", ps.Status.State)
	}
	if ps.Status.Metadata.GetUid() != pod.Metadata.Uid || ps.Status.Labels["name"] != "lifecycle" {
		t.Errorf("pod status metadata/labels %+v %v do not match the config", ps.Status.Metadata, ps.Status.Labels)
	}
	if ip := ps.Status.GetNetwork().GetIp(); !strings.HasPrefix(ip, strings.TrimSuffix(d.Subnet, "0/24")) {
		t.Errorf("pod IP %q not in the test network %s", ip, d.Subnet)
	}

	pods, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{
		Filter: &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{"name": "lifecycle"}},
	})
	if err != nil {
		t.Fatalf("ListPodSandbox: %v", err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Id != podID {
		t.Errorf("ListPodSandbox by label: %v, want only %s", pods.Items, podID)
	}

	cfg := containerConfig("main", img, "sh", "-c", "echo started on $(hostname); exec sleep 3600")
	ctrID := d.createContainer(t, podID, pod, cfg)
	if st := d.containerStatus(t, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_CREATED || st.CreatedAt == 0 {
		t.Errorf("after create: state %v createdAt %d, want CREATED and a time", st.State, st.CreatedAt)
	}
	d.startContainer(t, ctrID)
	st := d.containerStatus(t, ctrID)
	if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.StartedAt < st.CreatedAt {
		t.Errorf("after start: state %v startedAt %d createdAt %d", st.State, st.StartedAt, st.CreatedAt)
	}
	if st.Metadata.GetName() != "main" || st.ImageRef == "" || st.LogPath == "" {
		t.Errorf("status metadata %+v imageRef %q logPath %q", st.Metadata, st.ImageRef, st.LogPath)
	}
	eventually(t, 10*time.Second, func() error {
		if out, _ := logMessages(t, readLog(t, pod, cfg)); !containsString(out, "started on "+pod.Hostname) {
			return fmt.Errorf("container output %q, want the pod's hostname %s", out, pod.Hostname)
		}
		return nil
	})

	ctrs, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID},
	})
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	if len(ctrs.Containers) != 1 || ctrs.Containers[0].Id != ctrID || ctrs.Containers[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("ListContainers by pod: %v", ctrs.Containers)
	}
	running, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_EXITED}, PodSandboxId: podID},
	})
	if err != nil || len(running.Containers) != 0 {
		t.Errorf("ListContainers state=EXITED: %v %v, want none", running.GetContainers(), err)
	}

	// sleep is pid 1 of its own pid namespace: SIGTERM has no handler there, so the stop
	// must escalate to SIGKILL after the timeout.
	start := time.Now()
	if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 1}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("StopContainer with timeout 1 took %v", el)
	}
	st = d.containerStatus(t, ctrID)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 || st.Reason != "Error" || st.FinishedAt < st.StartedAt {
		t.Errorf("after stop: state %v exit %d reason %q finishedAt %d, want EXITED 137 Error", st.State, st.ExitCode, st.Reason, st.FinishedAt)
	}
	// Stopping again is a no-op (kubelet retries).
	if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: ctrID, Timeout: 1}); err != nil {
		t.Errorf("second StopContainer: %v", err)
	}
	if _, err := d.RT.RemoveContainer(ctxT(t, criTimeout), &runtimeapi.RemoveContainerRequest{ContainerId: ctrID}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	if _, err := d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: ctrID}); !isNotFound(err) {
		t.Errorf("ContainerStatus after remove: %v, want NotFound", err)
	}

	if _, err := d.RT.StopPodSandbox(ctxT(t, criTimeout), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	ps, err = d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil || ps.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Errorf("after StopPodSandbox: %v %v, want NOTREADY", ps.GetStatus().GetState(), err)
	}
	if _, err := d.RT.RemovePodSandbox(ctxT(t, criTimeout), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
	if _, err := d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID}); !isNotFound(err) {
		t.Errorf("PodSandboxStatus after remove: %v, want NotFound", err)
	}
	// Removing twice is fine for kubelet: NotFound or success, never another error.
	if _, err := d.RT.RemovePodSandbox(ctxT(t, criTimeout), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil && !isNotFound(err) {
		t.Errorf("second RemovePodSandbox: %v", err)
	}
}

// TestCreateRejectsUnknown: bad references fail with NotFound and change nothing.
func TestCreateRejectsUnknown(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "rejects")
	_, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{
		PodSandboxId: "0000000000000000000000000000000000000000000000000000000000000000",
		Config:       containerConfig("x", img, "true"), SandboxConfig: pod,
	})
	if err == nil {
		t.Errorf("CreateContainer in an unknown pod succeeded")
	}
	podID := d.runPod(t, pod)
	_, err = d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, SandboxConfig: pod,
		Config: containerConfig("x", "127.0.0.1:1/no/such:image", "true"),
	})
	if err == nil {
		t.Errorf("CreateContainer with an image never pulled succeeded")
	}
	ctrs, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(ctrs.Containers) != 0 {
		t.Errorf("containers after failed creates: %v %v, want none", ctrs.GetContainers(), err)
	}
}

// TestStopGraceful: a container that exits on SIGTERM stops at once, exit 0, Completed,
// without waiting for the grace period.
func TestStopGraceful(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "graceful")
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("trap", testImage(t, d), "sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"))
	if err := waitFor(10*time.Second, func() error {
		if out, _ := logMessages(t, readLog(t, pod, containerConfig("trap", ""))); !containsString(out, "ready") {
			return errString("not ready")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 30}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("StopContainer took %v for a container that exits on SIGTERM", el)
	}
	st := d.containerStatus(t, id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("after a graceful stop: %v exit %d reason %q, want EXITED 0 Completed", st.State, st.ExitCode, st.Reason)
	}
	if out, _ := logMessages(t, readLog(t, pod, containerConfig("trap", ""))); !containsString(out, "got TERM") {
		t.Errorf("the container's TERM handler output is not in its log: %q", out)
	}
}

// TestStopPodStopsContainers: StopPodSandbox stops every container of the pod (kubelet
// relies on it when a pod is deleted) and their processes are gone.
func TestStopPodStopsContainers(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "stoppod")
	podID := d.runPod(t, pod)
	a := d.runContainer(t, podID, pod, containerConfig("a", img, "sleep", "3602"))
	b := d.runContainer(t, podID, pod, containerConfig("b", img, "sleep", "3603"))
	pids := []int{d.hostPidOf(t, "sleep 3602"), d.hostPidOf(t, "sleep 3603")}
	if _, err := d.RT.StopPodSandbox(ctxT(t, criTimeout), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	for _, id := range []string{a, b} {
		if st := d.containerStatus(t, id); st.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			t.Errorf("container %s after StopPodSandbox: %v, want EXITED", st.Metadata.GetName(), st.State)
		}
	}
	for _, pid := range pids {
		if hoststate.Alive(pid) {
			t.Errorf("process %d alive after StopPodSandbox", pid)
		}
	}
}

// TestRemoveRunningPod: RemovePodSandbox of a pod never stopped terminates and removes its
// containers (the CRI contract), leaving nothing listed.
func TestRemoveRunningPod(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "rmrunning")
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("a", testImage(t, d), "sleep", "3604"))
	pid := d.hostPidOf(t, "sleep 3604")
	if _, err := d.RT.RemovePodSandbox(ctxT(t, criTimeout), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatalf("RemovePodSandbox of a running pod: %v", err)
	}
	if _, err := d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: id}); !isNotFound(err) {
		t.Errorf("ContainerStatus after the pod's removal: %v, want NotFound", err)
	}
	eventually(t, 5*time.Second, func() error {
		if hoststate.Alive(pid) {
			return errString("container process still alive")
		}
		return nil
	})
}

// TestContainerRestartAttempts: kubelet restarts a container by creating it again with the
// next attempt number while the exited one is kept (for logs); after removing the old one
// the name can be reused.
func TestContainerRestartAttempts(t *testing.T) {
	d := sharedDaemon(t)
	img := testImage(t, d)
	pod := d.podConfig(t, "attempts")
	podID := d.runPod(t, pod)
	var ids []string
	for attempt := range uint32(3) {
		cfg := containerConfig("c", img, "sh", "-c", fmt.Sprint("echo attempt ", attempt))
		cfg.Metadata.Attempt = attempt
		cfg.LogPath = fmt.Sprintf("c/%d.log", attempt)
		if err := os.MkdirAll(filepath.Join(pod.LogDirectory, "c"), 0o755); err != nil {
			t.Fatal(err)
		}
		id := d.runContainer(t, podID, pod, cfg)
		d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
		ids = append(ids, id)
		eventually(t, 5*time.Second, func() error {
			if out, _ := logMessages(t, readLog(t, pod, cfg)); !containsString(out, fmt.Sprint("attempt ", attempt)) {
				return fmt.Errorf("attempt %d log %q", attempt, out)
			}
			return nil
		})
	}
	resp, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(resp.GetContainers()) != 3 {
		t.Fatalf("containers of the pod: %v %v, want 3 attempts", resp.GetContainers(), err)
	}
	for _, c := range resp.Containers {
		if ids[c.Metadata.Attempt] != c.Id {
			t.Errorf("attempt %d is %s, want %s", c.Metadata.Attempt, c.Id, ids[c.Metadata.Attempt])
		}
	}
	if _, err := d.RT.RemoveContainer(ctxT(t, criTimeout), &runtimeapi.RemoveContainerRequest{ContainerId: ids[0]}); err != nil {
		t.Fatalf("RemoveContainer: %v", err)
	}
	cfg := containerConfig("c", img, "true")
	d.createContainer(t, podID, pod, cfg) // attempt 0 again, its name free once more
}
