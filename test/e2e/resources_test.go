package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// cgroupValue reads a cgroup v1 file ("memory/memory.limit_in_bytes") of the container's
// process (host pid) on the host, through the cgroup /proc/PID/cgroup names.
func cgroupValue(t *testing.T, pid int, file string) string {
	t.Helper()
	controller, name, _ := strings.Cut(file, "/")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), controller) {
			v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", controller, f[2], name))
			if err != nil {
				t.Fatal(err)
			}
			return strings.TrimSpace(string(v))
		}
	}
	t.Fatalf("process %d has no %s cgroup:\n%s", pid, controller, b)
	return ""
}

// TestResources: CPU and memory limits from the container config reach its cgroup, and
// UpdateContainerResources changes them on a running container.
func TestResources(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "resources")
	podID := d.runPod(t, pod)
	cfg := containerConfig("limited", testImage(t, d), "sleep", "3601")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20, CpuShares: 512, CpuPeriod: 100000, CpuQuota: 50000,
	}
	id := d.runContainer(t, podID, pod, cfg)
	pid := d.hostPidOf(t, "sleep 3601")
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes": "67108864",
		"cpu/cpu.shares":               "512",
		"cpu/cpu.cfs_quota_us":         "50000",
	} {
		if got := cgroupValue(t, pid, file); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	if _, err := d.RT.UpdateContainerResources(ctxT(t, criTimeout), &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: id,
		Linux:       &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 128 << 20, CpuShares: 256, CpuPeriod: 100000, CpuQuota: 20000},
	}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	for file, want := range map[string]string{
		"memory/memory.limit_in_bytes": "134217728",
		"cpu/cpu.shares":               "256",
		"cpu/cpu.cfs_quota_us":         "20000",
	} {
		if got := cgroupValue(t, pid, file); got != want {
			t.Errorf("after update: %s = %s, want %s", file, got, want)
		}
	}
	st := d.containerStatus(t, id)
	if r := st.GetResources().GetLinux(); r == nil || r.MemoryLimitInBytes != 128<<20 || r.CpuQuota != 20000 {
		t.Errorf("ContainerStatus resources %v, want the updated limits", st.GetResources())
	}
}
