package cgroups

import (
	"fmt"
	"time"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// Stats are the resource usage figures of a container's cgroup.
type Stats struct {
	Timestamp        time.Time
	CPUUsageNanos    uint64 // total CPU time consumed
	CPUUserNanos     uint64
	CPUSystemNanos   uint64
	MemoryWorkingSet uint64 // usage - inactive_file (what kubelet evicts on)
	MemoryUsage      uint64
	MemoryRSS        uint64
	MemoryLimit      uint64 // 0 = unlimited
	MemoryCache      uint64
	PageFaults       uint64
	MajorPageFaults  uint64
	OOMEvents        uint64 // OOM kills in the cgroup so far
	Pids             uint64 // current number of tasks
	PidsLimit        uint64 // 0 = unlimited
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
	s := &Stats{Timestamp: time.Now()}
	if c.v2 != nil {
		m, err := c.v2.Stat()
		if err != nil {
			return nil, fmt.Errorf("cgroup %s stats: %w", c.path, err)
		}
		if cpu := m.GetCPU(); cpu != nil {
			s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = cpu.UsageUsec*1000, cpu.UserUsec*1000, cpu.SystemUsec*1000
		}
		if mm := m.GetMemory(); mm != nil {
			s.MemoryUsage, s.MemoryRSS, s.MemoryCache = mm.Usage, mm.Anon, mm.File
			s.MemoryLimit = unlimited(mm.UsageLimit)
			s.PageFaults, s.MajorPageFaults = mm.Pgfault, mm.Pgmajfault
			s.MemoryWorkingSet = workingSet(mm.Usage, mm.InactiveFile)
		}
		if e := m.GetMemoryEvents(); e != nil {
			s.OOMEvents = e.OomKill
		}
		if p := m.GetPids(); p != nil {
			s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
		}
		return s, nil
	}
	m, err := c.v1.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s stats: %w", c.path, err)
	}
	if cpu := m.GetCPU(); cpu != nil && cpu.Usage != nil {
		s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = cpu.Usage.Total, cpu.Usage.User, cpu.Usage.Kernel
	}
	if mm := m.GetMemory(); mm != nil && mm.Usage != nil {
		s.MemoryUsage = mm.Usage.Usage
		s.MemoryLimit = unlimited(mm.Usage.Limit)
		s.MemoryRSS, s.MemoryCache = mm.TotalRSS, mm.TotalCache
		s.PageFaults, s.MajorPageFaults = mm.TotalPgFault, mm.TotalPgMajFault
		s.MemoryWorkingSet = workingSet(mm.Usage.Usage, mm.TotalInactiveFile)
	}
	if p := m.GetPids(); p != nil {
		s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
	}
	s.OOMEvents, _ = c.tree.OOMKills(c.path)
	return s, nil
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}
