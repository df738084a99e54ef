package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

const (
	criTimeout = 60 * time.Second // emulated guests are slow; a hung RPC still fails
	imageRef   = "vm.test/busybox:1"
)

var (
	unit     = os.Getenv("CRID_VM_SERVICE")
	driver   = os.Getenv("CRID_VM_CGROUP_DRIVER")
	endpoint = envOr("CRID_VM_ENDPOINT", "/run/crid/crid.sock")
	rt       runtimeapi.RuntimeServiceClient
	conn     *grpc.ClientConn
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestMain imports the test image into the service's crid and connects to its socket.
func TestMain(m *testing.M) {
	if unit == "" {
		fmt.Println("vm: skipped: these run in the VM tier's guests against crid's systemd service (make test-vm)")
		os.Exit(0)
	}
	if err := importImage(); err != nil {
		fmt.Println("vm:", err)
		os.Exit(1)
	}
	if err := connect(); err != nil {
		fmt.Println("vm:", err)
		os.Exit(1)
	}
	code := m.Run()
	conn.Close()
	os.Exit(code)
}

// importImage loads the static busybox image with `crid image import`, which talks to the
// running service through its admin socket.
func importImage() error {
	img, err := testimages.BusyboxStatic()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "crid-vm-image")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "busybox.tar")
	if err := testimages.WriteDockerSave(archive, map[string]v1.Image{imageRef: img}); err != nil {
		return err
	}
	if out, err := exec.Command("crid", "image", "import", archive).CombinedOutput(); err != nil {
		return fmt.Errorf("crid image import: %v\n%s", err, out)
	}
	return nil
}

// connect (re)dials the service's socket; after a restart the old connection may be dead.
func connect() error {
	if conn != nil {
		conn.Close()
	}
	c, err := grpc.NewClient("unix://"+endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	conn, rt = c, runtimeapi.NewRuntimeServiceClient(c)
	return nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	t.Cleanup(cancel)
	return ctx
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// systemctl runs systemctl and fails the test on error.
func systemctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// cgroupParent is what kubelet passes for a BestEffort pod with the configured driver.
func cgroupParent(uid string) string {
	if driver == "systemd" {
		return "kubepods-besteffort-pod" + uid + ".slice"
	}
	return "/kubepods/besteffort/pod" + uid
}

// pod runs a pod as kubelet would (its cgroup parent, a log dir) and removes it at the end.
func pod(t *testing.T, name string) (string, *runtimeapi.PodSandboxConfig) {
	t.Helper()
	uid := randHex(6)
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "vm", Uid: uid},
		Hostname:     name,
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroupParent(uid),
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	resp, err := rt.RunPodSandbox(ctxT(t), &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", name, err)
	}
	id := resp.PodSandboxId
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
		defer cancel()
		if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("cleanup: StopPodSandbox: %v", err)
		}
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Errorf("cleanup: RemovePodSandbox: %v", err)
		}
	})
	return id, cfg
}

// container creates and starts a container running cmd, logging to <name>.log.
func container(t *testing.T, podID string, podCfg *runtimeapi.PodSandboxConfig, name string, res *runtimeapi.LinuxContainerResources, cmd ...string) string {
	t.Helper()
	cfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: imageRef},
		Command:  cmd,
		LogPath:  name + ".log",
		Linux:    &runtimeapi.LinuxContainerConfig{Resources: res, SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
	}
	resp, err := rt.CreateContainer(ctxT(t), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: podCfg})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", name, err)
	}
	if _, err := rt.StartContainer(ctxT(t), &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err != nil {
		t.Fatalf("StartContainer %s: %v", name, err)
	}
	return resp.ContainerId
}

func status(t *testing.T, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	return statusResp(t, id).Status
}

func statusResp(t *testing.T, id string) *runtimeapi.ContainerStatusResponse {
	t.Helper()
	resp, err := rt.ContainerStatus(ctxT(t), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		t.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return resp
}

// execOut runs cmd in the container and returns its stdout; a non-zero exit fails the test.
func execOut(t *testing.T, id string, cmd ...string) string {
	t.Helper()
	resp, err := rt.ExecSync(ctxT(t), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 30})
	if err != nil {
		t.Fatalf("ExecSync %q: %v", cmd, err)
	}
	if resp.ExitCode != 0 {
		t.Fatalf("ExecSync %q: exit %d: %s", cmd, resp.ExitCode, resp.Stderr)
	}
	return string(resp.Stdout)
}

// eventually polls cond every 100ms until it returns "" (done) or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
