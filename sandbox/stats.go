package sandbox

import (
	"context"
	"sort"
	"sync"
	"time"
)

// ContainerStats are one container's usage at Timestamp.
type ContainerStats struct {
	Container *Container
	Timestamp time.Time
	// Cgroup is nil when the container has no live cgroup (not running, or
	// its cgroup could not be read).
	Cgroup *CgroupStats
	// NanoCores is the CPU use since the previous sample; nil on the first sample.
	NanoCores *uint64
	// Fs is the writable layer's usage as the background collector last measured it,
	// at FsTimestamp; nil when it has no sample at most Config.FsUsageMaxAge old.
	Fs          *FsUsage
	FsTimestamp time.Time
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
	// Pressure of the pod's own cgroup (its cgroup_parent, which kubelet makes
	// per pod): stall times cannot be summed from the containers'. Nil for a
	// pod without a cgroup_parent of its own, or where the host reports no PSI.
	CPUPressure, MemoryPressure, IOPressure *Pressure
}

type cpuSample struct {
	at    time.Time
	usage uint64
	rate  *uint64 // the rate computed when this sample was taken
}

type statsCache struct {
	mu      sync.Mutex
	samples map[string]cpuSample
}

// nanoCores records usage at `at` for id and returns the rate since the last sample. The
// same sample asked again (a cached cgroup read) gets the rate computed the first time.
func (s *statsCache) nanoCores(id string, at time.Time, usage uint64) *uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.samples[id]
	if ok && at.Equal(prev.at) && usage == prev.usage {
		return prev.rate
	}
	var rate *uint64
	if ok && at.After(prev.at) && usage >= prev.usage {
		v := uint64(float64(usage-prev.usage) / float64(at.Sub(prev.at).Nanoseconds()) * 1e9)
		rate = &v
	}
	s.samples[id] = cpuSample{at: at, usage: usage, rate: rate}
	return rate
}

func (s *statsCache) forget(id string) {
	s.mu.Lock()
	delete(s.samples, id)
	s.mu.Unlock()
}

// ContainerStats returns one container's usage.
func (m *Manager) ContainerStats(_ context.Context, id string) (*ContainerStats, error) {
	c, err := m.Container(id)
	if err != nil {
		return nil, err
	}
	return m.containerStats(c, readLive), nil
}

// ListContainerStats returns the usage of the containers f selects.
func (m *Manager) ListContainerStats(_ context.Context, f ContainerFilter) []*ContainerStats {
	m.statsWanted()
	var out []*ContainerStats
	for _, c := range m.Containers(f) {
		out = append(out, m.containerStats(c, readSampled))
	}
	return out
}

// containerStats measures c from its cgroup, read here in the daemon: no call
// to the pod's monitor, so a node's stats cost file reads only, and a stuck
// monitor cannot hold them up.
// How a stats call reads cgroups: one container or pod is read now (a few preads), a
// node-wide list uses the samples (stats_sampler.go), the metrics read every controller.
type statsRead int

const (
	readLive statsRead = iota
	readSampled
	readDetail
)

func (m *Manager) containerStats(c *Container, how statsRead) *ContainerStats {
	detail := how == readDetail
	cs := &ContainerStats{Container: c, Timestamp: time.Now()}
	cs.Fs, cs.FsTimestamp = m.fsUsage(c.ID, m.now())
	if c.State != ContainerRunning || c.Spec == nil || c.Spec.Linux == nil || c.Spec.Linux.CgroupsPath == "" {
		return cs
	}
	cgroupsPath := c.Spec.Linux.CgroupsPath
	var st *CgroupStats
	var err error
	if detail {
		// The metrics want every controller's figures, read now; they carry no rate.
		st, err = m.deps.Cgroups.Stats(cgroupsPath)
	} else if how == readSampled {
		st, cs.NanoCores, err = m.cgroupUsage(c)
	} else {
		st, cs.NanoCores, err = m.readCgroupUsage(c, m.now())
	}
	if err != nil {
		m.log.Debug("container stats", "container", c.ID, "error", err)
		return cs
	}
	if !st.Timestamp.IsZero() {
		cs.Timestamp = st.Timestamp
	}
	cs.Cgroup = st
	if detail {
		if cs.Detail = readCgroupDetail(m.deps.Cgroups.Procs(cgroupsPath)); cs.Fs != nil {
			statfsInto(cs.Detail, cs.Fs.Mountpoint)
		}
	}
	return cs
}

