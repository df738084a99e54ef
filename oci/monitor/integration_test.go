package monitor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/oci/monitor/api"

	"github.com/crid-dev/crid/internal/testenv"
)

// The tests below run the real crid-monitor with the real executor: root only.

var ociEnv struct {
	once     sync.Once
	err      error
	dir      string // holds the binary and the busybox lower layer
	binary   string
	lower    string
	cgParent string // unique parent cgroup of every container the tests make
}

// requireOCI builds crid-monitor and a busybox rootfs once per test binary run.
func requireOCI(t *testing.T) {
	t.Helper()
	if !testenv.Privileged() {
		t.Skip("integration test: needs root (namespaces, mounts, cgroups)")
	}
	ociEnv.once.Do(func() {
		if ociEnv.dir, ociEnv.err = os.MkdirTemp("", "crid-monitor-oci"); ociEnv.err != nil {
			return
		}
		ociEnv.binary = filepath.Join(ociEnv.dir, "crid-monitor")
		out, err := exec.Command("go", append(append(append([]string{"build"}, raceFlags...), staticFlags...), "-o", ociEnv.binary, "github.com/crid-dev/crid/cmd/crid-monitor")...).CombinedOutput()
		if err != nil {
			ociEnv.err = fmt.Errorf("build: %v\n%s", err, out)
			return
		}
		ociEnv.lower = filepath.Join(ociEnv.dir, "lower")
		ociEnv.err = buildBusybox(ociEnv.lower)
		ociEnv.cgParent = "/crid-monitor-test-" + randHex(4)
	})
	if ociEnv.err != nil {
		t.Fatal(ociEnv.err)
	}
}

// cleanupOCIEnv runs from TestMain: whatever a failed test left in our cgroup
// tree is killed and removed, and the temp dir goes.
func cleanupOCIEnv() {
	if ociEnv.dir == "" {
		return
	}
	if ociEnv.cgParent != "" {
		if err := cgroups.HostTree().Destroy(ociEnv.cgParent); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup cgroups:", err)
		}
	}
	os.RemoveAll(ociEnv.dir)
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// buildBusybox makes a tiny rootfs from Debian's dynamic busybox: the binary,
// the libraries ldd lists, and the applets as hard links.
func buildBusybox(dir string) error {
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := []string{"/bin/busybox"}
	out, err := exec.Command("ldd", "/bin/busybox").Output()
	if err != nil {
		return fmt.Errorf("ldd: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		for _, f := range strings.Fields(sc.Text()) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // follows symlinks: the library itself
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			return err
		}
	}
	list, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(list)) {
		if a != "busybox" {
			if err := os.Link(filepath.Join(dir, "bin/busybox"), filepath.Join(dir, "bin", a)); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/:/bin/sh\n"), 0o644)
}

// bbSpec is a container spec like crid's, over an overlay of the busybox layer.
func bbSpec(t *testing.T, args ...string) (*specs.Spec, []specs.Mount) {
	dir := t.TempDir()
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootfs := []specs.Mount{{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + ociEnv.lower, "upperdir=" + filepath.Join(dir, "upper"), "workdir=" + filepath.Join(dir, "work")}}}
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID", "CAP_KILL"}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: args, Env: []string{"PATH=/bin"}, Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
		},
		Root:     &specs.Root{Path: filepath.Join(dir, "rootfs")},
		Hostname: "mon-test",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: ociEnv.cgParent + "/" + randHex(6),
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.NetworkNamespace}},
		},
	}
	return spec, rootfs
}

func runBB(t *testing.T, c *Client, id string, req CreateRequest, args ...string) int {
	t.Helper()
	req.ID = id
	req.Spec, req.Rootfs = bbSpec(t, args...)
	pid, err := c.Create(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestOCILogsExitAndStats(t *testing.T) {
	requireOCI(t)
	c, stateDir := startMonitor(t, ociEnv.binary)
	logPath := filepath.Join(t.TempDir(), "c.log")
	runBB(t, c, "c", CreateRequest{LogPath: logPath}, "sh", "-c", "hostname; echo err >&2; exit 42")
	st := waitExit(t, c, "c")
	if st.ExitCode != 42 || st.OOMKilled {
		t.Fatalf("exit %+v", st)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), " stdout F mon-test\n") || !strings.Contains(string(b), " stderr F err\n") {
		t.Errorf("log %q", b)
	}
	if err := c.Delete(ctxT(t), "c"); err != nil {
		t.Fatal(err)
	}

	req := CreateRequest{ID: "s"}
	req.Spec, req.Rootfs = bbSpec(t, "sleep", "1000")
	if _, err := c.Create(ctxT(t), req); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t), "s"); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctxT(t), "s", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr(int64(10))}}); err != nil {
		t.Errorf("update: %v", err)
	}
	// The daemon reads stats from the cgroup itself: the monitor put the
	// container there and applied the update.
	cg, err := cgroups.HostTree().Load(req.Spec.Linux.CgroupsPath)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := cg.Stats(); err != nil || st.Pids != 1 || st.PidsLimit != 10 || st.MemoryUsage == 0 {
		t.Errorf("stats %+v %v", st, err)
	}
	_ = stateDir
}

