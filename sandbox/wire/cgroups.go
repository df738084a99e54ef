package wire

import (
	"context"
	"fmt"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/sandbox"
)

// Cgroups reads containers' cgroups in the host's tree (package cgroups); Usage keeps
// each running container's files open (cgroups.UsageReader).
type Cgroups struct {
	Tree   cgroups.Tree
	Reader *cgroups.UsageReader
}

// NewCgroups returns the reader of tree's cgroups.
func NewCgroups(tree cgroups.Tree) Cgroups { return Cgroups{Tree: tree, Reader: tree.NewUsageReader()} }

// Stats reads every figure of the cgroup (through the library: all controllers), for the
// cadvisor-style metrics.
func (a Cgroups) Stats(cgroupsPath string) (*sandbox.CgroupStats, error) {
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	c, err := a.Tree.Load(p)
	if err != nil {
		return nil, err
	}
	s, err := c.Stats()
	if err != nil {
		return nil, err
	}
	return toSandboxStats(s), nil
}

// Usage reads only what the CRI stats messages carry, from the cgroup files directly.
func (a Cgroups) Usage(cgroupsPath string) (*sandbox.CgroupStats, error) {
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	var s cgroups.Stats
	if err := a.Reader.Usage(p, &s); err != nil {
		return nil, err
	}
	return toSandboxStats(&s), nil
}

// Open opens the files Usage keeps for the cgroup, by reading it once.
func (a Cgroups) Open(cgroupsPath string) {
	if p, err := cgroups.ParsePath(cgroupsPath); err == nil {
		var s cgroups.Stats
		_ = a.Reader.Usage(p, &s) // a cgroup already gone is Usage's error to report later
	}
}

// Forget closes the files Usage keeps open for the cgroup.
func (a Cgroups) Forget(cgroupsPath string) {
	if p, err := cgroups.ParsePath(cgroupsPath); err == nil {
		a.Reader.Forget(p)
	}
}

// Pressure reads the cgroup's pressure stall information (nil on v1, at no cost) through
// the files Usage's reader keeps open.
func (a Cgroups) Pressure(cgroupsPath string) (cpu, memory, io *sandbox.Pressure, err error) {
	if !a.Tree.Unified {
		return nil, nil, nil, nil
	}
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return nil, nil, nil, err
	}
	c, m, i, err := a.Reader.Pressure(p)
	if err != nil {
		return nil, nil, nil, err
	}
	return pressure(c), pressure(m), pressure(i), nil
}

func toSandboxStats(s *cgroups.Stats) *sandbox.CgroupStats {
	out := &sandbox.CgroupStats{
		Timestamp:     s.Timestamp,
		CPUUsageNanos: s.CPUUsageNanos, CPUUserNanos: s.CPUUserNanos, CPUSystemNanos: s.CPUSystemNanos,
		CPUPeriods: s.CPUPeriods, CPUThrottledPeriods: s.CPUThrottledPeriods, CPUThrottledNanos: s.CPUThrottledNanos,
		MemoryUsage: s.MemoryUsage, MemoryWorkingSet: s.MemoryWorkingSet, MemoryRSS: s.MemoryRSS, MemoryLimit: s.MemoryLimit,
		MemoryCache: s.MemoryCache, MemoryMappedFile: s.MemoryMappedFile, MemoryKernel: s.MemoryKernel,
		MemoryMaxUsage: s.MemoryMaxUsage, MemoryFailcnt: s.MemoryFailcnt, MemorySwap: s.MemorySwap,
		PageFaults: s.PageFaults, MajorPageFaults: s.MajorPageFaults, OOMEvents: s.OOMEvents,
		Pids: s.Pids, PidsLimit: s.PidsLimit,
		CPUPressure: pressure(s.CPUPressure), MemoryPressure: pressure(s.MemoryPressure), IOPressure: pressure(s.IOPressure),
	}
	for _, d := range s.IO {
		out.IO = append(out.IO, sandbox.BlkioDevice{Major: d.Major, Minor: d.Minor,
			ReadBytes: d.ReadBytes, WriteBytes: d.WriteBytes, Reads: d.Reads, Writes: d.Writes})
	}
	return out
}

func pressure(p *cgroups.Pressure) *sandbox.Pressure {
	if p == nil {
		return nil
	}
	line := func(l *cgroups.PressureLine) *sandbox.PressureLine {
		if l == nil {
			return nil
		}
		return &sandbox.PressureLine{Avg10: l.Avg10, Avg60: l.Avg60, Avg300: l.Avg300, TotalMicros: l.TotalMicros}
	}
	return &sandbox.Pressure{Some: line(p.Some), Full: line(p.Full)}
}

func (a Cgroups) Procs(cgroupsPath string) []int {
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return nil
	}
	return a.Tree.Procs(p)
}

// MonitorSlice holds each pod's monitor scope on a systemd host: the slice
// crid.service itself runs in by default.
const MonitorSlice = "system.slice"

// MonitorScope is the systemd unit of a pod's monitor.
func MonitorScope(podID string) string { return "crid-monitor-" + podID + ".scope" }

// monitorScope moves a freshly started monitor out of crid's unit into a
// scope of its own, before it starts any container: `systemctl stop crid`
// (KillMode=process) and `systemctl restart crid` then leave the pod alone,
// and systemd accounts the monitor apart from the daemon. With both cgroup
// drivers: it is about crid's own unit, not the containers'.
func monitorScope(ctx context.Context, podID, stateDir string) error {
	pid, _, err := api.ReadPidFile(stateDir)
	if err != nil {
		return fmt.Errorf("monitor of pod %s: %w", podID, err)
	}
	if err := cgroups.StartScope(ctx, MonitorScope(podID), MonitorSlice, pid, false); err != nil {
		return fmt.Errorf("monitor of pod %s: own scope: %w", podID, err)
	}
	return nil
}
