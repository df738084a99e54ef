package sandbox

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
