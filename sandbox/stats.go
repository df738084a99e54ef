package sandbox

import (
	"context"
	"slices"
	"strings"
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
	cs := &ContainerStats{}
	m.containerStats(cs, c, readLive)
	return cs, nil
}

// ListContainerStats returns the usage of the containers f selects.
func (m *Manager) ListContainerStats(_ context.Context, f ContainerFilter) []*ContainerStats {
	defer m.statsWanted() // after its reads: see statsWanted
	ctrs := m.Containers(f)
	all := make([]ContainerStats, len(ctrs)) // one allocation per answer, not per container
	out := make([]*ContainerStats, len(ctrs))
	for i, c := range ctrs {
		m.containerStats(&all[i], c, readSampled)
		out[i] = &all[i]
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

func (m *Manager) containerStats(cs *ContainerStats, c *Container, how statsRead) {
	detail := how == readDetail
	*cs = ContainerStats{Container: c, Timestamp: time.Now()}
	cs.Fs, cs.FsTimestamp = m.fsUsage(c.ID, m.now())
	if c.State != ContainerRunning || c.Spec == nil || c.Spec.Linux == nil || c.Spec.Linux.CgroupsPath == "" {
		return
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
		return
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
}

// openCgroup has the cgroup reader open, in the background, the files it keeps for the
// started container c's cgroup: opening a cgroup file can wait for the kernel's cgroup
// locks while other cgroups are made or removed (13 ms seen at 110 pods), a read of an
// open one does not, so the first ContainerStats (which reads now) or node-wide pass
// over c costs reads only. Not on the start's own path, for the same reason.
func (m *Manager) openCgroup(c *Container) {
	m.inBackground(func() { m.openCgroupNow(c) })
}

// openRecoveredCgroups is openCgroup for every container found running at a restart, one
// after the other: kubelet's first node-wide stats call would otherwise open them all.
func (m *Manager) openRecoveredCgroups() {
	ctrs := m.Containers(ContainerFilter{State: ptr(ContainerRunning)})
	m.inBackground(func() {
		for _, c := range ctrs {
			if m.ctx.Err() != nil {
				return
			}
			m.openCgroupNow(c)
		}
	})
}

func (m *Manager) inBackground(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if m.ctx.Err() == nil {
			f()
		}
	}()
}

func (m *Manager) openCgroupNow(c *Container) {
	if c == nil || c.State != ContainerRunning || c.Spec == nil || c.Spec.Linux == nil || c.Spec.Linux.CgroupsPath == "" || m.deps.Cgroups == nil {
		return
	}
	m.deps.Cgroups.Open(c.Spec.Linux.CgroupsPath)
	if e, present := m.ctrs.get(c.ID); !present || e.snap.Load().State != ContainerRunning {
		// Its exit (which forgets the cgroup) may have come before the open.
		m.deps.Cgroups.Forget(c.Spec.Linux.CgroupsPath)
	}
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
	return m.podStatsOf([]*Pod{p}, [][]*Container{m.PodContainers(p.ID)}, readLive)[0], nil
}

// ListPodStats returns the usage of the pods f selects.
func (m *Manager) ListPodStats(_ context.Context, f PodFilter) []*PodStats {
	defer m.statsWanted() // after its reads: see statsWanted
	pods := m.Pods(f)
	return m.podStatsOf(pods, m.containersOf(pods), readSampled)
}

// podStatsOf builds the stats of pods, pods[i]'s containers being ctrs[i], in four
// allocations (pods, containers, pointers to each) whatever their number: a node-wide
// answer at 250 pods made ~1000 small objects per call.
func (m *Manager) podStatsOf(pods []*Pod, ctrs [][]*Container, how statsRead) []*PodStats {
	n := 0
	for _, pc := range ctrs {
		n += len(pc)
	}
	all := make([]PodStats, len(pods))
	cs, csPtr := make([]ContainerStats, n), make([]*ContainerStats, n)
	out := make([]*PodStats, len(pods))
	for i, p := range pods {
		pc := ctrs[i]
		k := len(pc)
		m.podStats(&all[i], p, pc, how, cs[:k:k], csPtr[:k:k])
		cs, csPtr = cs[k:], csPtr[k:]
		out[i] = &all[i]
	}
	return out
}

// containersOf is containersByPod for pods, in their order.
func (m *Manager) containersOf(pods []*Pod) [][]*Container {
	byPod := m.containersByPod()
	out := make([][]*Container, len(pods))
	for i, p := range pods {
		out[i] = byPod[p.ID]
	}
	return out
}

// containersByPod groups every container by pod, oldest first (PodContainers' order), in
// one pass: a node-wide list asking PodContainers per pod would scan every container of
// the node once per pod. One sort of them all by pod and age, and each pod's group a
// slice of it: no slice grown per pod.
func (m *Manager) containersByPod() map[string][]*Container {
	entries := m.ctrs.all()
	ctrs := make([]*Container, len(entries))
	for i, e := range entries {
		ctrs[i] = e.snap.Load()
	}
	slices.SortFunc(ctrs, func(a, b *Container) int {
		if c := strings.Compare(a.PodID, b.PodID); c != 0 {
			return c
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	by := make(map[string][]*Container, len(ctrs))
	for i := 0; i < len(ctrs); {
		j := i + 1
		for j < len(ctrs) && ctrs[j].PodID == ctrs[i].PodID {
			j++
		}
		by[ctrs[i].PodID] = ctrs[i:j:j]
		i = j
	}
	return by
}

// ListPodMetrics is ListPodStats with each running container's CgroupDetail, for the
// cadvisor-style metrics.
func (m *Manager) ListPodMetrics(context.Context) []*PodStats {
	pods := m.Pods(PodFilter{})
	return m.podStatsOf(pods, m.containersOf(pods), readDetail)
}

// podStats fills ps with p's usage, its containers' in cs and csPtr (as long as ctrs).
func (m *Manager) podStats(ps *PodStats, p *Pod, ctrs []*Container, how statsRead, cs []ContainerStats, csPtr []*ContainerStats) {
	detail := how == readDetail
	*ps = PodStats{Pod: p}
	if len(ctrs) > 0 {
		ps.Containers = csPtr
	}
	for i, c := range ctrs {
		cs := &cs[i]
		m.containerStats(cs, c, how)
		csPtr[i] = cs
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
}
