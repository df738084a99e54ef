package sandbox

import (
	"sync"
	"time"
)

// Defaults of Config.FsUsageInterval and Config.FsUsageMaxAge. kubelet polls stats every
// 10 s (housekeeping) and cadvisor refreshes its disk usage every minute or so; containerd
// syncs snapshot usage every 10 s.
const (
	DefaultFsUsageInterval = 10 * time.Second
	DefaultFsUsageMaxAge   = 30 * time.Second
)

// fsUsageCache holds each container's writable-layer usage as the background collector
// last measured it. Walking a layer costs a stat per file; a node with 110 containers
// would do it on every stats call kubelet makes, so requests read this cache only and
// never walk.
type fsUsageCache struct {
	mu      sync.Mutex
	samples map[string]fsSample
	// kick asks the collector for a pass now: a request found a container it has no
	// sample of (a new container), so the next poll has one. Buffered: kicks coalesce.
	kick chan struct{}
}

type fsSample struct {
	usage *FsUsage  // shared by the stats answers that report it: read only
	at    time.Time // when its walk started: the figures are at least this fresh
}

func newFsUsageCache() fsUsageCache {
	return fsUsageCache{samples: map[string]fsSample{}, kick: make(chan struct{}, 1)}
}

// fsUsage returns container id's last sample if it is at most the configured max age old
// at now; otherwise nil, and the collector is asked for a pass. Never walks.
func (m *Manager) fsUsage(id string, now time.Time) (*FsUsage, time.Time) {
	m.fs.mu.Lock()
	s, ok := m.fs.samples[id]
	m.fs.mu.Unlock()
	if ok && now.Sub(s.at) <= m.cfg.FsUsageMaxAge {
		return s.usage, s.at
	}
	select {
	case m.fs.kick <- struct{}{}:
	default:
	}
	return nil, time.Time{}
}

// WritableLayersUsage sums the collector's samples of every container's writable layer
// (those at most FsUsageMaxAge old): ImageFsInfo's container filesystem, which kubelet's
// eviction manager asks for every 10 s, without walking every layer of the node.
func (m *Manager) WritableLayersUsage() (usedBytes, inodes uint64) {
	now := m.now()
	m.fs.mu.Lock()
	defer m.fs.mu.Unlock()
	for _, s := range m.fs.samples {
		if now.Sub(s.at) <= m.cfg.FsUsageMaxAge {
			usedBytes += s.usage.UsedBytes
			inodes += s.usage.InodesUsed
		}
	}
	return usedBytes, inodes
}

// collectFsUsage measures writable layers every FsUsageInterval, and when a request asks
// for one it has no sample of, until the Manager closes.
func (m *Manager) collectFsUsage() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(m.cfg.FsUsageInterval)
		defer t.Stop()
		for {
			select {
			case <-m.ctx.Done():
				return
			case <-t.C:
			case <-m.fs.kick:
			}
			m.measureFsUsage()
		}
	}()
}

// measureFsUsage walks, one after the other, the writable layer of each container whose
// sample is missing or older than half the interval (so a kicked pass measures only the
// new ones), and drops the samples of containers no longer known. A container removed
// during its walk leaves no sample.
func (m *Manager) measureFsUsage() {
	interval := m.cfg.FsUsageInterval
	if interval <= 0 {
		interval = DefaultFsUsageInterval // no background passes: only explicit ones
	}
	fresh := interval / 2
	live := map[string]bool{}
	for _, c := range m.Containers(ContainerFilter{}) {
		live[c.ID] = true
		m.fs.mu.Lock()
		s, ok := m.fs.samples[c.ID]
		m.fs.mu.Unlock()
		at := m.now()
		if ok && at.Sub(s.at) < fresh {
			continue
		}
		if m.ctx.Err() != nil {
			return
		}
		m.sampleFsUsage(c.ID, at)
	}
	m.fs.mu.Lock()
	for id := range m.fs.samples {
		if !live[id] {
			delete(m.fs.samples, id)
		}
	}
	m.fs.mu.Unlock()
}

// sampleFsUsage walks container id's writable layer and keeps the figures as of at (when
// the walk started), unless the container was removed meanwhile.
func (m *Manager) sampleFsUsage(id string, at time.Time) {
	u, err := m.deps.Images.RootfsUsage(id)
	if err != nil {
		m.log.Debug("writable layer usage", "container", id, "error", err)
		return
	}
	m.fs.mu.Lock()
	if _, present := m.ctrs.get(id); present && !m.fs.samples[id].at.After(at) {
		m.fs.samples[id] = fsSample{usage: &u, at: at}
	}
	m.fs.mu.Unlock()
}

// forgetFsUsage drops a removed container's sample.
func (m *Manager) forgetFsUsage(id string) {
	m.fs.mu.Lock()
	delete(m.fs.samples, id)
	m.fs.mu.Unlock()
}