func TestOCIExecAttachKill(t *testing.T) {
	requireOCI(t)
	c, _ := startMonitor(t, ociEnv.binary)
	runBB(t, c, "c", CreateRequest{Stdin: true}, "sh", "-c", "while read l; do echo \"echo $l\"; done")
	ctx := ctxT(t)
	var out bytes.Buffer
	code, err := c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"sh", "-c", "cat /proc/1/cmdline; echo; exit 3"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 3 || !strings.Contains(out.String(), "while read") {
		t.Fatalf("exec: %d %v %q", code, err, out.String())
	}
	out.Reset()
	code, err = c.Exec(ctx, ExecRequest{ContainerID: "c", Terminal: true, Process: &specs.Process{Args: []string{"tty"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, Stdout: &out})
	if err != nil || code != 0 || !strings.Contains(out.String(), "/dev/pts/") {
		t.Fatalf("exec tty: %d %v %q", code, err, out.String())
	}
	// Attach: what we type is echoed back by the container.
	actx, cancel := context.WithCancel(ctx)
	pr, pw := newPipeWriter()
	var aout syncBuffer
	done := make(chan error, 1)
	go func() { done <- c.Attach(actx, "c", pr, &aout, nil, nil) }()
	_, _ = pw.Write([]byte("hello\n"))
	waitFor(t, "the container's echo of the attached input", func() bool { return strings.Contains(aout.String(), "echo hello") })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("attach after cancel: %v", err)
	}
	pw.Close()
	if err := c.Kill(ctx, "c", syscall.SIGKILL, true); err != nil {
		t.Fatal(err)
	}
	if st := waitExit(t, c, "c"); st.ExitCode != 137 {
		t.Errorf("exit %+v", st)
	}
	if _, err := c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"true"}}}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("exec in a stopped container: %v", err)
	}
}

func TestOCIPodInfraAndOOM(t *testing.T) {
	requireOCI(t)
	c, _ := startMonitor(t, ociEnv.binary)
	infra := &specs.Spec{Hostname: "pod-x", Linux: &specs.Linux{
		CgroupsPath: ociEnv.cgParent + "/pod" + randHex(4),
		Namespaces:  []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
	}}
	pid, err := c.CreatePodInfra(ctxT(t), PodInfraRequest{Spec: infra})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.State(ctxT(t), InfraID); err != nil || st.Pid != pid || st.Status != "running" {
		t.Fatalf("infra state %+v %v", st, err)
	}
	// dd fills a 256 MiB buffer in one read(2) of /dev/zero: its pages are charged while
	// the kernel fills them, so the OOM kill comes once reclaim finds nothing left. A
	// `head -c ... /dev/zero | tail` could thrash at the limit instead: head refaulting its
	// own text (busybox, charged to this cgroup) kept reclaim "making progress" while tail
	// waited on the pipe (as in test/e2e, 646b974).
	spec, rootfs := bbSpec(t, "sh", "-c", "hostname; dd if=/dev/zero of=/dev/null bs=256M count=1")
	spec.Hostname = ""
	spec.Linux.Namespaces = []specs.LinuxNamespace{{Type: specs.MountNamespace}}
	for _, n := range []string{"ipc", "uts", "pid", "net"} {
		typ := map[string]specs.LinuxNamespaceType{"ipc": specs.IPCNamespace, "uts": specs.UTSNamespace, "pid": specs.PIDNamespace, "net": specs.NetworkNamespace}[n]
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: fmt.Sprintf("/proc/%d/ns/%s", pid, n)})
	}
	limit := int64(96 << 20) // room for the init of a -race build
	spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	logPath := filepath.Join(t.TempDir(), "log")
	if _, err := c.Create(ctxT(t), CreateRequest{ID: "oom", Spec: spec, Rootfs: rootfs, LogPath: logPath}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t), "oom"); err != nil {
		t.Fatal(err)
	}
	st := waitExit(t, c, "oom")
	if !st.OOMKilled {
		t.Errorf("exit %+v: not OOMKilled", st)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "stdout F pod-x") {
		t.Errorf("log %q: not in the pod's UTS namespace", b)
	}
}

