package sandboxtest

import (
	"strings"
	"sync"
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
	// PressureFunc answers Pressure for a cgroupsPath (a pod's cgroup_parent); nil
	// reports none, as on v1.
	PressureFunc func(cgroupsPath string) (cpu, memory, io *sandbox.Pressure, err error)

	mu        sync.Mutex
	forgotten []string
	opened    []string
}

func (c *Cgroups) Stats(cgroupsPath string) (*sandbox.CgroupStats, error) {
	if f := c.StatsFunc; f != nil {
		return f(strings.TrimPrefix(cgroupsPath, FakeCgroupPrefix))
	}
	return &sandbox.CgroupStats{Timestamp: time.Now(), CPUUsageNanos: 1e9, MemoryUsage: 2 << 20, MemoryWorkingSet: 1 << 20, Pids: 1}, nil
}

func (c *Cgroups) Usage(cgroupsPath string) (*sandbox.CgroupStats, error) {
	return c.Stats(cgroupsPath)
}

func (c *Cgroups) Pressure(cgroupsPath string) (cpu, memory, io *sandbox.Pressure, err error) {
	if f := c.PressureFunc; f != nil {
		return f(cgroupsPath)
	}
	return nil, nil, nil, nil
}

// Open records the cgroupsPath opened.
func (c *Cgroups) Open(cgroupsPath string) { c.record(&c.opened, cgroupsPath) }

// Opened returns the cgroupsPaths Open was called with, in order.
func (c *Cgroups) Opened() []string { return c.calls(&c.opened) }

// Forget records the cgroupsPath forgotten.
func (c *Cgroups) Forget(cgroupsPath string) { c.record(&c.forgotten, cgroupsPath) }

// Forgotten returns the cgroupsPaths Forget was called with, in order.
func (c *Cgroups) Forgotten() []string { return c.calls(&c.forgotten) }

func (c *Cgroups) record(calls *[]string, cgroupsPath string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*calls = append(*calls, cgroupsPath)
}

func (c *Cgroups) calls(calls *[]string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), *calls...)
}

func (c *Cgroups) Procs(string) []int { return nil }
