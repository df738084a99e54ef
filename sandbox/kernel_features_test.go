package sandbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// On a kernel without idmapped mounts (Debian 11's 5.10) a user-namespaced pod
// is refused before anything is made, not half-built and undone.
func TestUserNamespacePodRefusedWithoutKernelSupport(t *testing.T) {
	h := newHarness(t)
	h.cfg.Features = sandbox.Features{UserNamespaces: false}
	h.restart()
	cfg := podConfig("userns")
	cfg.LogDirectory = filepath.Join(h.logs, "userns")
	ids := []*runtimeapi.IDMapping{{HostId: 1 << 20, ContainerId: 0, Length: 65536}}
	cfg.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{UsernsOptions: &runtimeapi.UserNamespace{
			Mode: runtimeapi.NamespaceMode_POD, Uids: ids, Gids: ids}}}}
	_, err := h.m.RunPod(context.Background(), cfg, "")
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "user namespaces are not supported") {
		t.Fatalf("RunPod with a user namespace on a kernel without: %v, want FailedPrecondition", err)
	}
	if pods := h.m.Pods(sandbox.PodFilter{}); len(pods) != 0 {
		t.Errorf("pods after the refusal: %v", pods)
	}
	h.assertClean()
}

// Without mount_setattr (before 5.12) a recursive read-only mount is refused,
// never quietly made read-only on its top mount only.
func TestRecursiveReadOnlyRefusedWithoutKernelSupport(t *testing.T) {
	h := newHarness(t)
	h.cfg.Features = sandbox.Features{RecursiveReadOnlyMounts: false}
	h.restart()
	pod := h.runPod("rro")
	cfg := ctrConfig("rro")
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/data", HostPath: t.TempDir(), Readonly: true, RecursiveReadOnly: true}}
	_, err := h.m.CreateContainer(context.Background(), pod, cfg)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "recursive_read_only") {
		t.Fatalf("CreateContainer with a recursive read-only mount: %v, want FailedPrecondition", err)
	}
	if ctrs := h.m.Containers(sandbox.ContainerFilter{}); len(ctrs) != 0 {
		t.Errorf("containers after the refusal: %v", ctrs)
	}
}
