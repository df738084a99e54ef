package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crid-dev/crid/sandbox"
)

// After a daemon restart the pods and containers are back, exits that happened while
// crid was down show their real exit codes, and events keep flowing.
func TestRestartLearnsExitsAndKeepsWatching(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	done := h.createStarted(pod, "done")
	running := h.createStarted(pod, "running")
	created, _ := h.m.CreateContainer(context.Background(), pod, ctrConfig("created"))
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)

	h.m.Close()
	mon.Exit(done, 42, false) // while crid is down
	h.open()

	if got, _ := h.m.Pod(pod); got.State != sandbox.PodReady || got.IPs[0] != "10.88.0.5" {
		t.Fatalf("pod after restart: %+v", got)
	}
	c, _ := h.m.Container(done)
	if c.State != sandbox.ContainerExited || c.ExitCode != 42 || c.Reason != "Error" {
		t.Errorf("exit while down: %+v", c)
	}
	if c, _ := h.m.Container(running); c.State != sandbox.ContainerRunning {
		t.Errorf("running container: %v", c.State)
	}
	if c, _ := h.m.Container(created); c.State != sandbox.ContainerCreated {
		t.Errorf("created container: %v", c.State)
	}
	events, cancel := h.m.Subscribe()
	defer cancel()
	mon.Exit(running, 0, false)
	if ev := nextEvent(t, events, "after restart"); ev.Type != sandbox.EventStopped || ev.ID != running {
		t.Errorf("event after restart: %+v", ev)
	}
	if c, _ := h.m.Container(running); c.State != sandbox.ContainerExited || c.Reason != "Completed" {
		t.Errorf("after exit: %+v", c)
	}
	// The name reservations came back too.
	if _, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("done")); err == nil {
		t.Error("container name reuse after restart was allowed")
	}
}

// A pod whose monitor died while crid was down: NOTREADY, containers EXITED with a
// message, the monitor's leftovers cleaned up; removal still works.
func TestRestartWithDeadMonitor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	h.m.Close()
	mon.Crash()
	h.open()
	got, _ := h.m.Pod(pod)
	if got.State != sandbox.PodNotReady || got.Message == "" {
		t.Errorf("pod: %+v", got)
	}
	c, _ := h.m.Container(id)
	if c.State != sandbox.ContainerExited || c.ExitCode != 255 || !strings.Contains(c.Message, "monitor") {
		t.Errorf("container: %+v", c)
	}
	if !slices.Contains(h.env.Runtime.Cleaned, p.Dir) {
		t.Errorf("no cleanup of the dead monitor: %v", h.env.Runtime.Cleaned)
	}
	if err := h.m.RemovePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

// A monitor that dies while crid runs: same outcome, without a restart.
func TestMonitorDiesWhileRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	p, _ := h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).Crash()
	waitUntil(t, "the monitor loss to exit the container and unready the pod", func() bool {
		c, _ := h.m.Container(id)
		q, _ := h.m.Pod(pod)
		return c.State == sandbox.ContainerExited && q.State == sandbox.PodNotReady
	})
	if err := h.m.RemovePod(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

// A crash in the middle of RunPodSandbox (the intent record says "creating") is rolled
// back at the next start: CNI DEL, netns and shm removed, monitor cleaned, record gone.
func TestRestartRollsBackHalfMadePod(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.Fail.Set("infra", errCrash)
	crashAfterIntent(t, h)
	h.env.Fail.Set("infra", nil)
	h.restart()
	h.assertClean()
}

// A crash in the middle of RemovePodSandbox is finished at the next start.
func TestRestartFinishesInterruptedRemoval(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	h.createStarted(pod, "app")
	h.env.Fail.Set("teardown", errCrash) // the removal stops half-way
	if err := h.m.RemovePod(context.Background(), pod); err == nil {
		t.Fatal("removal succeeded despite the teardown failure")
	}
	h.env.Fail.Set("teardown", nil)
	h.restart()
	h.assertClean()
}

// The infra died while crid was down: the pod is NOTREADY after the restart.
func TestRestartSeesInfraExit(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	h.m.Close()
	mon.Exit(sandbox.InfraID, 137, false)
	h.open()
	if got, _ := h.m.Pod(pod); got.State != sandbox.PodNotReady || !strings.Contains(got.Message, "infra") {
		t.Errorf("pod: %v %q", got.State, got.Message)
	}
}

// A container removal cut short (its record says "removing") is finished at restart.
func TestRestartFinishesInterruptedContainerRemoval(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	h.env.Fail.Set("delete", errCrash)
	if err := h.m.RemoveContainer(context.Background(), id); err == nil {
		t.Fatal("removal succeeded despite the delete failure")
	}
	h.env.Fail.Set("delete", nil)
	h.restart()
	if _, err := h.m.Container(id); err == nil {
		t.Fatal("the interrupted removal was not finished")
	}
	if l := h.env.Images.Live(); len(l) != 0 {
		t.Errorf("rootfs left: %v", l)
	}
}

// A crash in the middle of CreateContainer (its record says "creating") is rolled back at
// the next start: the process record in the monitor, the rootfs and the dir go away.
func TestRestartRollsBackHalfMadeContainer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	h.env.Fail.Set("container-spec", errCrash)
	h.m.SetCrashPoint(true)
	_, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("app"))
	h.m.SetCrashPoint(false)
	h.env.Fail.Set("container-spec", nil)
	if err == nil || len(h.env.Images.Live()) != 1 {
		t.Fatalf("the simulated crash left no rootfs: %v %v", err, h.env.Images.Live())
	}
	h.restart()
	if l := h.env.Images.Live(); len(l) != 0 {
		t.Errorf("rootfs left: %v", l)
	}
	if n := len(h.m.Containers(sandbox.ContainerFilter{})); n != 0 {
		t.Errorf("%d containers after recovery", n)
	}
	p, _ := h.m.Pod(pod)
	if ents, _ := os.ReadDir(filepath.Join(p.Dir, "containers")); len(ents) != 0 {
		t.Errorf("container dirs left: %d", len(ents))
	}
	h.createStarted(pod, "app") // the name is free
}
