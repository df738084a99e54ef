package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// unifiedHost: /sys/fs/cgroup is the cgroup v2 hierarchy (the VM tier), not v1 or hybrid.
func unifiedHost() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// weightOf is cpu.weight for CPU shares on v2.
func weightOf(shares uint64) string {
	return strconv.FormatUint(*cgroup2.ToResources(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}).CPU.Weight, 10)
}

// linearWeightOf is the older shares-to-weight conversion that Debian 12's runc (1.1.5)
// and crun (1.8.1) still apply: an external runtime converts cpu.shares itself.
func linearWeightOf(shares uint64) string {
	return strconv.FormatUint(1+((shares-2)*9999)/262142, 10)
}

// sameValue: got is what want names; an external runtime's cpu.weight may follow its own
// shares conversion (linearWeightOf) instead of crid's.
func sameValue(file, got, want, handler string, shares uint64) bool {
	if got == want {
		return true
	}
	return handler != "" && file == "cpu.weight" && got == linearWeightOf(shares)
}

// cgroupValue reads a cgroup file of the container's process (host pid) on the host,
// through the cgroup /proc/PID/cgroup names: "memory/memory.limit_in_bytes" on v1, a
// file of the unified hierarchy ("memory.max") on v2.
func cgroupValue(t *testing.T, pid int, file string) string {
	t.Helper()
	controller, name, _ := strings.Cut(file, "/")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	if unifiedHost() {
		p, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "0::")
		if !ok {
			t.Fatalf("process %d: %q is no v2 cgroup", pid, b)
		}
		v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", p, file))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(v))
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
func TestResources(t *testing.T) { resources(t, sharedDaemon(t), "") }

// resources is TestResources on a pod of the runtime handler handler.
func resources(t *testing.T, d *Daemon, handler string) {
	pod := d.podConfigOn(t, "resources", handler)
	podID := d.runPod(t, pod)
	cfg := containerConfig("limited", testImage(t, d), "sleep", "3601")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20, CpuShares: 512, CpuPeriod: 100000, CpuQuota: 50000,
	}
	id := d.runContainer(t, podID, pod, cfg)
	pid := d.hostPidOf(t, "sleep 3601")
	want, after := map[string]string{
		"memory/memory.limit_in_bytes": "67108864",
		"cpu/cpu.shares":               "512",
		"cpu/cpu.cfs_quota_us":         "50000",
	}, map[string]string{
		"memory/memory.limit_in_bytes": "134217728",
		"cpu/cpu.shares":               "256",
		"cpu/cpu.cfs_quota_us":         "20000",
	}
	if unifiedHost() {
		// v2: cpu.max, and shares as a weight (the conversion runc and containerd use).
		want = map[string]string{"memory.max": "67108864", "cpu.weight": weightOf(512), "cpu.max": "50000 100000"}
		after = map[string]string{"memory.max": "134217728", "cpu.weight": weightOf(256), "cpu.max": "20000 100000"}
	}
	for file, want := range want {
		if got := cgroupValue(t, pid, file); !sameValue(file, got, want, handler, 512) {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}
	if _, err := d.RT.UpdateContainerResources(ctxT(t, criTimeout), &runtimeapi.UpdateContainerResourcesRequest{
		ContainerId: id,
		Linux:       &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 128 << 20, CpuShares: 256, CpuPeriod: 100000, CpuQuota: 20000},
	}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	for file, want := range after {
		if got := cgroupValue(t, pid, file); !sameValue(file, got, want, handler, 256) {
			t.Errorf("after update: %s = %s, want %s", file, got, want)
		}
	}
	st := d.containerStatus(t, id)
	if r := st.GetResources().GetLinux(); r == nil || r.MemoryLimitInBytes != 128<<20 || r.CpuQuota != 20000 {
		t.Errorf("ContainerStatus resources %v, want the updated limits", st.GetResources())
	}
}
