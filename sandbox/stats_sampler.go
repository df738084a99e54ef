package sandbox

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.StatsInterval and how long the sampler keeps going after the last
// node-wide stats request. kubelet asks every 10 s; `crictl stats` and `crid stats` every
// second: with samples refreshed every 0.5 s and used up to 1 s old (StatsMaxAge's default,
// twice the interval), two calls a second apart see samples at least 0.5 s apart.
const (
	DefaultStatsInterval = 500 * time.Millisecond
	statsIdleAfter       = time.Minute
)

// statsSamples are the last cgroup reads of running containers and the last network
// counters and cgroup pressure of ready pods. A node-wide stats request (ListContainerStats,
// ListPodSandboxStats) uses a sample at most Config.StatsMaxAge old and reads the cgroup
// itself otherwise (a call for one container or pod always reads: a few preads); while stats are being asked for, a sampler
// goroutine refreshes every sample each StatsInterval, so that a node-wide request costs
// building the answer only, however loaded the node is (cadvisor's housekeeping, CRI-O's
// stats_collection_period). The sampler stops a minute after the last request.
type statsSamples struct {
	mu      sync.Mutex
	cgroups map[string]cgroupSample // container id
	net     map[string]netSample    // pod id
	psi     map[string]psiSample    // pod id
	netDev  netDevFiles
	wanted  atomic.Int64 // wall clock (unix ns) of the last request
	wake    chan struct{}
}

type cgroupSample struct {
	stats *CgroupStats // shared by the requests that use it: read only
	nano  *uint64
	at    time.Time // Manager clock when read: the sample's age
}

type netSample struct {
	ifs []NetStats
	at  time.Time
}

// psiSample is a pod cgroup's pressure (nil where the host reports none).
type psiSample struct {
	cpu, memory, io *Pressure
	at              time.Time
}

func newStatsSamples() statsSamples {
	return statsSamples{cgroups: map[string]cgroupSample{}, net: map[string]netSample{}, psi: map[string]psiSample{}, wake: make(chan struct{}, 1)}
}

// statsWanted notes a stats request and wakes the sampler. A request calls it once it
// has read what was stale, so that the woken pass finds those samples fresh and skips them.
func (m *Manager) statsWanted() {
	m.samples.wanted.Store(time.Now().UnixNano())
	select {
	case m.samples.wake <- struct{}{}:
	default:
	}
}

// cgroupUsage returns c's cgroup figures and CPU rate: its sample if at most StatsMaxAge
// old, else read now (and kept).
func (m *Manager) cgroupUsage(c *Container) (*CgroupStats, *uint64, error) {
	now := m.now()
	m.samples.mu.Lock()
	s, ok := m.samples.cgroups[c.ID]
	m.samples.mu.Unlock()
	if ok && now.Sub(s.at) <= m.cfg.StatsMaxAge {
		return s.stats, s.nano, nil
	}
	return m.readCgroupUsage(c, now)
}

// readCgroupUsage reads c's cgroup, computes its CPU rate and keeps the sample, unless c
// was removed meanwhile (its forget may have come first).
func (m *Manager) readCgroupUsage(c *Container, now time.Time) (*CgroupStats, *uint64, error) {
	st, err := m.deps.Cgroups.Usage(c.Spec.Linux.CgroupsPath)
	if err != nil {
		return nil, nil, err
	}
	ts := st.Timestamp
	if ts.IsZero() {
		ts = now
	}
	nano := m.stats.nanoCores(c.ID, ts, st.CPUUsageNanos)
	m.samples.mu.Lock()
	e, present := m.ctrs.get(c.ID)
	running := present && e.snap.Load().State == ContainerRunning
	if running {
		if prev, ok := m.samples.cgroups[c.ID]; !ok || !prev.at.After(now) {
			m.samples.cgroups[c.ID] = cgroupSample{stats: st, nano: nano, at: now}
		}
	} else if !present {
		m.stats.forget(c.ID)
	}
	m.samples.mu.Unlock()
	if !running {
		// c is a snapshot taken while it ran: its exit (which marks it exited, then forgets
		// its cgroup) may have forgotten the cgroup before this read, which opened and kept
		// its files again, until the reader's idle sweep.
		m.deps.Cgroups.Forget(c.Spec.Linux.CgroupsPath)
	}
	return st, nano, nil
}

// podNetwork returns the pod's interface counters: its sample if at most StatsMaxAge old,
// else read now (and kept). nil when they cannot be read.
func (m *Manager) podNetwork(p *Pod) []NetStats {
	now := m.now()
	m.samples.mu.Lock()
	s, ok := m.samples.net[p.ID]
	m.samples.mu.Unlock()
	if ok && now.Sub(s.at) <= m.cfg.StatsMaxAge {
		return s.ifs
	}
	return m.readPodNetwork(p, now)
}

func (m *Manager) readPodNetwork(p *Pod, now time.Time) []NetStats {
	ifs, err := m.samples.netDev.read(p.ID, p.InfraPid)
	if err != nil {
		m.log.Debug("pod network stats", "pod", p.ID, "error", err)
		return nil
	}
	m.samples.mu.Lock()
	if _, present := m.pods.get(p.ID); present {
		m.samples.net[p.ID] = netSample{ifs: ifs, at: now}
	}
	m.samples.mu.Unlock()
	return ifs
}

