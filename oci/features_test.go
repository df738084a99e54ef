package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestOOMKilled(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "tail /dev/zero")
	mem := int64(16 << 20)
	swap := mem
	spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem, Swap: &swap}}
	ws, out := run(t, spec, rootfs)
	if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Fatalf("status %v, want SIGKILL; output %q", ws, out)
	}
	oom, err := oomKilled(spec)
	if err != nil || !oom {
		t.Fatalf("OOMKilled = %v, %v; want true", oom, err)
	}
	st, err := readStats(spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMEvents == 0 || st.MemoryLimit != uint64(mem) {
		t.Fatalf("stats %+v", st)
	}
}

func TestNotOOMKilled(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	if ws, out := run(t, spec, rootfs); ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	if oom, err := oomKilled(spec); err != nil || oom {
		t.Fatalf("OOMKilled = %v, %v; want false", oom, err)
	}
}

// TestExecAndUpdate runs a long container, execs into it, reads its stats and
// updates its resources live.
func TestExecAndUpdate(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sleep", "1000")
	spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"keyctl"}, Action: specs.ActErrno}}}
	c := create(t, spec, rootfs)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	execOut := func(p *specs.Process) (string, unix.WaitStatus) {
		t.Helper()
		f, err := os.Create(filepath.Join(tmpDir(t), "exec"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pid, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec, Process: p, Stdio: Stdio{Stdout: f, Stderr: f}})
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		ws := waitExit(t, pid)
		b, _ := os.ReadFile(f.Name())
		return string(b), ws
	}
	// The exec joins the container's cgroup namespace: its cgroup is "/" there.
	ownCgroupLine := "^[0-9]+:memory:"
	if hostTree.Unified {
		ownCgroupLine = "^0::"
	}
	out, ws := execOut(&specs.Process{
		Args: []string{"sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; id -u; pwd; grep -E '" + ownCgroupLine + "' /proc/self/cgroup | cut -d: -f3; ls /proc/self/fd"},
		Env:  []string{"PATH=/bin"}, Cwd: "/tmp", NoNewPrivileges: true,
		User:         specs.User{UID: 0, GID: 0},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}, Effective: []string{"CAP_KILL"}, Permitted: []string{"CAP_KILL"}},
	})
	if ws.ExitStatus() != 0 {
		t.Fatalf("exec status %v: %s", ws, out)
	}
	want := spec.Hostname + "\nsleep 1000 \nCapEff:\t0000000000000020\nNoNewPrivs:\t1\nSeccomp:\t2\n0\n/tmp\n/\n0\n1\n2\n3\n"
	if out != want {
		t.Fatalf("exec saw:\n%q\nwant:\n%q", out, want)
	}
	// A failing exec reports why.
	if _, _, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec,
		Process: &specs.Process{Args: []string{"no-such-binary"}, Env: []string{"PATH=/bin"}}}); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Fatalf("exec of a missing binary: %v", err)
	}
	// Exit codes of exec'd processes come through the reaper too.
	if _, ws := execOut(&specs.Process{Args: []string{"sh", "-c", "exit 3"}, Env: []string{"PATH=/bin"}}); ws.ExitStatus() != 3 {
		t.Fatalf("exec exit status %v", ws)
	}
	st, err := readStats(spec)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pids < 1 || st.MemoryUsage == 0 || st.CPUUsageNanos == 0 || st.MemoryWorkingSet > st.MemoryUsage {
		t.Fatalf("stats %+v", st)
	}
	mem, pids := int64(96<<20), int64(77)
	if err := updateResources(spec, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}}); err != nil {
		t.Fatal(err)
	}
	files := "/sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max"
	if hostTree.Unified {
		files = "/sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
	}
	out, _ = execOut(&specs.Process{Args: []string{"sh", "-c", "cat " + files}, Env: []string{"PATH=/bin"}})
	if out != fmt.Sprintf("%d\n77\n", mem) {
		t.Fatalf("after update the container sees %q", out)
	}
	if err := destroyCgroup(spec); err != nil {
		t.Fatal(err)
	}
	if ws := waitExit(t, c.Pid); !ws.Signaled() {
		t.Fatalf("after Destroy: %v", ws)
	}
	if err := destroyCgroup(spec); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	if dirs := hostTree.Dirs(c.Cgroup); len(dirs) != 0 {
		t.Fatalf("cgroup left: %v", dirs)
	}
}