// forgetCgroup lets the cgroup reader close what it keeps for c's cgroup: c has exited
// (its cgroup goes with it) or is being removed.
func (m *Manager) forgetCgroup(c *Container) {
	if c == nil || c.Spec == nil || c.Spec.Linux == nil || c.Spec.Linux.CgroupsPath == "" || m.deps.Cgroups == nil {
		return
	}
	m.forgetSamples(c.ID)
	m.deps.Cgroups.Forget(c.Spec.Linux.CgroupsPath)
}

// PodStats returns one pod's usage.
func (m *Manager) PodStats(_ context.Context, id string) (*PodStats, error) {
	p, err := m.Pod(id)
	if err != nil {
		return nil, err
	}
	return m.podStats(p, m.PodContainers(p.ID), readLive), nil
}

// ListPodStats returns the usage of the pods f selects.
func (m *Manager) ListPodStats(_ context.Context, f PodFilter) []*PodStats {
	m.statsWanted()
	pods := m.Pods(f)
	byPod := m.containersByPod()
	out := make([]*PodStats, 0, len(pods))
	for _, p := range pods {
		out = append(out, m.podStats(p, byPod[p.ID], readSampled))
	}
	return out
}

// containersByPod groups every container by pod, oldest first (PodContainers' order), in
// one pass: a node-wide list asking PodContainers per pod would scan every container of
// the node once per pod.
func (m *Manager) containersByPod() map[string][]*Container {
	by := map[string][]*Container{}
	for _, e := range m.ctrs.all() {
		c := e.snap.Load()
		by[c.PodID] = append(by[c.PodID], c)
	}
	for _, cs := range by {
		sort.Slice(cs, func(i, j int) bool { return cs[i].CreatedAt.Before(cs[j].CreatedAt) })
	}
	return by
}

// ListPodMetrics is ListPodStats with each running container's CgroupDetail, for the
// cadvisor-style metrics.
func (m *Manager) ListPodMetrics(context.Context) []*PodStats {
	byPod := m.containersByPod()
	var out []*PodStats
	for _, p := range m.Pods(PodFilter{}) {
		out = append(out, m.podStats(p, byPod[p.ID], readDetail))
	}
	return out
}

func (m *Manager) podStats(p *Pod, ctrs []*Container, how statsRead) *PodStats {
	detail := how == readDetail
	ps := &PodStats{Pod: p}
	for _, c := range ctrs {
		cs := m.containerStats(c, how)
		ps.Containers = append(ps.Containers, cs)
		if st := cs.Cgroup; st != nil {
			// The pod's figures are as of its newest container sample (they may be
			// cached): the same samples give the same time, so the same rate.
			if cs.Timestamp.After(ps.Timestamp) {
				ps.Timestamp = cs.Timestamp
			}
			ps.CPUNanos += st.CPUUsageNanos
			ps.Memory.MemoryUsage += st.MemoryUsage
			ps.Memory.MemoryWorkingSet += st.MemoryWorkingSet
			ps.Memory.MemoryRSS += st.MemoryRSS
			ps.Memory.PageFaults += st.PageFaults
			ps.Memory.MajorPageFaults += st.MajorPageFaults
			ps.Memory.Pids += st.Pids
		}
	}
	if ps.Timestamp.IsZero() {
		ps.Timestamp = time.Now()
	}
	if !detail {
		ps.NanoCores = m.stats.nanoCores(p.ID, ps.Timestamp, ps.CPUNanos)
		if _, present := m.pods.get(p.ID); !present {
			m.stats.forget(p.ID)
		}
	}
	if parent := p.Config.GetLinux().GetCgroupParent(); parent != "" && p.State == PodReady {
		if how == readSampled {
			ps.CPUPressure, ps.MemoryPressure, ps.IOPressure = m.podPressure(p, parent)
		} else {
			ps.CPUPressure, ps.MemoryPressure, ps.IOPressure = m.readPodPressure(p, parent, m.now())
		}
	}
	if p.NetNS != "" && p.InfraPid > 0 && p.State == PodReady {
		if how == readSampled {
			ps.Network = m.podNetwork(p)
		} else {
			ps.Network = m.readPodNetwork(p, m.now())
		}
	}
	return ps
}
