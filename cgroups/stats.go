package cgroups

import (
	"fmt"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Stats are the resource usage figures of a container's cgroup.
type Stats struct {
	Timestamp           time.Time
	CPUUsageNanos       uint64 // total CPU time consumed
	CPUUserNanos        uint64
	CPUSystemNanos      uint64
	CPUPeriods          uint64 // CFS enforcement periods elapsed
	CPUThrottledPeriods uint64
	CPUThrottledNanos   uint64
	MemoryWorkingSet    uint64 // usage - inactive_file (what kubelet evicts on)
	MemoryUsage         uint64
	MemoryRSS           uint64
	MemoryLimit         uint64 // 0 = unlimited
	MemoryCache         uint64
	MemoryMappedFile    uint64
	MemoryKernel        uint64
	MemoryMaxUsage      uint64 // peak usage (memory.peak on v2: kernel >= 5.19)
	MemoryFailcnt       uint64 // times the limit was hit (v2: memory.events max)
	MemorySwap          uint64 // swap in use
	PageFaults          uint64
	MajorPageFaults     uint64
	OOMEvents           uint64 // OOM kills in the cgroup so far
	Pids                uint64 // current number of tasks
	PidsLimit           uint64 // 0 = unlimited
	IO                  []IODevice
	// Pressure stall information (v2 only; nil where the kernel does not
	// report it, e.g. booted with psi=0).
	CPUPressure, MemoryPressure, IOPressure *Pressure
}

// IODevice is the I/O of the cgroup on one block device.
type IODevice struct {
	Major, Minor                         uint64
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// Pressure is one resource's pressure stall information: the share of time
// some (or all, Full) tasks of the cgroup waited for it.
type Pressure struct {
	Some, Full *PressureLine // Full is nil for CPU on kernels before 5.13
}

// PressureLine is one line of a *.pressure file.
type PressureLine struct {
	Avg10, Avg60, Avg300 float64 // percent
	TotalMicros          uint64  // cumulative stall time
}

// unlimited turns the kernel's "no limit" figures into 0.
func unlimited(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// Stats reads the cgroup's statistics.
func (c *Cgroup) Stats() (*Stats, error) {
	if c.v2 != nil {
		m, err := c.v2.Stat()
		if err != nil {
			return nil, fmt.Errorf("cgroup %s stats: %w", c.path, err)
		}
		return v2Stats(m), nil
	}
	m, err := c.v1.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s stats: %w", c.path, err)
	}
	s := v1Stats(m)
	s.OOMEvents, _ = c.tree.OOMKills(c.path)
	return s, nil
}

func v2Stats(m *v2stats.Metrics) *Stats {
	s := &Stats{Timestamp: time.Now()}
	if cpu := m.GetCPU(); cpu != nil {
		s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = cpu.UsageUsec*1000, cpu.UserUsec*1000, cpu.SystemUsec*1000
		s.CPUPeriods, s.CPUThrottledPeriods, s.CPUThrottledNanos = cpu.NrPeriods, cpu.NrThrottled, cpu.ThrottledUsec*1000
		s.CPUPressure = pressure(cpu.GetPSI())
	}
	if mm := m.GetMemory(); mm != nil {
		s.MemoryUsage, s.MemoryRSS, s.MemoryCache = mm.Usage, mm.Anon, mm.File
		s.MemoryMappedFile, s.MemoryKernel = mm.FileMapped, mm.KernelStack+mm.Slab
		s.MemoryLimit = unlimited(mm.UsageLimit)
		s.MemoryMaxUsage, s.MemorySwap = mm.MaxUsage, mm.SwapUsage
		s.PageFaults, s.MajorPageFaults = mm.Pgfault, mm.Pgmajfault
		s.MemoryWorkingSet = workingSet(mm.Usage, mm.InactiveFile)
		s.MemoryPressure = pressure(mm.GetPSI())
	}
	if e := m.GetMemoryEvents(); e != nil {
		s.OOMEvents, s.MemoryFailcnt = e.OomKill, e.Max
	}
	if p := m.GetPids(); p != nil {
		s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
	}
	if io := m.GetIo(); io != nil {
		for _, e := range io.Usage {
			s.IO = append(s.IO, IODevice{Major: e.Major, Minor: e.Minor, ReadBytes: e.Rbytes, WriteBytes: e.Wbytes, Reads: e.Rios, Writes: e.Wios})
		}
		s.IOPressure = pressure(io.GetPSI())
	}
	return s
}

func pressure(p *v2stats.PSIStats) *Pressure {
	if p == nil || (p.Some == nil && p.Full == nil) {
		return nil
	}
	line := func(d *v2stats.PSIData) *PressureLine {
		if d == nil {
			return nil
		}
		return &PressureLine{Avg10: d.Avg10, Avg60: d.Avg60, Avg300: d.Avg300, TotalMicros: d.Total}
	}
	return &Pressure{Some: line(p.Some), Full: line(p.Full)}
}

func v1Stats(m *v1stats.Metrics) *Stats {
	s := &Stats{Timestamp: time.Now()}
	if cpu := m.GetCPU(); cpu != nil {
		if u := cpu.Usage; u != nil {
			s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = u.Total, u.User, u.Kernel
		}
		if t := cpu.Throttling; t != nil {
			s.CPUPeriods, s.CPUThrottledPeriods, s.CPUThrottledNanos = t.Periods, t.ThrottledPeriods, t.ThrottledTime
		}
	}
	if mm := m.GetMemory(); mm != nil && mm.Usage != nil {
		s.MemoryUsage = mm.Usage.Usage
		s.MemoryLimit = unlimited(mm.Usage.Limit)
		s.MemoryMaxUsage, s.MemoryFailcnt = mm.Usage.Max, mm.Usage.Failcnt
		s.MemoryRSS, s.MemoryCache, s.MemoryMappedFile = mm.TotalRSS, mm.TotalCache, mm.TotalMappedFile
		s.PageFaults, s.MajorPageFaults = mm.TotalPgFault, mm.TotalPgMajFault
		s.MemoryWorkingSet = workingSet(mm.Usage.Usage, mm.TotalInactiveFile)
		if mm.Kernel != nil {
			s.MemoryKernel = mm.Kernel.Usage
		}
		if mm.Swap != nil && mm.Swap.Usage > mm.Usage.Usage {
			s.MemorySwap = mm.Swap.Usage - mm.Usage.Usage // memsw counts memory + swap
		}
	}
	if p := m.GetPids(); p != nil {
		s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
	}
	if b := m.GetBlkio(); b != nil {
		s.IO = blkioDevices(b)
	}
	return s
}

// blkioDevices folds v1's per-operation blkio entries into one row per device.
func blkioDevices(b *v1stats.BlkIOStat) []IODevice {
	var out []IODevice
	dev := func(maj, mnr uint64) *IODevice {
		for i := range out {
			if out[i].Major == maj && out[i].Minor == mnr {
				return &out[i]
			}
		}
		out = append(out, IODevice{Major: maj, Minor: mnr})
		return &out[len(out)-1]
	}
	for _, e := range b.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			dev(e.Major, e.Minor).ReadBytes += e.Value
		case "write":
			dev(e.Major, e.Minor).WriteBytes += e.Value
		}
	}
	for _, e := range b.IoServicedRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			dev(e.Major, e.Minor).Reads += e.Value
		case "write":
			dev(e.Major, e.Minor).Writes += e.Value
		}
	}
	return out
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}
