package oci

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"

	"github.com/crid-dev/crid/internal/testenv"
)

// The test binary doubles as the monitor: it dispatches the init and pause
// modes exactly as cmd/crid-monitor must, is a child subreaper and reaps every
// child with one wait4(-1) loop.

var (
	testRoot   string // temp dir holding the shared busybox lower layer
	lowerDir   string
	cgParent   string // unique parent cgroup of every test container
	isRoot     = testenv.Privileged()
	setupError error
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case InitArg:
			InitMain()
		case PauseArg:
			PauseMain()
		case stopAtExecArg:
			stopAtExecMain()
		}
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if !isRoot {
		return m.Run()
	}
	var err error
	if testRoot, err = os.MkdirTemp("", "crid-oci-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(testRoot)
	lowerDir = filepath.Join(testRoot, "lower")
	setupError = buildBusyboxRootfs(lowerDir)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	cgParent = "/crid-test-" + hex.EncodeToString(b)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
		return 1
	}
	go reapLoop()
	code := m.Run()
	// Whatever a failed test left: kill and remove the whole test cgroup tree.
	if err := destroyCgroup(&specs.Spec{Linux: &specs.Linux{CgroupsPath: cgParent}}); err != nil {
		fmt.Fprintln(os.Stderr, "cleanup cgroups:", err)
		code = 1
	}
	// Other work shares this host: look only for mounts of our own paths.
	if leaked := hostMountsUnder(testRoot); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "tests leaked host mounts:\n%s\n", strings.Join(leaked, "\n"))
		code = 1
	}
	return code
}

// hostMountsUnder lists the host's mounts (pid 1's namespace) whose mount point
// starts with any of the prefixes, as "mount point (fs type source)"; none when
// pid 1's table cannot be read (not root).
func hostMountsUnder(prefixes ...string) []string {
	f, err := os.Open("/proc/1/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	mounts, err := mountinfo.GetMountsFromReader(f, func(m *mountinfo.Info) (skip, stop bool) {
		for _, p := range prefixes {
			if strings.HasPrefix(m.Mountpoint, p) {
				return false, false
			}
		}
		return true, false
	})
	if err != nil {
		return []string{err.Error()}
	}
	out := make([]string, 0, len(mounts))
	for _, m := range mounts {
		out = append(out, fmt.Sprintf("%s (%s %s)", m.Mountpoint, m.FSType, m.Source))
	}
	return out
}

// buildBusyboxRootfs makes a tiny image from Debian's dynamic busybox: the
// binary, the libraries ldd names, and every applet as a hard link.
func buildBusyboxRootfs(dir string) error {
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile("/bin/busybox", filepath.Join(dir, "bin/busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command("ldd", "/bin/busybox").Output()
	if err != nil {
		return fmt.Errorf("ldd: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				resolved, err := filepath.EvalSymlinks(f)
				if err != nil {
					return err
				}
				if err := copyFile(resolved, filepath.Join(dir, f), 0o755); err != nil {
					return err
				}
			}
		}
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" {
			continue
		}
		if err := os.Link(filepath.Join(dir, "bin/busybox"), filepath.Join(dir, "bin", a)); err != nil {
			return err
		}
	}
	_ = os.Symlink("bin", filepath.Join(dir, "sbin"))
	if err := os.MkdirAll(filepath.Join(dir, "usr"), 0o755); err != nil {
		return err
	}
	_ = os.Symlink("../bin", filepath.Join(dir, "usr/bin"))
	if err := os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "etc/group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// The reaper: every exit is recorded; waitExit blocks until a given pid's.
var reaper = struct {
	sync.Mutex
	cond   *sync.Cond
	exited map[int]unix.WaitStatus
}{exited: map[int]unix.WaitStatus{}}

func init() { reaper.cond = sync.NewCond(&reaper.Mutex) }

func reapLoop() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.ECHILD {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		if err != nil || pid <= 0 {
			continue
		}
		reaper.Lock()
		reaper.exited[pid] = ws
		reaper.cond.Broadcast()
		reaper.Unlock()
	}
}

// waitExit returns the wait status of pid; the deadline only guards against a
// hung test (no timing is asserted).
func waitExit(t testing.TB, pid int) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	done := make(chan struct{})
	defer close(done)
	go func() { // wake the cond now and then to check the deadline
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				reaper.cond.Broadcast()
			}
		}
	}()
	reaper.Lock()
	defer reaper.Unlock()
	for {
		if ws, ok := reaper.exited[pid]; ok {
			delete(reaper.exited, pid)
			return ws
		}
		if time.Now().After(deadline) {
			_ = unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("pid %d did not exit", pid)
		}
		reaper.cond.Wait()
	}
}