// podPressure returns the pressure of the pod's cgroup (its cgroup_parent): its sample if
// at most StatsMaxAge old, else read now (and kept). A node-wide request over hundreds
// of pods then costs no file reads for it (3 per pod on v2).
func (m *Manager) podPressure(p *Pod, parent string) (cpu, memory, io *Pressure) {
	now := m.now()
	m.samples.mu.Lock()
	s, ok := m.samples.psi[p.ID]
	m.samples.mu.Unlock()
	if ok && now.Sub(s.at) <= m.cfg.StatsMaxAge {
		return s.cpu, s.memory, s.io
	}
	return m.readPodPressure(p, parent, now)
}

// readPodPressure reads the pressure of the pod's cgroup and keeps the sample, unless the
// pod stopped or went away meanwhile; nil figures when they cannot be read.
func (m *Manager) readPodPressure(p *Pod, parent string, now time.Time) (cpu, memory, io *Pressure) {
	cpu, memory, io, err := m.deps.Cgroups.Pressure(parent)
	m.samples.mu.Lock()
	e, present := m.pods.get(p.ID)
	ready := present && e.snap.Load().State == PodReady
	if ready && err == nil {
		if prev, ok := m.samples.psi[p.ID]; !ok || !prev.at.After(now) {
			m.samples.psi[p.ID] = psiSample{cpu: cpu, memory: memory, io: io, at: now}
		}
	}
	m.samples.mu.Unlock()
	if !ready {
		// p is a snapshot taken while the pod was ready: its stop (which makes it not ready,
		// then forgets its cgroup) may have forgotten the cgroup before this read, which
		// opened and kept its files again, until the reader's idle sweep.
		m.forgetPodCgroup(p)
	}
	if err != nil {
		m.log.Debug("pod pressure", "pod", p.ID, "error", err)
		return nil, nil, nil
	}
	return cpu, memory, io
}

// forgetPodCgroup lets the cgroup reader close the files it keeps for the pod's cgroup
// (its pressure): the pod stopped, and kubelet removes that cgroup after it.
func (m *Manager) forgetPodCgroup(p *Pod) {
	if parent := p.Config.GetLinux().GetCgroupParent(); parent != "" && m.deps.Cgroups != nil {
		m.deps.Cgroups.Forget(parent)
	}
}

// forgetSamples drops the samples (and the kept network file) of a container or pod that
// stopped or went away.
func (m *Manager) forgetSamples(id string) {
	m.samples.mu.Lock()
	delete(m.samples.cgroups, id)
	delete(m.samples.net, id)
	delete(m.samples.psi, id)
	m.samples.mu.Unlock()
	m.samples.netDev.forget(id)
}

// sampleStats refreshes every sample each StatsInterval while stats are asked for, until
// the Manager closes.
func (m *Manager) sampleStats() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-m.samples.wake:
			}
			t := time.NewTicker(m.cfg.StatsInterval)
			for time.Since(time.Unix(0, m.samples.wanted.Load())) < statsIdleAfter {
				m.measureStats()
				select {
				case <-m.ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			t.Stop()
		}
	}()
}

// measureStats reads every running container's cgroup and every ready pod's network
// counters and cgroup pressure, and drops the samples of the others. It skips a sample
// younger than half the interval: the last pass's samples are an interval old, so such a
// sample was read since by a request, above all by the one that woke the sampler (it read
// every stale sample itself). Skipped, a sample is under 1.5 intervals old at the next
// pass, which a request still uses as long as StatsMaxAge (twice the interval by default)
// exceeds that; a shorter StatsMaxAge shortens the skip.
func (m *Manager) measureStats() {
	now := m.now()
	fresh := min(m.cfg.StatsInterval/2, m.cfg.StatsMaxAge-m.cfg.StatsInterval)
	young := func(at time.Time) bool { return now.Sub(at) < fresh } // a missing sample's zero time is old
	ctrs, pods := m.Containers(ContainerFilter{}), m.Pods(PodFilter{})
	live := make(map[string]bool, len(ctrs)+len(pods))
	for _, c := range ctrs {
		if c.State != ContainerRunning || c.Spec == nil || c.Spec.Linux == nil || c.Spec.Linux.CgroupsPath == "" {
			continue
		}
		live[c.ID] = true
		m.samples.mu.Lock()
		s := m.samples.cgroups[c.ID]
		m.samples.mu.Unlock()
		if young(s.at) {
			continue
		}
		if _, _, err := m.readCgroupUsage(c, now); err != nil {
			m.log.Debug("container stats", "container", c.ID, "error", err)
		}
	}
	for _, p := range pods {
		if p.State != PodReady {
			continue
		}
		m.samples.mu.Lock()
		psi, net := m.samples.psi[p.ID], m.samples.net[p.ID]
		m.samples.mu.Unlock()
		if parent := p.Config.GetLinux().GetCgroupParent(); parent != "" {
			live[p.ID] = true
			if !young(psi.at) {
				m.readPodPressure(p, parent, now)
			}
		}
		if p.NetNS != "" && p.InfraPid > 0 {
			live[p.ID] = true
			if !young(net.at) {
				m.readPodNetwork(p, now)
			}
		}
	}
	m.samples.mu.Lock()
	for id := range m.samples.cgroups {
		if !live[id] {
			delete(m.samples.cgroups, id)
		}
	}
	for id := range m.samples.net {
		if !live[id] {
			delete(m.samples.net, id)
		}
	}
	for id := range m.samples.psi {
		if !live[id] {
			delete(m.samples.psi, id)
		}
	}
	m.samples.mu.Unlock()
	m.samples.netDev.keep(live)
}
