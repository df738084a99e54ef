package sandbox

// CPUSamples is how many CPU samples the stats cache holds (for leak tests).
func (m *Manager) CPUSamples() int {
	m.stats.mu.Lock()
	defer m.stats.mu.Unlock()
	return len(m.stats.samples)
}
