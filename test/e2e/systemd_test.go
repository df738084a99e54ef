package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// requireSystemdHost skips unless systemd is PID 1 on cgroup v2 (the VM tier).
func requireSystemdHost(t *testing.T) {
	t.Helper()
	var st unix.Statfs_t
	v2 := unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
	_, err := os.Stat("/run/systemd/system")
	if err != nil || !v2 {
		t.Skipf("needs systemd as PID 1 on cgroup v2 (systemd: %v, v2: %v); run in the VM tier", err == nil, v2)
	}
}

// procCgroup is pid's cgroup on the unified hierarchy.
func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "0::")
}

// monitorPid finds the crid-monitor serving pod id (its command line names it).
func monitorPid(t *testing.T, podID string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(string(cmd), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "crid-monitor" && args[1] == "monitor" && args[2] == podID {
			return pid
		}
	}
	t.Fatalf("no crid-monitor for pod %s", podID)
	return 0
}

func containerPid(t *testing.T, d *Daemon, id string) int {
	t.Helper()
	resp, err := d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	info := resp.Info["info"]
	i := strings.Index(info, `"pid":`)
	if i < 0 {
		t.Fatalf("no pid in verbose status %q", info)
	}
	n, _ := strconv.Atoi(strings.TrimLeft(strings.SplitN(info[i+6:], ",", 2)[0], " "))
	return n
}

// TestSystemdDriver: with cgroup_driver = "systemd" a pod is a slice of its own
// with the infra and each container in a transient scope systemd made; the
// container sees its scope as "/" with its limits; the monitor lives in its
// own scope, outside crid's, so a daemon restart leaves the pod running; the
// removed pod leaves no slice or scope.
func TestSystemdDriver(t *testing.T) {
	requireSystemdHost(t)
	d := startDaemon(t, daemonOptions{config: "cgroup_driver = \"systemd\"\n"})
	rc, err := d.RT.RuntimeConfig(ctxT(t, criTimeout), &runtimeapi.RuntimeConfigRequest{})
	if err != nil || rc.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_SYSTEMD {
		t.Fatalf("RuntimeConfig %v, %v: want the systemd driver", rc, err)
	}
	pod := d.podConfig(t, "sd")
	podID := d.runPod(t, pod)
	cfg := containerConfig("app", testImage(t, d), "sleep", "3600")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuQuota: 50000, CpuPeriod: 100000}
	id := d.runContainer(t, podID, pod, cfg)

	slice := "/crid.slice/crid-pod" + podID + ".slice"
	if got, want := procCgroup(t, containerPid(t, d, id)), slice+"/crid-"+id+".scope"; got != want {
		t.Errorf("container cgroup %s, want %s", got, want)
	}
	mon := monitorPid(t, podID)
	if got, want := procCgroup(t, mon), "/system.slice/crid-monitor-"+podID+".scope"; got != want {
		t.Errorf("monitor cgroup %s, want %s", got, want)
	}
	out, _, code := d.execSync(t, id, 0, "sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max")
	if want := "0::/\n67108864\n50000 100000\n"; code != 0 || out != want {
		t.Errorf("inside the container: %q (exit %d), want %q", out, code, want)
	}

	if err := d.Restart(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := d.containerStatus(t, id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("after a daemon restart the container is %v", st.State)
	}
	if monitorPid(t, podID) != mon {
		t.Error("the pod's monitor changed across the daemon restart")
	}

	if _, err := d.RT.StopPodSandbox(ctxT(t, criTimeout), &runtimeapi.StopPodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RT.RemovePodSandbox(ctxT(t, criTimeout), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: podID}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", slice)); err == nil {
		t.Errorf("pod slice %s left after RemovePodSandbox", slice)
	}
}

// TestMonitorOwnScopeWithCgroupfs: on a systemd host the cgroupfs driver keeps
// containers in crid's own directories, and the monitor still gets a scope
// of its own outside crid's unit.
func TestMonitorOwnScopeWithCgroupfs(t *testing.T) {
	requireSystemdHost(t)
	d := sharedDaemon(t)
	podID, id, _ := d.sleeper(t, "cgfs")
	if got, want := procCgroup(t, monitorPid(t, podID)), "/system.slice/crid-monitor-"+podID+".scope"; got != want {
		t.Errorf("monitor cgroup %s, want %s", got, want)
	}
	if got := procCgroup(t, containerPid(t, d, id)); got != "/crid/"+id {
		t.Errorf("container cgroup %s, want /crid/%s", got, id)
	}
}
