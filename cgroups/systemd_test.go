package cgroups

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/internal/testenv"
)

// requireSystemdV2 skips unless the host is what the systemd driver is for:
// root, systemd as PID 1, the unified hierarchy (the VM tier's guest).
func requireSystemdV2(t *testing.T) Tree {
	t.Helper()
	if !testenv.Privileged() {
		t.Skip("integration test: needs root")
	}
	tree := HostTree()
	if !tree.Systemd || !tree.Unified {
		t.Skipf("needs systemd as PID 1 on cgroup v2 (this host: systemd=%v unified=%v); run in the VM tier", tree.Systemd, tree.Unified)
	}
	return tree
}

func unitProp(t *testing.T, unit, name string) any {
	t.Helper()
	conn, err := connectSystemd(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	typ := "Scope"
	if strings.HasSuffix(unit, ".slice") {
		typ = "Slice"
	}
	p, err := conn.GetUnitTypePropertyContext(context.Background(), unit, typ, name)
	if err != nil {
		return nil
	}
	return p.Value.Value()
}

func activeState(t *testing.T, unit string) string {
	t.Helper()
	conn, err := connectSystemd(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := conn.ListUnitsByNamesContext(context.Background(), []string{unit})
	if err != nil || len(st) == 0 {
		return ""
	}
	return st[0].ActiveState
}

// TestSystemdScopeLifecycle: under the systemd driver a container's cgroup is
// a transient scope systemd made (Delegate=yes, in the pod's own slice), its
// limits are systemd's properties and the cgroup's files, an update reaches
// both, and Destroy leaves neither unit nor directory — the pod slice crid
// made goes with its last scope.
func TestSystemdScopeLifecycle(t *testing.T) {
	tree := requireSystemdV2(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	path, err := ParsePath(PodSlicePrefix + id + ".slice:crid:" + id)
	if err != nil {
		t.Fatal(err)
	}
	scope, slice := "crid-"+id+".scope", PodSlicePrefix+id+".slice"
	sleep := exec.Command("sleep", "1000")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sleep.Process.Kill()
		_ = sleep.Wait()
		_ = StopUnit(context.Background(), scope)
		_ = StopUnit(context.Background(), slice)
	})
	mem, pids, quota, period, shares := int64(64<<20), int64(42), int64(50000), uint64(100000), uint64(1024)
	c, err := tree.New(path, &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &mem},
		Pids:    &specs.LinuxPids{Limit: &pids},
		CPU:     &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
		Unified: map[string]string{"memory.high": "50331648"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tree.Root, path)); err == nil {
		t.Fatal("the scope's cgroup exists before systemd was asked: crid made it behind systemd's back")
	}
	if err := c.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := activeState(t, scope); got != "active" {
		t.Fatalf("%s is %q, want active", scope, got)
	}
	if d, ok := unitProp(t, scope, "Delegate").(bool); !ok || !d {
		t.Errorf("%s Delegate = %v, want true", scope, unitProp(t, scope, "Delegate"))
	}
	if m, _ := unitProp(t, scope, "MemoryMax").(uint64); m != uint64(mem) {
		t.Errorf("%s MemoryMax = %v, want %d", scope, unitProp(t, scope, "MemoryMax"), mem)
	}
	if n, _ := unitProp(t, scope, "TasksMax").(uint64); n != uint64(pids) {
		t.Errorf("%s TasksMax = %v, want %d", scope, unitProp(t, scope, "TasksMax"), pids)
	}
	proc, _ := os.ReadFile("/proc/" + strconv.Itoa(sleep.Process.Pid) + "/cgroup")
	if strings.TrimSpace(string(proc)) != "0::"+path {
		t.Errorf("/proc/pid/cgroup = %q, want 0::%s", proc, path)
	}
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(tree.Root, path, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	for f, want := range map[string]string{"memory.max": "67108864", "pids.max": "42", "cpu.max": "50000 100000", "memory.high": "50331648", "cpu.weight": "100"} {
		if got := read(f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	newMem := int64(96 << 20)
	loaded, err := tree.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &newMem}}); err != nil {
		t.Fatal(err)
	}
	if got := read("memory.max"); got != "100663296" {
		t.Errorf("after update memory.max = %q", got)
	}
	if m, _ := unitProp(t, scope, "MemoryMax").(uint64); m != uint64(newMem) {
		t.Errorf("after update systemd's MemoryMax = %v, want %d", unitProp(t, scope, "MemoryMax"), newMem)
	}
	if err := tree.Destroy(path); err != nil {
		t.Fatal(err)
	}
	_ = sleep.Wait()
	if st := activeState(t, scope); st == "active" {
		t.Errorf("%s still active after Destroy", scope)
	}
	if st := activeState(t, slice); st == "active" {
		t.Errorf("pod slice %s still active after its last scope went", slice)
	}
	for _, d := range []string{path, filepath.Dir(path)} {
		if _, err := os.Stat(filepath.Join(tree.Root, d)); err == nil {
			t.Errorf("cgroup %s left after Destroy", d)
		}
	}
}

// TestProcState: a failed scope start names the pid's state, so a log tells an init that was
// gone (or a zombie) from one the kernel would not move.
func TestProcState(t *testing.T) {
	if got := procState(os.Getpid()); got != "state R" && got != "state S" {
		t.Errorf("procState(self) = %q, want state R or S", got)
	}
	zombie := exec.Command("true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	pid := zombie.Process.Pid
	// Wait for its exit without reaping it.
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if got := procState(pid); got != "state Z" {
		t.Errorf("procState(exited child, not reaped) = %q, want state Z", got)
	}
	if err := zombie.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := procState(pid); got != "gone" {
		t.Errorf("procState(reaped child) = %q, want gone", got)
	}
}
