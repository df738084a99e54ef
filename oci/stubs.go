package oci

import (
	"context"
	"errors"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var errNotYet = errors.New("oci: not implemented yet")

// Create sets the container up completely (namespaces, rootfs, cgroup, security)
// and leaves its init blocked right before execve of the user's process.
func Create(ctx context.Context, opts CreateOptions) (*Container, error) { return nil, errNotYet }

// Start releases the init to execve the user's process.
func (c *Container) Start() error { return errNotYet }

// Exec starts a process inside a running container.
func Exec(ctx context.Context, opts ExecOptions) (pid int, console *os.File, err error) {
	return 0, nil, errNotYet
}

// CreatePodInfra starts the pod's built-in pause process.
func CreatePodInfra(ctx context.Context, spec *specs.Spec) (pid int, err error) { return 0, errNotYet }

// PauseMain is the entry point of the pod infra mode.
func PauseMain() {}

// InitMain is the entry point of the container init mode.
func InitMain() {}

// UpdateResources changes the resources of a container's cgroup live.
func UpdateResources(spec *specs.Spec, r *specs.LinuxResources) error { return errNotYet }

// ReadStats reads the container's cgroup statistics.
func ReadStats(spec *specs.Spec) (*Stats, error) { return nil, errNotYet }

// OOMKilled reports whether the kernel OOM-killed a process in the container's cgroup.
func OOMKilled(spec *specs.Spec) (bool, error) { return false, errNotYet }

// Destroy kills what is left in the container's cgroup and removes it; idempotent.
func Destroy(spec *specs.Spec) error { return errNotYet }
