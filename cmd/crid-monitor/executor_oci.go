//go:build !crid_procexec

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci"
	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/oci/monitor/server"
	_ "github.com/crid-dev/crid/oci/nsenter" // the executor re-executes this binary as init, exec and pause
)

// dispatchExecutorModes runs the container init or the pause process when the
// executor re-executed this binary for them; they never return.
func dispatchExecutorModes() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case oci.InitArg:
			oci.InitMain()
		case oci.PauseArg:
			oci.PauseMain()
		case oci.ProbeKernelArg:
			oci.ProbeKernelMain()
		}
	}
}

// newExecutor: kern is the daemon's kernel probe (nil: oci probes once itself).
func newExecutor(kern *kernel.Features) server.Executor {
	return &ociExecutor{tree: cgroups.HostTree(), kernel: kern, oom: map[*specs.Spec]*cgroups.OOMWatch{}}
}

// ociExecutor adapts package oci (and package cgroups for what happens to a
// container's cgroup after Create) to the monitor's Executor.
type ociExecutor struct {
	tree   cgroups.Tree
	kernel *kernel.Features
	mu     sync.Mutex
	oom    map[*specs.Spec]*cgroups.OOMWatch // per created container: its OOM kills outlive a systemd scope
}

func (e *ociExecutor) Create(ctx context.Context, o server.CreateOptions) (*server.Created, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, err
	}
	c, err := oci.Create(ctx, oci.CreateOptions{
		ID: o.ID, StateDir: o.StateDir, Spec: o.Spec, Rootfs: o.Rootfs, Cgroups: e.tree,
		Stdio:  oci.Stdio{Stdin: o.Stdio.Stdin, Stdout: o.Stdio.Stdout, Stderr: o.Stdio.Stderr},
		Kernel: e.kernel, Bundle: o.Bundle, HookWait: o.HookWait,
	})
	if err != nil {
		return nil, wireCode(err)
	}
	w, err := e.tree.WatchOOM(c.Cgroup)
	if err != nil {
		_ = e.tree.Destroy(c.Cgroup)
		return nil, fmt.Errorf("container %s: watch OOM kills: %w", o.ID, err)
	}
	e.mu.Lock()
	e.oom[o.Spec] = w
	e.mu.Unlock()
	return &server.Created{Pid: c.Pid, Console: c.Console, Start: func() error { return wireCode(c.Start()) }}, nil
}

func (e *ociExecutor) Exec(ctx context.Context, o server.ExecOptions) (int, *os.File, error) {
	pid, console, err := oci.Exec(ctx, oci.ExecOptions{
		ContainerPid: o.ContainerPid, Spec: o.Spec, Process: o.Process, Cgroups: e.tree,
		Stdio:  oci.Stdio{Stdin: o.Stdio.Stdin, Stdout: o.Stdio.Stdout, Stderr: o.Stdio.Stderr},
		Kernel: e.kernel,
	})
	return pid, console, wireCode(err)
}

func (e *ociExecutor) CreatePodInfra(ctx context.Context, spec *specs.Spec) (int, error) {
	pid, err := oci.CreatePodInfra(ctx, spec, e.tree)
	return pid, wireCode(err)
}

// wireCode gives an executor error the wire code of its cause, so that the daemon
// answers InvalidArgument for a spec the executor refuses (a missing executable,
// an unknown sysctl); any other error stays internal.
func wireCode(err error) error {
	if errors.Is(err, oci.ErrInvalidSpec) {
		return api.WithCode(api.CodeInvalidArgument, err)
	}
	return err
}

// cgroupPath is the container's resolved cgroup; "" when the spec names none
// (nothing was put in a cgroup).
func cgroupPath(spec *specs.Spec) (string, error) {
	if spec == nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return "", nil
	}
	return cgroups.ParsePath(spec.Linux.CgroupsPath)
}

func (e *ociExecutor) load(spec *specs.Spec) (*cgroups.Cgroup, error) {
	p, err := cgroups.ParsePath(spec.Linux.CgroupsPath)
	if err != nil {
		return nil, err
	}
	return e.tree.Load(p)
}

func (e *ociExecutor) Update(spec *specs.Spec, r *specs.LinuxResources) error {
	c, err := e.load(spec)
	if err != nil {
		return err
	}
	return updateCode(c.Update(r))
}

// updateCode gives a resource update's error the wire code of the kernel's answer:
// a value it refuses (EINVAL, ERANGE: a CPU period below 1 ms...) is the request's
// fault, a limit it cannot apply now (EBUSY: on cgroup v1 a memory limit below the
// usage) a failed precondition.
func updateCode(err error) error {
	switch {
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ERANGE):
		return api.WithCode(api.CodeInvalidArgument, err)
	case errors.Is(err, unix.EBUSY):
		return api.WithCode(api.CodeFailedPrecondition, err)
	}
	return err
}

// OOMKilled reports whether the kernel OOM-killed a process in the container's
// cgroup (any process, as containerd and CRI-O report it).
func (e *ociExecutor) OOMKilled(spec *specs.Spec) (bool, error) {
	e.mu.Lock()
	w := e.oom[spec]
	e.mu.Unlock()
	if w != nil {
		n, err := w.Count()
		return n > 0, err
	}
	// A container created by an earlier monitor: its cgroup is read directly.
	p, err := cgroups.ParsePath(spec.Linux.CgroupsPath)
	if err != nil {
		return false, err
	}
	n, err := e.tree.OOMKills(p)
	return n > 0, err
}

func (e *ociExecutor) Destroy(spec *specs.Spec) error {
	e.mu.Lock()
	if w := e.oom[spec]; w != nil {
		w.Close()
		delete(e.oom, spec)
	}
	e.mu.Unlock()
	p, err := cgroupPath(spec)
	if err != nil || p == "" {
		return err
	}
	return e.tree.Destroy(p)
}

// Pids lists the processes in the container's cgroup and its children.
func (e *ociExecutor) Pids(spec *specs.Spec) ([]int, error) {
	p, err := cgroupPath(spec)
	if err != nil || p == "" {
		return nil, err
	}
	return e.tree.Procs(p), nil
}

// Supervision tells the monitor's C body where the container's processes and OOM
// kills are (server.Supervisable).
func (e *ociExecutor) Supervision(spec *specs.Spec) (server.Supervision, error) {
	p, err := cgroupPath(spec)
	if err != nil || p == "" {
		return server.Supervision{}, err
	}
	return server.Supervision{
		CgroupProcs: e.tree.ProcsDirs(p),
		OOMFile:     e.tree.OOMFile(p), OOMKey: "oom_kill", OOMWatch: e.tree.OOMVanishes(p),
	}, nil
}

// Adopt follows the OOM kills of a container an earlier body of the monitor created
// (server.Adopter), as Create does.
func (e *ociExecutor) Adopt(spec *specs.Spec, _ int) error {
	p, err := cgroupPath(spec)
	if err != nil || p == "" {
		return err
	}
	w, err := e.tree.WatchOOM(p)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.oom[spec] = w
	e.mu.Unlock()
	return nil
}

var _ server.Supervisable = (*ociExecutor)(nil)
