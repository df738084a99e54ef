package sandboxtest

import (
	"maps"
	"slices"
	"sync"
)

// Mounter is a fake of the sandbox's own mounts.
type Mounter struct {
	fail   *Failures
	mu     sync.Mutex
	Mounts map[string]bool
}

func (m *Mounter) MountShm(path string, _ int64) error {
	if err := m.fail.check("shm"); err != nil {
		return err
	}
	m.mu.Lock()
	m.Mounts[path] = true
	m.mu.Unlock()
	return nil
}

func (m *Mounter) MountOverlayRO(_ []string, target string) error {
	m.mu.Lock()
	m.Mounts[target] = true
	m.mu.Unlock()
	return nil
}

func (m *Mounter) Unmount(path string) error {
	m.mu.Lock()
	delete(m.Mounts, path)
	m.mu.Unlock()
	return nil
}

// Live returns the mounted paths.
func (m *Mounter) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.Mounts))
}
