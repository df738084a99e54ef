package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSystemdDriverContainer (systemd as PID 1 on cgroup v2: the VM tier): a
// container under a systemd-style cgroupsPath runs in a transient scope that
// systemd made, sees that cgroup as "/" of its cgroup namespace with its own
// limits at /sys/fs/cgroup, and leaves no scope or pod slice behind.
func TestSystemdDriverContainer(t *testing.T) {
	requireRoot(t)
	if !hostTree.Systemd || !hostTree.Unified {
		t.Skipf("needs systemd as PID 1 on cgroup v2 (systemd=%v unified=%v); run in the VM tier", hostTree.Systemd, hostTree.Unified)
	}
	id := randID()
	spec, rootfs := testSpec(t, "sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max")
	spec.Linux.CgroupsPath = "crid-pod" + id + ".slice:crid:" + id
	mem, pids, quota, period := int64(48<<20), int64(33), int64(20000), uint64(100000)
	spec.Linux.Resources = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids},
		CPU: &specs.LinuxCPU{Quota: &quota, Period: &period},
	}
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	if want := "0::/\n50331648\n33\n20000 100000\n"; out != want {
		t.Fatalf("container saw %q, want %q", out, want)
	}
	// systemd removed the emptied scope itself; Destroy stops the pod slice.
	p, _ := cgPath(spec)
	if err := destroyCgroup(spec); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{p, filepath.Dir(p)} {
		if _, err := os.Stat(filepath.Join(hostTree.Root, d)); err == nil {
			t.Errorf("cgroup %s left", d)
		}
	}
	if !strings.HasPrefix(p, "/crid.slice/crid-pod"+id+".slice/") {
		t.Errorf("path %s", p)
	}
}

// TestSystemdDriverOOMKilled: the OOM kill of a container in a systemd scope
// is known although systemd removes the scope's cgroup when it empties.
func TestSystemdDriverOOMKilled(t *testing.T) {
	requireRoot(t)
	if !hostTree.Systemd || !hostTree.Unified {
		t.Skipf("needs systemd as PID 1 on cgroup v2 (systemd=%v unified=%v); run in the VM tier", hostTree.Systemd, hostTree.Unified)
	}
	id := randID()
	spec, rootfs := testSpec(t, "sh", "-c", "tail /dev/zero")
	spec.Linux.CgroupsPath = "crid-pod" + id + ".slice:crid:" + id
	mem := int64(16 << 20)
	spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem, Swap: &mem}}
	p, _ := cgPath(spec)
	c := createOn(t, spec, rootfs, nil)
	w, err := hostTree.WatchOOM(p)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ws := waitExit(t, c.Pid)
	if !ws.Signaled() {
		t.Fatalf("status %v, want killed", ws)
	}
	if n, err := w.Count(); err != nil || n == 0 {
		t.Fatalf("OOM kills = %d, %v; want > 0", n, err)
	}
}
