package spec

import (
	"fmt"
	"syscall"

	"github.com/crid-dev/crid/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Temporary: the API is fixed, the bodies land in the next commits.

func PodSpec(in PodInput) (*specs.Spec, error) { return nil, fmt.Errorf("PodSpec: %w", errdefs.ErrUnimplemented) }

func ContainerSpec(in ContainerInput) (*specs.Spec, error) {
	return nil, fmt.Errorf("ContainerSpec: %w", errdefs.ErrUnimplemented)
}

func ImageVolumes(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	return nil, nil
}

func StopSignal(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error) {
	return syscall.SIGTERM, nil
}

func DefaultSeccompProfile(caps []string, arch string) *specs.LinuxSeccomp { return nil }

func ParseSeccompProfile(data []byte, caps []string, arch string) (*specs.LinuxSeccomp, error) {
	return nil, fmt.Errorf("ParseSeccompProfile: %w", errdefs.ErrUnimplemented)
}
