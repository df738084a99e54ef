package server

import (
	"context"
	"os"
	"os/exec"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Executor is what the monitor needs from the executor library (package oci).
// cmd/crid-monitor adapts oci to it; tests use ProcessExecutor. The executor
// never waits on the processes it starts: the monitor's reaper reaps them all.
type Executor interface {
	// Create sets up the container and starts its init, which waits before
	// execve until Start. Console is the pty master when Spec.Process.Terminal.
	Create(ctx context.Context, opts CreateOptions) (*Created, error)
	// Exec starts Process inside the running container whose init is ContainerPid.
	Exec(ctx context.Context, opts ExecOptions) (pid int, console *os.File, err error)
	// CreatePodInfra creates (or joins) the pod's namespaces and starts the pause process.
	CreatePodInfra(ctx context.Context, spec *specs.Spec) (pid int, err error)
	Update(spec *specs.Spec, r *specs.LinuxResources) error
	OOMKilled(spec *specs.Spec) (bool, error)
	// Pids lists the processes in the container's cgroup (for Kill with all).
	Pids(spec *specs.Spec) ([]int, error)
	// Destroy removes what Create left behind (cgroups); idempotent.
	Destroy(spec *specs.Spec) error
}

// PostHooksRunner is implemented by an Executor whose runtime runs a spec's poststart
// and poststop hooks itself (an external OCI runtime does, at its start and delete): the
// monitor then leaves them to it, or they would run twice. The built-in executor runs the
// create and start stages only; the monitor runs these two.
type PostHooksRunner interface{ RunsPostHooks() bool }

// Stdio are the container's ends of its standard streams; nil means /dev/null.
type Stdio struct{ Stdin, Stdout, Stderr *os.File }

// CreateOptions are Executor.Create's input.
type CreateOptions struct {
	ID       string
	StateDir string // a directory the executor may use for this container
	Spec     *specs.Spec
	Rootfs   []specs.Mount
	Stdio    Stdio
	Bundle   string // the dir whose config.json is the spec, for hooks
	// HookWait runs hook processes through the monitor's reaper.
	HookWait func(cmd *exec.Cmd) error
}

// Created is a container whose init waits for Start.
type Created struct {
	Pid     int
	Console *os.File
	Start   func() error
}

// ExecOptions are Executor.Exec's input.
type ExecOptions struct {
	ContainerPid int
	Spec         *specs.Spec // the container's spec (namespaces, cgroup, security)
	Process      *specs.Process
	Stdio        Stdio
}