func TestTerminal(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "tty; stty size")
	spec.Process.Terminal = true
	spec.Process.ConsoleSize = &specs.Box{Height: 33, Width: 99}
	c := create(t, spec, rootfs)
	if c.Console == nil {
		t.Fatal("no console")
	}
	defer c.Console.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Console.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil { // EIO once the slave side is closed
			break
		}
	}
	waitExit(t, c.Pid)
	if got := strings.ReplaceAll(string(out), "\r", ""); got != "/dev/pts/0\n33 99\n" {
		t.Fatalf("terminal output %q", got)
	}
}

// TestPodInfra: a pause holding ipc/uts/pid namespaces, a container joining
// them (and a network namespace given by path).
func TestPodInfra(t *testing.T) {
	requireRoot(t)
	infra := &specs.Spec{Hostname: "pod-" + randID()[:6], Linux: &specs.Linux{
		CgroupsPath: cgParent + "/pod" + randID(),
		Namespaces:  []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
	}}
	pid, err := CreatePodInfra(context.Background(), infra, hostTree)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = destroyCgroup(infra) })
	spec, rootfs := testSpec(t, "sh", "-c", "hostname; cat /proc/1/cmdline; echo; echo $$")
	spec.Hostname = ""
	spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	for _, n := range []struct {
		typ  specs.LinuxNamespaceType
		name string
	}{{specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"}, {specs.PIDNamespace, "pid"}, {specs.NetworkNamespace, "net"}} {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: n.typ, Path: fmt.Sprintf("/proc/%d/ns/%s", pid, n.name)})
	}
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != infra.Hostname || strings.TrimRight(lines[1], "\x00") != "crid-pause\x00pause" || lines[2] == "1" {
		t.Fatalf("container in the pod saw %q", out)
	}
	if err := unix.Kill(pid, unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if ws := waitExit(t, pid); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("pause exit %v", ws)
	}
}

func TestExecTerminal(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sleep", "1000")
	c := create(t, spec, rootfs)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid, console, err := Exec(context.Background(), ExecOptions{Cgroups: hostTree, ContainerPid: c.Pid, Spec: spec,
		Process: &specs.Process{Args: []string{"sh", "-c", "tty; stty size"}, Env: []string{"PATH=/bin"}, Terminal: true,
			ConsoleSize: &specs.Box{Height: 11, Width: 22}}})
	if err != nil {
		t.Fatal(err)
	}
	if console == nil {
		t.Fatal("no console")
	}
	defer console.Close()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := console.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			break
		}
	}
	waitExit(t, pid)
	if got := strings.ReplaceAll(string(out), "\r", ""); !strings.HasPrefix(got, "/dev/pts/") || !strings.HasSuffix(got, "\n11 22\n") {
		t.Fatalf("terminal output %q", got)
	}
}

