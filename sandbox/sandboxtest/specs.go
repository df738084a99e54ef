package sandboxtest

import (
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"syscall"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/spec"
)

// Specs is a fake spec generator: a minimal spec carrying the command.
type Specs struct{ fail *Failures }

func (s *Specs) PodSpec(in spec.PodInput) (*specs.Spec, error) {
	if err := s.fail.check("pod-spec"); err != nil {
		return nil, err
	}
	return &specs.Spec{Process: &specs.Process{Args: []string{"pause"}}, Root: &specs.Root{Path: in.RootPath}}, nil
}

func (s *Specs) ContainerSpec(in spec.ContainerInput) (*specs.Spec, error) {
	if err := s.fail.check("container-spec"); err != nil {
		return nil, err
	}
	args := append(append([]string{}, in.Config.Command...), in.Config.Args...)
	sp := &specs.Spec{
		Process:     &specs.Process{Args: args, Cwd: "/", User: specs.User{UID: 0, GID: 0}},
		Root:        &specs.Root{Path: in.RootfsPath},
		Linux:       &specs.Linux{Resources: &specs.LinuxResources{}, CgroupsPath: FakeCgroupPrefix + in.ID},
		Annotations: maps.Clone(in.Config.GetAnnotations()),
	}
	// As the real one: a privileged container gets the host's devices when the host lists
	// them and may use any device, unless its handler says privileged_without_host_devices.
	if in.Config.GetLinux().GetSecurityContext().GetPrivileged() && !in.PrivilegedWithoutHostDevices {
		sp.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		if in.Host.HostDevices != nil {
			devs, err := in.Host.HostDevices()
			if err != nil {
				return nil, err
			}
			sp.Linux.Devices = devs
		}
	}
	return sp, nil
}

func (s *Specs) ImageVolumes(_ *runtimeapi.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	return slices.Sorted(maps.Keys(img.Volumes)), nil
}

func (s *Specs) StopSignal(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error) {
	if img.StopSignal == "SIGQUIT" {
		return syscall.SIGQUIT, nil
	}
	return syscall.SIGTERM, nil
}

func (s *Specs) LayerFS(layers ...fs.FS) fs.FS { return nil }
func (s *Specs) ContainerUser(sp *specs.Spec) *runtimeapi.ContainerUser {
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{Uid: int64(sp.Process.User.UID), Gid: int64(sp.Process.User.GID)}}
}

func (s *Specs) UpdateResources(sp *specs.Spec, r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error) {
	if r.CpuShares < 0 {
		return nil, fmt.Errorf("cpu_shares: negative: %w", errdefs.ErrInvalidArgument)
	}
	shares := uint64(r.CpuShares)
	lr := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}
	sp.Linux.Resources = lr
	return lr, nil
}

func (s *Specs) CRIResources(sp *specs.Spec) *runtimeapi.LinuxContainerResources {
	out := &runtimeapi.LinuxContainerResources{}
	if r := sp.Linux.Resources; r != nil && r.CPU != nil && r.CPU.Shares != nil {
		out.CpuShares = int64(*r.CPU.Shares)
	}
	return out
}
