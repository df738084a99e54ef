package vm

import (
	"os/exec"
	"path"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestLimitsInOwnCgroupFiles: with either driver the container sees its own cgroup at
// /sys/fs/cgroup (a cgroup namespace) and finds there the memory limit, cpu quota and pids
// limit it was given; UpdateContainerResources changes them in place.
func TestLimitsInOwnCgroupFiles(t *testing.T) {
	podID, podCfg := pod(t, "limits")
	res := &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20,
		CpuPeriod:          100000,
		CpuQuota:           50000,
		CpuShares:          512,
		Unified:            map[string]string{"pids.max": "123"},
	}
	id := container(t, podID, podCfg, "limits", res, "sleep", "3600")
	read := func() map[string]string {
		got := map[string]string{}
		for _, f := range []string{"memory.max", "cpu.max", "pids.max"} {
			got[f] = strings.TrimSpace(execOut(t, id, "cat", "/sys/fs/cgroup/"+f))
		}
		return got
	}
	want := map[string]string{"memory.max": "67108864", "cpu.max": "50000 100000", "pids.max": "123"}
	for f, v := range read() {
		if v != want[f] {
			t.Errorf("%s in the container: %q, want %q", f, v, want[f])
		}
	}
	if got := strings.TrimSpace(execOut(t, id, "cat", "/proc/self/cgroup")); got != "0::/" {
		t.Errorf("/proc/self/cgroup in the container: %q, want 0::/ (its own cgroup namespace)", got)
	}

	res.MemoryLimitInBytes, res.CpuQuota = 96<<20, 20000
	if _, err := rt.UpdateContainerResources(ctxT(t), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: res}); err != nil {
		t.Fatalf("UpdateContainerResources: %v", err)
	}
	want["memory.max"], want["cpu.max"] = "100663296", "20000 100000"
	for f, v := range read() {
		if v != want[f] {
			t.Errorf("%s after UpdateContainerResources: %q, want %q", f, v, want[f])
		}
	}
}

// TestSystemdDriverUnits (cgroup_driver = "systemd"): the pod's cgroup is a slice and the
// container's a scope that systemd itself manages (created over D-Bus, so systemctl knows
// them), under the slice kubelet named, and systemd-cgls shows them.
func TestSystemdDriverUnits(t *testing.T) {
	if driver != "systemd" {
		t.Skipf("crid runs with cgroup_driver %q", driver)
	}
	podID, podCfg := pod(t, "units")
	id := container(t, podID, podCfg, "sleep", nil, "sleep", "3600")
	cg := cgroupOf(t, hostPid(t, id))
	scope := path.Base(cg)
	if !strings.HasSuffix(scope, ".scope") || !strings.Contains(scope, id[:12]) {
		t.Fatalf("container cgroup %s: want a .scope unit named after the container", cg)
	}
	if !strings.Contains(cg, "/"+podCfg.Linux.CgroupParent+"/") {
		t.Errorf("container cgroup %s is not under the pod's slice %s", cg, podCfg.Linux.CgroupParent)
	}
	for _, u := range []string{scope, podCfg.Linux.CgroupParent} {
		if state := systemctl(t, "show", u, "-p", "ActiveState", "--value"); state != "active" {
			t.Errorf("systemd unit %s: ActiveState %q, want active (made behind systemd's back?)", u, state)
		}
	}
	out, err := exec.Command("systemd-cgls", "--no-pager", "-u", "kubepods.slice").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-cgls: %v\n%s", err, out)
	}
	for _, want := range []string{podCfg.Linux.CgroupParent, scope} {
		if !strings.Contains(string(out), want) {
			t.Errorf("systemd-cgls does not show %s:\n%s", want, out)
		}
	}
}
