package sandboxtest

import (
	"strings"
	"time"

	"github.com/crid-dev/crid/sandbox"
)

// FakeCgroupPrefix starts the cgroupsPath of every container spec the fake
// Specs make: FakeCgroupPrefix + container id.
const FakeCgroupPrefix = "/fake/"

// Cgroups is a fake cgroup reader.
type Cgroups struct {
	// StatsFunc answers Stats for a container id; nil returns fixed figures.
	StatsFunc func(id string) (*sandbox.CgroupStats, error)
}

func (c *Cgroups) Stats(cgroupsPath string) (*sandbox.CgroupStats, error) {
	if f := c.StatsFunc; f != nil {
		return f(strings.TrimPrefix(cgroupsPath, FakeCgroupPrefix))
	}
	return &sandbox.CgroupStats{Timestamp: time.Now(), CPUUsageNanos: 1e9, MemoryUsage: 2 << 20, MemoryWorkingSet: 1 << 20, Pids: 1}, nil
}

func (c *Cgroups) Procs(string) []int { return nil }
