package wire_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/mountinfo"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/cni"
	"github.com/crid-dev/crid/hack/testimages"
	"github.com/crid-dev/crid/images"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec/hostinfo"
	"github.com/crid-dev/crid/sandbox/wire"

	"github.com/crid-dev/crid/internal/testenv"
)

type stack struct {
	m           *sandbox.Manager
	cfg         sandbox.Config
	deps        sandbox.Deps
	state, root string
}

// newStack opens a Manager over the real services in temp dirs, with a local busybox
// image imported as crid.test/busybox:1. It skips when not root.
func newStack(t *testing.T) *stack {
	if !testenv.Privileged() {
		t.Skip("needs root: mounts, namespaces, cgroups")
	}
	bin := buildMonitor(t)
	// Short state path: the monitor's unix socket lives under it (108-byte limit).
	state, err := os.MkdirTemp("/tmp", "sbxit")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	root := t.TempDir()
	img, err := images.Open(images.Config{
		Root: filepath.Join(root, "images"), ContainersDir: filepath.Join(root, "containers"),
		PullProgressTimeout: time.Minute, MaxConcurrentDownloads: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	importBusybox(t, img)
	net, err := cni.New(cni.Config{ConfDir: t.TempDir(), BinDirs: []string{"/usr/lib/cni"},
		NetNSDir: filepath.Join(state, "netns"), CacheDir: filepath.Join(root, "cni")})
	if err != nil {
		t.Fatal(err)
	}
	deps := wire.Deps(img, net, wire.MonitorOptions{Binary: bin, LogLevel: "debug", Cgroups: cgroups.HostTree()})
	cfg := sandbox.Config{Root: root, State: state, SpecHost: hostinfo.Probe(hostinfo.Options{}), StopGrace: 10 * time.Second}
	m, err := sandbox.New(context.Background(), cfg, deps, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{m: m, cfg: cfg, deps: deps, state: state, root: root}
}

// The Manager over the real image store, CNI manager, pod monitor and spec generator:
// a host-network pod with its own IPC namespace and /dev/shm, a container from a local
// busybox image, exec, stop with the image's signal, a daemon restart, and removal that
// leaves no mount, process, rootfs or dir behind. The full stack over gRPC is test/e2e's.
func TestManagerRealStack(t *testing.T) {
	st := newStack(t)
	ctx, m := context.Background(), st.m
	closed := false
	var podID string
	t.Cleanup(func() {
		if !closed {
			if podID != "" {
				_ = m.RemovePod(ctx, podID)
			}
			m.Close()
		}
	})
	cfg, deps, state, root := st.cfg, st.deps, st.state, st.root
	var err error

	logs := t.TempDir()
	podCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "it", Namespace: "ns", Uid: "uid-it"},
		Hostname:     "it-host",
		LogDirectory: logs,
		Linux: &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
			NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
		}},
	}
	if podID, err = m.RunPod(ctx, podCfg, ""); err != nil {
		t.Fatal(err)
	}
	pod, _ := m.Pod(podID)
	if !pod.ShmMounted || !isMount(t, filepath.Join(pod.Dir, "shm")) {
		t.Fatalf("pod /dev/shm is not a mount: %+v", pod)
	}
	id, err := m.CreateContainer(ctx, podID, &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
		Image:    &runtimeapi.ImageSpec{Image: "crid.test/busybox:1"},
		Command:  []string{"sh", "-c", "echo started; trap 'exit 3' TERM; while true; do sleep 1; done"},
		LogPath:  "app.log",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	res, err := m.ExecSync(ctx, id, []string{"sh", "-c", "readlink /proc/self/ns/ipc; cat /etc/hostname"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	infraIPC, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pod.InfraPid), "ns", "ipc"))
	if !strings.Contains(string(res.Stdout), infraIPC) {
		t.Errorf("exec is not in the pod's IPC namespace %s: %q", infraIPC, res.Stdout)
	}
	if res.ExitCode != 0 {
		t.Errorf("exec exit %d, stderr %q", res.ExitCode, res.Stderr)
	}

	// A daemon restart keeps the running container.
	m.Close()
	closed = true
	if m, err = sandbox.New(ctx, cfg, deps, nil); err != nil {
		t.Fatal(err)
	}
	closed = false
	if c, _ := m.Container(id); c.State != sandbox.ContainerRunning {
		t.Fatalf("after restart: %v %s", c.State, c.Message)
	}
	if err := m.StopContainer(ctx, id, 10); err != nil {
		t.Fatal(err)
	}
	if c, _ := m.Container(id); c.ExitCode != 3 || c.Reason != "Error" {
		t.Errorf("stop: exit %d reason %s (the trap on SIGTERM exits 3)", c.ExitCode, c.Reason)
	}
	if log, _ := os.ReadFile(filepath.Join(logs, "app.log")); !bytes.Contains(log, []byte("stdout F started")) {
		t.Errorf("log: %q", log)
	}
	monitorPid := readPid(t, filepath.Join(pod.Dir, "monitor", "pid"))
	if err := m.RemovePod(ctx, podID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(pod.Dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pod dir left: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "containers")); len(ents) != 0 {
		t.Errorf("writable layers left: %d", len(ents))
	}
	if monitorPid > 0 {
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(monitorPid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if syscall.Kill(monitorPid, 0) == nil {
			t.Errorf("monitor %d still running", monitorPid)
			syscall.Kill(monitorPid, syscall.SIGKILL)
		}
	}
	if mounts, _ := mountinfo.GetMounts(mountinfo.PrefixFilter(state)); len(mounts) > 0 {
		t.Errorf("mounts left under %s", state)
	}
	podID = ""
}

func readPid(t *testing.T, path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("monitor pid file: %v", err)
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func isMount(t *testing.T, path string) bool {
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(path))
	if err != nil {
		t.Fatal(err)
	}
	return len(mounts) > 0
}

func buildMonitor(t *testing.T) string {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "crid-monitor")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/crid-monitor")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build crid-monitor: %v\n%s", err, b)
	}
	return out
}

func importBusybox(t *testing.T, s *images.Service) {
	bb, err := testimages.Busybox()
	if err != nil {
		t.Skip("no busybox to build a test image from:", err)
	}
	path := filepath.Join(t.TempDir(), "bb.tar")
	if err := testimages.WriteDockerSave(path, map[string]v1.Image{"crid.test/busybox:1": bb}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := s.Import(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}
