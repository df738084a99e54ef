package e2e

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCgroupViewInContainer: on cgroup v1 a container sees its own cgroup at
// /sys/fs/cgroup/<controller> (runc and crun mount the container's directory there), so
// programs that read their limits from there find them, and other pods' cgroups are not
// visible.
func TestCgroupViewInContainer(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "cgview")
	podID := d.runPod(t, pod)
	cfg := containerConfig("c", testImage(t, d), "sleep", "3600")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 64 << 20}
	id := d.runContainer(t, podID, pod, cfg)
	if unifiedHost() {
		// v2: a cgroup namespace of its own; /sys/fs/cgroup is the container's cgroup.
		if got := d.mustExec(t, id, "cat", "/proc/self/cgroup", "/sys/fs/cgroup/memory.max"); got != "0::/\n67108864\n" {
			t.Errorf("container sees %q, want its own cgroup as / with memory.max 67108864", got)
		}
		if ls := d.mustExec(t, id, "ls", "/sys/fs/cgroup/"); strings.Contains(ls, "system.slice") || strings.Contains(ls, "crid") {
			t.Errorf("the container sees the host's cgroup tree:\n%s", ls)
		}
		return
	}
	if got := strings.TrimSpace(d.mustExec(t, id, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")); got != "67108864" {
		t.Errorf("/sys/fs/cgroup/memory/memory.limit_in_bytes in the container = %s, want its own limit 67108864", got)
	}
	if ls := d.mustExec(t, id, "ls", "/sys/fs/cgroup/memory/"); strings.Contains(ls, "system.slice") {
		t.Errorf("the container sees the host's cgroup tree:\n%s", ls)
	}
}