func requireRoot(t testing.TB) {
	t.Helper()
	if !isRoot {
		t.Skip("integration test: needs root (namespaces, mounts, cgroups)")
	}
	if setupError != nil {
		t.Fatalf("building the busybox rootfs: %v", setupError)
	}
}

func randID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testSpec is a spec like the one crid generates for a pod container.
func testSpec(t testing.TB, args ...string) (*specs.Spec, []specs.Mount) {
	dir := tmpDir(t)
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id := randID()
	rootfs := []specs.Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + lowerDir, "upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work")}}}
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
		"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
		"CAP_KILL", "CAP_AUDIT_WRITE"}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args:         args,
			Env:          []string{"PATH=/bin", "HOME=/root"},
			Cwd:          "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			Rlimits:      []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 1024}},
		},
		Root:     &specs.Root{Path: filepath.Join(dir, "rootfs")},
		Hostname: "crid-" + id[:6],
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgParent + "/" + id,
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.CgroupNamespace}},
			MaskedPaths: []string{"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
				"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"},
			ReadonlyPaths: []string{"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	return spec, rootfs
}

// ctr is a created test container whose output goes to a file.
type ctr struct {
	*Container
	out  string
	spec *specs.Spec
}

func create(t testing.TB, spec *specs.Spec, rootfs []specs.Mount) *ctr {
	t.Helper()
	return createOn(t, spec, rootfs, nil)
}

// kernel510 are the features of Debian 11's 5.10 as its probe finds them
// (measured in the VM tier): no lowerdir+, no mount_setattr, no close_range
// CLOEXEC, no user namespaces. createOn with it takes every fallback here.
func kernel510() *kernel.Features {
	return &kernel.Features{Release: "5.10 (simulated)", Overlay: kernel.OverlayLowerdirString, IDMappedOverlay: kernel.IDMappedNone}
}

// hostAnd510 are the kernels a mount test runs on: this one's probed features
// (nil) and Debian 11's 5.10, whose fallbacks (no mount_setattr) must keep the
// same guarantees.
var hostAnd510 = map[string]*kernel.Features{"this kernel": nil, "5.10": kernel510()}

// createOn creates on the given kernel features (nil: the probed ones), to
// take the fallback paths of older kernels on this one.
func createOn(t testing.TB, spec *specs.Spec, rootfs []specs.Mount, k *kernel.Features) *ctr {
	t.Helper()
	f, out := outFile(t)
	defer f.Close()
	c, err := Create(context.Background(), CreateOptions{Cgroups: hostTree, ID: "t" + randID(), StateDir: tmpDir(t), Spec: spec,
		Rootfs: rootfs, Stdio: Stdio{Stdout: f, Stderr: f}, Kernel: k, HookWait: hookWait(t)})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		_ = destroyCgroup(spec) // kills what is left; the reaper collects it
	})
	return &ctr{Container: c, out: out, spec: spec}
}

// run creates and starts a container and waits for its exit.
func run(t testing.TB, spec *specs.Spec, rootfs []specs.Mount) (unix.WaitStatus, string) {
	t.Helper()
	return runOn(t, spec, rootfs, nil)
}

func runOn(t testing.TB, spec *specs.Spec, rootfs []specs.Mount, k *kernel.Features) (unix.WaitStatus, string) {
	t.Helper()
	c := createOn(t, spec, rootfs, k)
	if err := c.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	ws := waitExit(t, c.Pid)
	b, _ := os.ReadFile(c.out)
	return ws, string(b)
}

// section returns the lines printed after "== name ==" up to the next section.
func section(out, name string) string {
	var b strings.Builder
	in := false
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "== ") {
			in = l == "== "+name+" =="
			continue
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// tmpDir is t.TempDir below the package's own test root, so that the leak
// check at the end looks only at this package's paths.
func tmpDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(testRoot, "t")
	if err == nil {
		err = os.Chmod(d, 0o755) // like t.TempDir's directories
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// outFile creates a file for a process's output in a temp dir of the test.
func outFile(t testing.TB) (*os.File, string) {
	t.Helper()
	out := filepath.Join(tmpDir(t), "out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	return f, out
}
