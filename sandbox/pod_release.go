package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// releasePod releases whatever of a pod exists, in reverse order of making, and deletes
// its record. Each step is idempotent, so it serves a failed RunPod, recover() for a pod
// a crash cut short, and RemovePod alike. On error the record stays: the next start (or
// the next RemovePodSandbox) tries again.
func (m *Manager) releasePod(ctx context.Context, p *Pod, mon Monitor) error {
	var errs []error
	if mon != nil {
		if err := mon.Shutdown(ctx); err != nil {
			m.log.Warn("monitor shutdown failed; cleaning up after it", "pod", p.ID, "error", err)
		}
		mon.Close()
	}
	// Whatever the monitor left (processes, cgroups) if it could not shut down cleanly.
	if err := m.deps.Runtime.Cleanup(p.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("monitor cleanup: %w", err))
	}
	if p.NetNS != "" {
		if !p.NetworkDown {
			if err := m.deps.Network.Teardown(ctx, netPod(p)); err != nil {
				errs = append(errs, fmt.Errorf("network teardown: %w", err))
			}
		}
		if err := m.deps.Network.RemoveNetNS(p.NetNS); err != nil {
			errs = append(errs, fmt.Errorf("remove netns: %w", err))
		}
	}
	if p.ShmMounted {
		if err := m.deps.Mounter.Unmount(filepath.Join(p.Dir, "shm")); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// Keep the record: the next start (or the next RemovePodSandbox) tries again.
		err := errors.Join(errs...)
		m.log.Error("pod cleanup incomplete", "pod", p.ID, "error", err)
		return err
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("remove pod dir: %w", err)
	}
	return m.store.deletePod(p.ID)
}
