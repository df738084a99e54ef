package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// statsTimeout bounds how long one monitor may take to report a container's figures, so
// one stuck pod cannot stall kubelet's stats for the whole node.
const statsTimeout = 2 * time.Second

// ContainerStats are one container's usage at Timestamp.
type ContainerStats struct {
	Container *Container
	Timestamp time.Time
	// Cgroup is nil when the container has no live cgroup (not running, or its
	// monitor did not answer).
	Cgroup *CgroupStats
	// NanoCores is the CPU use since the previous sample; nil on the first sample.
	NanoCores *uint64
	Fs        *FsUsage // nil when the writable layer could not be measured
	// Detail is filled only for metrics (ListPodMetrics), and only for running containers.
	Detail *CgroupDetail
}

// NetStats are one interface's counters.
type NetStats struct {
	Name                                 string
	RxBytes, RxErrors, TxBytes, TxErrors uint64
	RxPackets, RxDropped                 uint64
	TxPackets, TxDropped                 uint64
}

// PodStats are a pod's usage: the sum of its containers, and its network.
type PodStats struct {
	Pod        *Pod
	Timestamp  time.Time
	CPUNanos   uint64
	NanoCores  *uint64
	Memory     CgroupStats // the summed memory and pids figures
	Network    []NetStats  // nil for host-network pods (kubelet reads the node's)
	Containers []*ContainerStats
}

type cpuSample struct {
	at    time.Time
	usage uint64
}

type statsCache struct {
	mu      sync.Mutex
	samples map[string]cpuSample
}

// nanoCores records usage at `at` for id and returns the rate since the last sample.
func (s *statsCache) nanoCores(id string, at time.Time, usage uint64) *uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.samples[id]
	s.samples[id] = cpuSample{at: at, usage: usage}
	if !ok || !at.After(prev.at) || usage < prev.usage {
		return nil
	}
	v := uint64(float64(usage-prev.usage) / float64(at.Sub(prev.at).Nanoseconds()) * 1e9)
	return &v
}

func (s *statsCache) forget(id string) {
	s.mu.Lock()
	delete(s.samples, id)
	s.mu.Unlock()
}

// ContainerStats returns one container's usage.
func (m *Manager) ContainerStats(ctx context.Context, id string) (*ContainerStats, error) {
	c, err := m.Container(id)
	if err != nil {
		return nil, err
	}
	return m.containerStats(ctx, c, false, nil), nil
}

// ListContainerStats returns the usage of the containers f selects.
func (m *Manager) ListContainerStats(ctx context.Context, f ContainerFilter) []*ContainerStats {
	var out []*ContainerStats
	stuck := map[string]bool{}
	for _, c := range m.Containers(f) {
		out = append(out, m.containerStats(ctx, c, false, stuck))
	}
	return out
}

// containerStats measures c. stuck (may be nil) holds the pods whose monitor timed out
// earlier in the same pass: their other containers are not asked again, so a stuck
// monitor costs one statsTimeout per pass, not one per container.
func (m *Manager) containerStats(ctx context.Context, c *Container, detail bool, stuck map[string]bool) *ContainerStats {
	cs := &ContainerStats{Container: c, Timestamp: time.Now()}
	if u, err := m.deps.Images.RootfsUsage(c.ID); err == nil {
		cs.Fs = &u
	}
	if c.State != ContainerRunning || stuck[c.PodID] {
		return cs
	}
	mon, err := m.podMonitor(c.PodID)
	if err != nil {
		return cs
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	st, err := mon.Stats(ctx, c.ID)
	if err != nil {
		m.log.Debug("container stats", "container", c.ID, "error", err)
		if stuck != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			stuck[c.PodID] = true
		}
		return cs
	}
	if !st.Timestamp.IsZero() {
		cs.Timestamp = st.Timestamp
	}
	cs.Cgroup = st
	cs.NanoCores = m.stats.nanoCores(c.ID, cs.Timestamp, st.CPUUsageNanos)
	m.mu.RLock()
	_, present := m.ctrs[c.ID]
	m.mu.RUnlock()
	if !present {
		m.stats.forget(c.ID) // removed while we measured: its forget may have come first
	}
	if detail {
		if cs.Detail = readCgroupDetail(c.Pid); cs.Detail != nil && cs.Fs != nil {
			statfsInto(cs.Detail, cs.Fs.Mountpoint)
		}
	}
	return cs
}

// PodStats returns one pod's usage.
func (m *Manager) PodStats(ctx context.Context, id string) (*PodStats, error) {
	p, err := m.Pod(id)
	if err != nil {
		return nil, err
	}
	return m.podStats(ctx, p, false, map[string]bool{}), nil
}

// ListPodStats returns the usage of the pods f selects.
func (m *Manager) ListPodStats(ctx context.Context, f PodFilter) []*PodStats {
	var out []*PodStats
	stuck := map[string]bool{}
	for _, p := range m.Pods(f) {
		out = append(out, m.podStats(ctx, p, false, stuck))
	}
	return out
}

// ListPodMetrics is ListPodStats with each running container's CgroupDetail, for the
// cadvisor-style metrics.
func (m *Manager) ListPodMetrics(ctx context.Context) []*PodStats {
	var out []*PodStats
	stuck := map[string]bool{}
	for _, p := range m.Pods(PodFilter{}) {
		out = append(out, m.podStats(ctx, p, true, stuck))
	}
	return out
}

func (m *Manager) podStats(ctx context.Context, p *Pod, detail bool, stuck map[string]bool) *PodStats {
	ps := &PodStats{Pod: p, Timestamp: time.Now()}
	for _, c := range m.PodContainers(p.ID) {
		cs := m.containerStats(ctx, c, detail, stuck)
		ps.Containers = append(ps.Containers, cs)
		if st := cs.Cgroup; st != nil {
			ps.CPUNanos += st.CPUUsageNanos
			ps.Memory.MemoryUsage += st.MemoryUsage
			ps.Memory.MemoryWorkingSet += st.MemoryWorkingSet
			ps.Memory.MemoryRSS += st.MemoryRSS
			ps.Memory.PageFaults += st.PageFaults
			ps.Memory.MajorPageFaults += st.MajorPageFaults
			ps.Memory.Pids += st.Pids
		}
	}
	ps.NanoCores = m.stats.nanoCores(p.ID, ps.Timestamp, ps.CPUNanos)
	if _, gone := m.podEntry(p.ID); gone {
		m.stats.forget(p.ID)
	}
	if p.NetNS != "" && p.InfraPid > 0 && p.State == PodReady {
		// /proc/<pid>/net/dev shows the namespace of that process: the pod's.
		if ifs, err := readNetDev(fmt.Sprintf("/proc/%d/net/dev", p.InfraPid)); err == nil {
			ps.Network = ifs
		}
	}
	return ps
}

// readNetDev parses /proc/net/dev, leaving out the loopback.
func readNetDev(path string) ([]NetStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []NetStats
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue // the two header lines
		}
		name = strings.TrimSpace(name)
		fields := strings.Fields(rest)
		if name == "lo" || len(fields) < 12 {
			continue
		}
		n := func(i int) uint64 { v, _ := strconv.ParseUint(fields[i], 10, 64); return v }
		// receive: bytes packets errs drop ...; transmit (from field 8): the same.
		out = append(out, NetStats{
			Name: name, RxBytes: n(0), RxPackets: n(1), RxErrors: n(2), RxDropped: n(3),
			TxBytes: n(8), TxPackets: n(9), TxErrors: n(10), TxDropped: n(11),
		})
	}
	return out, sc.Err()
}
