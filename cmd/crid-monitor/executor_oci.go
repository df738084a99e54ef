//go:build !crid_procexec

package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/oci"
	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/oci/monitor/server"
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

func newExecutor() server.Executor { return &ociExecutor{cgroups: map[*specs.Spec]string{}} }

// ociExecutor adapts package oci to the monitor's Executor.
type ociExecutor struct {
	mu      sync.Mutex
	cgroups map[*specs.Spec]string // resolved cgroup of each created container
}

func (e *ociExecutor) Create(ctx context.Context, o server.CreateOptions) (*server.Created, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, err
	}
	c, err := oci.Create(ctx, oci.CreateOptions{
		ID: o.ID, StateDir: o.StateDir, Spec: o.Spec, Rootfs: o.Rootfs,
		Stdio: oci.Stdio{Stdin: o.Stdio.Stdin, Stdout: o.Stdio.Stdout, Stderr: o.Stdio.Stderr},
	})
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.cgroups[o.Spec] = c.Cgroup
	e.mu.Unlock()
	return &server.Created{Pid: c.Pid, Console: c.Console, Start: c.Start}, nil
}

func (e *ociExecutor) Exec(ctx context.Context, o server.ExecOptions) (int, *os.File, error) {
	return oci.Exec(ctx, oci.ExecOptions{
		ContainerPid: o.ContainerPid, Spec: o.Spec, Process: o.Process,
		Stdio: oci.Stdio{Stdin: o.Stdio.Stdin, Stdout: o.Stdio.Stdout, Stderr: o.Stdio.Stderr},
	})
}

func (e *ociExecutor) CreatePodInfra(ctx context.Context, spec *specs.Spec) (int, error) {
	return oci.CreatePodInfra(ctx, spec)
}

func (e *ociExecutor) Update(spec *specs.Spec, r *specs.LinuxResources) error {
	return oci.UpdateResources(spec, r)
}

func (e *ociExecutor) Stats(spec *specs.Spec) (*api.Stats, error) {
	s, err := oci.ReadStats(spec)
	if err != nil {
		return nil, err
	}
	return &api.Stats{
		Timestamp: s.Timestamp, CPUUsageNanos: s.CPUUsageNanos, CPUUserNanos: s.CPUUserNanos,
		CPUSystemNanos: s.CPUSystemNanos, MemoryUsageBytes: s.MemoryUsage, MemoryWorkingSetBytes: s.MemoryWorkingSet,
		MemoryRSSBytes: s.MemoryRSS, MemoryLimitBytes: s.MemoryLimit, PageFaults: s.PageFaults,
		MajorPageFaults: s.MajorPageFaults, Pids: s.Pids,
	}, nil
}

func (e *ociExecutor) OOMKilled(spec *specs.Spec) (bool, error) { return oci.OOMKilled(spec) }

func (e *ociExecutor) Destroy(spec *specs.Spec) error {
	if spec == nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return nil // nothing was put in a cgroup
	}
	err := oci.Destroy(spec)
	if err == nil {
		e.mu.Lock()
		delete(e.cgroups, spec)
		e.mu.Unlock()
	}
	return err
}

// Pids reads cgroup.procs of the container's cgroup (and its children) in one
// hierarchy: the pids (v1) or the unified one; every task is in both.
func (e *ociExecutor) Pids(spec *specs.Spec) ([]int, error) {
	e.mu.Lock()
	cg, ok := e.cgroups[spec]
	e.mu.Unlock()
	if !ok {
		if spec == nil || spec.Linux == nil || !strings.HasPrefix(spec.Linux.CgroupsPath, "/") {
			return nil, nil
		}
		cg = filepath.Clean(spec.Linux.CgroupsPath)
	}
	if cg == "" || cg == "/" {
		return nil, nil // never the root cgroup: that is the whole host
	}
	var pids []int
	for _, root := range []string{"/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup"} {
		dir := filepath.Join(root, cg)
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
			continue
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			return nil
		})
		return pids, err
	}
	return nil, nil
}