func TestOCICleanupAfterMonitorKilled(t *testing.T) {
	requireOCI(t)
	c, stateDir := startMonitor(t, ociEnv.binary)
	spec, rootfs := bbSpec(t, "sh", "-c", "sleep 1000 & sleep 1000")
	if _, err := c.Create(ctxT(t), CreateRequest{ID: "c", Spec: spec, Rootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t), "c"); err != nil {
		t.Fatal(err)
	}
	mpid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(mpid, syscall.SIGKILL)
	waitFor(t, "the killed monitor to be gone", func() bool {
		_, err := api.ProcStartTime(mpid)
		return err != nil
	})
	if _, err := Connect(ctxT(t), stateDir); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("connect: %v", err)
	}
	if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
		t.Fatal(err)
	}
	// The container's cgroup is gone, so are its processes.
	if d := cgroups.HostTree().Dirs(spec.Linux.CgroupsPath); len(d) != 0 {
		t.Errorf("cgroup left: %v", d)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newPipeWriter() (*os.File, *os.File) {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	return r, w
}

func ptr[T any](v T) *T { return &v }

func TestOCITerminalAttachResize(t *testing.T) {
	requireOCI(t)
	c, _ := startMonitor(t, ociEnv.binary)
	logPath := filepath.Join(t.TempDir(), "log")
	runBB(t, c, "tty", CreateRequest{Terminal: true, Stdin: true, LogPath: logPath}, "sh")
	pr, pw := newPipeWriter()
	resize := make(chan Size, 1)
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- c.Attach(ctxT(t), "tty", pr, &out, nil, resize) }()
	resize <- Size{Width: 100, Height: 40}
	// The resize and the typed line go out on two goroutines in either order: the shell
	// waits for the size itself (spelled so that the echo of the line does not hold it).
	_, _ = pw.Write([]byte(`while [ "$(stty size)" != "$((20*2)) $((50*2))" ]; do sleep 0.01; done; stty size; exit 3` + "\n"))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not end")
	}
	pw.Close()
	if st := waitExit(t, c, "tty"); st.ExitCode != 3 {
		t.Errorf("exit %+v", st)
	}
	if !strings.Contains(out.String(), "40 100") {
		t.Errorf("attach output %q", out.String())
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "40 100") {
		t.Errorf("log %q", b)
	}
}

func TestOCIExecErrorsAndCancel(t *testing.T) {
	requireOCI(t)
	c, _ := startMonitor(t, ociEnv.binary)
	runBB(t, c, "c", CreateRequest{}, "sleep", "1000")
	ctx := ctxT(t)
	code, err := c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"/nonexistent"}, Env: []string{"PATH=/bin"}, Cwd: "/"}})
	if err == nil && code == 0 {
		t.Errorf("exec of a missing binary: code 0")
	}
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := c.Exec(cctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"sleep", "999"}, Env: []string{"PATH=/bin"}, Cwd: "/"}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled exec: %v", err)
	}
	// The exec'd sleep is killed: only the container's own process is left.
	waitFor(t, "the cancelled exec's sleep 999 to be gone from the container", func() bool {
		var out bytes.Buffer
		_, _ = c.Exec(ctx, ExecRequest{ContainerID: "c", Process: &specs.Process{Args: []string{"sh", "-c", "ps -o args | grep -c '^sleep 999'"}, Env: []string{"PATH=/bin"}, Cwd: "/"}, Stdout: &out})
		return strings.TrimSpace(out.String()) == "0"
	})
}

// The OOM kill of a container while the pod is handed over is recorded (the C body
// reads the cgroup's counter itself); the monitor killed while handed over leaves a
// container whose cgroup Cleanup empties and removes.
func TestOCISwitchOOMAndCleanup(t *testing.T) {
	requireOCI(t)
	forBodiesOf(t, ociEnv.binary, func(t *testing.T, b body) {
		c, stateDir := b.start(t, ociEnv.binary, func(*StartOptions) {})
		sync := t.TempDir()
		if err := syscall.Mkfifo(sync+"/go", 0o666); err != nil {
			t.Fatal(err)
		}
		// The hog of TestOCIPodInfraAndOOM.
		spec, rootfs := bbSpec(t, "sh", "-c", "read x < /sync/go; dd if=/dev/zero of=/dev/null bs=256M count=1")
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/sync", Type: "bind", Source: sync, Options: []string{"bind"}})
		limit := int64(96 << 20) // room for the init of a -race build
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
		createStart(t, c, "oom", spec, rootfs)
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		n := resumes(t, stateDir)
		release(t, sync+"/go")
		if st := waitExit(t, c, "oom"); !st.OOMKilled {
			t.Errorf("exit %+v: not OOMKilled", st)
		}
		if !b.toGo && resumes(t, stateDir) != n {
			t.Errorf("the OOM kill was not recorded by the C body")
		}

		spec, rootfs = bbSpec(t, "sh", "-c", "sleep 1000 & sleep 1000")
		createStart(t, c, "left", spec, rootfs)
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		killMonitor(t, stateDir, syscall.SIGKILL)
		if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
			t.Fatal(err)
		}
		if d := cgroups.HostTree().Dirs(spec.Linux.CgroupsPath); len(d) != 0 {
			t.Errorf("cgroup left: %v", d)
		}
	})
}

// createStart creates and starts a container of spec.
func createStart(t *testing.T, c *Client, id string, spec *specs.Spec, rootfs []specs.Mount) {
	t.Helper()
	if _, err := c.Create(ctxT(t), CreateRequest{ID: id, Spec: spec, Rootfs: rootfs}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
}
