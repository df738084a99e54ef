package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestIdleMonitorSwitch: with monitor_idle_switch, an idle pod's crid-monitor hands the
// pod to its C body in place (issue 16) and nothing a monitor does is lost: an OOM kill
// while in C is recorded, the CRI log keeps its lines, exec brings Go back, crid restarts
// while the pod is in C and finds it, and the pod is stopped and removed from C.
func TestIdleMonitorSwitch(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: "monitor_idle_switch = \"200ms\"\n"})
	requireCMonitor(t, d)
	pod := d.podConfig(t, "idle")
	podID := d.runPod(t, pod)
	sync := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(sync, "go"), 0o666); err != nil {
		t.Fatal(err)
	}
	// dd fills a 256 MiB buffer in one read(2) of /dev/zero: the pages are charged while
	// the kernel fills them, so the OOM kill comes once reclaim finds nothing left. The
	// former `head -c 256M /dev/zero | tail` thrashed at the limit instead: head, refaulting
	// its own text (the image's busybox, charged to this cgroup), kept reclaim "making
	// progress" while tail waited on the pipe, and the kill came after 0.3 s to over a
	// minute, as the CPU load went.
	cfg := containerConfig("hog", testImage(t, d), "sh", "-c", "echo before; read x < /sync/go; dd if=/dev/zero of=/dev/null bs=256M count=1")
	cfg.Mounts = append(cfg.Mounts, &runtimeapi.Mount{ContainerPath: "/sync", HostPath: sync})
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 32 << 20}
	hog := d.runContainer(t, podID, pod, cfg)
	mon := monitorPid(t, podID)
	waitCBody(t, mon)
	if err := os.WriteFile(filepath.Join(sync, "go"), []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := d.waitState(t, hog, runtimeapi.ContainerState_CONTAINER_EXITED, 60*time.Second)
	if st.Reason != "OOMKilled" || st.ExitCode != 137 {
		t.Errorf("memory hog: exit %d reason %q, want 137 OOMKilled", st.ExitCode, st.Reason)
	}
	if b, err := os.ReadFile(st.LogPath); err != nil || !bytes.Contains(b, []byte(" stdout F before\n")) {
		t.Errorf("log %q: %v", b, err)
	}

	sleeper := d.runContainer(t, podID, pod, containerConfig("sleeper", testImage(t, d), "sleep", "3600"))
	waitCBody(t, mon)
	if out, _, code := d.execSync(t, sleeper, 10*time.Second, "echo", "hi"); out != "hi\n" || code != 0 {
		t.Errorf("exec from C: %q %d", out, code)
	}

	waitCBody(t, mon)
	if err := d.Restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := monitorPid(t, podID); got != mon {
		t.Fatalf("monitor %d after crid's restart, want %d", got, mon)
	}
	d.waitState(t, sleeper, runtimeapi.ContainerState_CONTAINER_RUNNING, 10*time.Second)
	if out, _, code := d.execSync(t, sleeper, 10*time.Second, "echo", "again"); out != "again\n" || code != 0 {
		t.Errorf("exec after crid's restart: %q %d", out, code)
	}

	waitCBody(t, mon)
	d.removePod(t, podID)
	if err := syscall.Kill(mon, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", mon)); !strings.Contains(string(b), ") Z ") {
			t.Errorf("monitor %d alive after RemovePodSandbox", mon)
		}
	}
}

// requireCMonitor skips unless d's crid-monitor links the C body.
func requireCMonitor(t *testing.T, d *Daemon) {
	t.Helper()
	dir := d.bin
	if dir == "" {
		dir = binDir
	}
	b, err := os.ReadFile(filepath.Join(dir, "crid-monitor"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("crid_supervise")) {
		t.Skip("crid-monitor does not link the C body (package oci/monitor/supervise)")
	}
}

// waitCBody waits until the monitor pid is its C body: one thread (a Go process has several).
func waitCBody(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for threadCount(pid) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("monitor %d did not switch to its C body", pid)
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition
	}
}