// TestDeviceCgroup: with the usual deny-all + allow list, a container with
// CAP_MKNOD can make a node for a host device (here /dev/net/tun; this VM's
// disks cannot be opened even by host root) but never open it.
func TestDeviceCgroup(t *testing.T) {
	requireRoot(t)
	disk := "mknod /tmp/disk c 10 200" // /dev/net/tun: opening needs no capability
	spec, rootfs := testSpec(t, "sh", "-c", disk+" && echo made; (true < /tmp/disk) 2>/dev/null && echo OPENED; echo ok > /dev/null && echo null-ok")
	allow := func(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		d := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			d.Major = &major
		}
		if minor >= 0 {
			d.Minor = &minor
		}
		return d
	}
	spec.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		allow("c", -1, -1, "m"), allow("b", -1, -1, "m"),
		allow("c", 1, 3, "rwm"), allow("c", 1, 5, "rwm"), allow("c", 1, 7, "rwm"), allow("c", 1, 8, "rwm"),
		allow("c", 1, 9, "rwm"), allow("c", 5, 0, "rwm"), allow("c", 5, 2, "rwm"), allow("c", 136, -1, "rwm"),
	}}
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 || out != "made\nnull-ok\n" {
		t.Fatalf("status %v output %q", ws, out)
	}
	// Control: without the device rules the same node opens, so the check above means something.
	spec, rootfs = testSpec(t, "sh", "-c", disk+" && true < /tmp/disk && echo OPENED")
	if _, out := run(t, spec, rootfs); out != "OPENED\n" {
		t.Fatalf("control without device rules did not open the device: %q", out)
	}
}

// TestConcurrentCreate: a monitor creates its pod's containers in parallel.
func TestConcurrentCreate(t *testing.T) {
	requireRoot(t)
	const n = 6
	type res struct {
		ws  unix.WaitStatus
		out string
	}
	specsList := make([]*specs.Spec, n)
	rootfsList := make([][]specs.Mount, n)
	for i := range specsList {
		specsList[i], rootfsList[i] = testSpec(t, "sh", "-c", fmt.Sprintf("echo %d; exit %d", i, i))
	}
	ch := make(chan res, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			f, err := os.Create(filepath.Join(tmpDir(t), "out"))
			if err != nil {
				ch <- res{out: err.Error()}
				return
			}
			defer f.Close()
			c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "c" + randID(), Spec: specsList[i], Rootfs: rootfsList[i], Stdio: Stdio{Stdout: f}})
			if err == nil {
				err = c.Start()
			}
			if err != nil {
				ch <- res{out: err.Error()}
				return
			}
			ws := waitExit(t, c.Pid)
			b, _ := os.ReadFile(f.Name())
			_ = destroyCgroup(specsList[i])
			ch <- res{ws, string(b)}
		}(i)
	}
	for i := 0; i < n; i++ {
		r := <-ch
		code := r.ws.ExitStatus()
		if r.out != fmt.Sprintf("%d\n", code) {
			t.Errorf("container exited %d with output %q", code, r.out)
		}
	}
}

// TestKillAnyMoment kills the container's init after a varying delay — during
// setup, while it waits for Start, or while running — and checks Destroy
// always leaves nothing (no cgroup; no mount on the host, checked at the end
// of the package's tests). Delays only vary the moment; nothing is timed.
func TestKillAnyMoment(t *testing.T) {
	requireRoot(t)
	for i := 0; i < 12; i++ {
		spec, rootfs := testSpec(t, "sleep", "1000")
		delay := time.Duration(i) * 700 * time.Microsecond
		ctx, cancel := context.WithCancel(context.Background())
		// Kill whatever init appears in the container's cgroup, or cancel Create.
		p, _ := cgPath(spec)
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(delay)
			cancel()
			for _, pid := range hostTree.Procs(p) {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}()
		c, err := Create(ctx, CreateOptions{Cgroups: hostTree, ID: "k" + randID(), Spec: spec, Rootfs: rootfs})
		if err == nil {
			_ = c.Start() // may fail: the init may be dead already
		}
		<-done
		if err == nil {
			_ = unix.Kill(c.Pid, unix.SIGKILL)
			waitExit(t, c.Pid)
		}
		if err := destroyCgroup(spec); err != nil {
			t.Fatalf("round %d: destroy: %v", i, err)
		}
		if d := hostTree.Dirs(p); len(d) != 0 {
			t.Fatalf("round %d: cgroups left: %v", i, d)
		}
		cancel()
	}
}
