package sandbox

import "time"

// CPUSamples is how many CPU samples the stats cache holds (for leak tests).
func (m *Manager) CPUSamples() int {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	return len(m.stats.samples)
}

// SetCrashPoint makes a failed RunPod or CreateContainer leave what it made, as a
// daemon crash at that step would (see Manager.crashPoint).
func (m *Manager) SetCrashPoint(on bool) { m.crashPoint.Store(on) }

// CloseStore closes the bbolt store under the Manager, so that every later write fails.
func (m *Manager) CloseStore() error { return m.store.close() }

// SetClock pins the Manager's clock (set it before the first call that reads it).
func (m *Manager) SetClock(now func() time.Time) { m.now = now }

// MeasureFsUsage runs one pass of the writable-layer collector now.
func (m *Manager) MeasureFsUsage() { m.measureFsUsage() }

// FsSamples is how many writable-layer samples the collector holds (for leak tests).
func (m *Manager) FsSamples() int {
	m.fs.mu.Lock()
	defer m.fs.mu.Unlock()
	return len(m.fs.samples)
}

// MeasureStats runs one pass of the stats sampler now.
func (m *Manager) MeasureStats() { m.measureStats() }

// StatsSamples is how many cgroup and network samples the Manager holds (for leak tests).
func (m *Manager) StatsSamples() int {
	m.samples.mu.Lock()
	defer m.samples.mu.Unlock()
	return len(m.samples.cgroups) + len(m.samples.net)
}
