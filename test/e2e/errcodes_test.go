package e2e

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExecutorRefusalsAreInvalidArgument: what the built-in executor refuses because
// of the container's config reaches CRI as InvalidArgument with the executor's words,
// not Unknown: a command the image does not have (found missing as the init execs it,
// at StartContainer), a working dir the image does not have and a sysctl the kernel
// does not know (both at CreateContainer, in the container's init).
func TestExecutorRefusalsAreInvalidArgument(t *testing.T) {
	d := sharedDaemon(t)
	image := testImage(t, d)
	t.Run("missing command", func(t *testing.T) {
		for name, cmd := range map[string]string{"absolute": "/crid-e2e-no-such-command", "in PATH": "crid-e2e-no-such-command"} {
			t.Run(name, func(t *testing.T) {
				pod := d.podConfig(t, "errcode-cmd")
				podID := d.runPod(t, pod)
				id := d.createContainer(t, podID, pod, containerConfig("nocmd", image, cmd))
				_, err := d.RT.StartContainer(ctxT(t, criTimeout), &runtimeapi.StartContainerRequest{ContainerId: id})
				wantCode(t, err, codes.InvalidArgument, cmd)
			})
		}
	})
	t.Run("working dir a file", func(t *testing.T) {
		pod := d.podConfig(t, "errcode-cwd")
		podID := d.runPod(t, pod)
		cfg := containerConfig("filecwd", image, "true")
		cfg.WorkingDir = "/etc/passwd"
		_, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
		wantCode(t, err, codes.InvalidArgument, cfg.WorkingDir)
	})
	t.Run("unknown sysctl", func(t *testing.T) {
		pod := d.podConfig(t, "errcode-sysctl")
		pod.Linux.Sysctls = map[string]string{"net.ipv4.crid_e2e_no_such_sysctl": "1"}
		resp, err := d.RT.RunPodSandbox(ctxT(t, criTimeout), &runtimeapi.RunPodSandboxRequest{Config: pod})
		if err != nil {
			wantCode(t, err, codes.InvalidArgument, "crid_e2e_no_such_sysctl")
			return
		}
		d.recordPod(resp.PodSandboxId)
		t.Cleanup(func() { d.removePod(t, resp.PodSandboxId) })
		_, err = d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: resp.PodSandboxId, Config: containerConfig("sysctl", image, "true"), SandboxConfig: pod})
		wantCode(t, err, codes.InvalidArgument, "crid_e2e_no_such_sysctl")
	})
}

// wantCode: err has code and names what was refused.
func wantCode(t *testing.T, err error, code codes.Code, names string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), names) {
		t.Fatalf("%v, want %v naming %q", err, code, names)
	}
}

// TestResourceRefusalCodes: a CPU period the kernel would refuse is refused by crid
// before anything is made (InvalidArgument naming the field); a value only the kernel
// can judge (a cpuset naming a CPU this node does not have) is InvalidArgument in the
// kernel's words, at CreateContainer and at UpdateContainerResources; on cgroup v1 a
// memory limit below what the container uses is FailedPrecondition (v2 takes it and
// reclaims).
func TestResourceRefusalCodes(t *testing.T) {
	d := sharedDaemon(t)
	image := testImage(t, d)
	pod := d.podConfig(t, "errcode-resources")
	podID := d.runPod(t, pod)
	cfg := containerConfig("period", image, "true")
	cfg.Linux.Resources = &runtimeapi.LinuxContainerResources{CpuPeriod: 100, CpuQuota: 50}
	wantRefused(t, d, podID, pod, cfg, codes.InvalidArgument)
	noSuchCPU := &runtimeapi.LinuxContainerResources{CpusetCpus: "4095"}
	cfg = containerConfig("cpuset", image, "true")
	cfg.Linux.Resources = noSuchCPU
	_, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
	wantCode(t, err, codes.InvalidArgument, "cpuset.cpus")
	id := d.runContainer(t, podID, pod, containerConfig("sleeper", image, "sleep", "3600"))
	_, err = d.RT.UpdateContainerResources(ctxT(t, criTimeout), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: noSuchCPU})
	wantCode(t, err, codes.InvalidArgument, "cpuset.cpus")
	if unifiedHost() {
		return
	}
	_, err = d.RT.UpdateContainerResources(ctxT(t, criTimeout), &runtimeapi.UpdateContainerResourcesRequest{ContainerId: id, Linux: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 4096}})
	wantCode(t, err, codes.FailedPrecondition, "memory.limit_in_bytes")
}
