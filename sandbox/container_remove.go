package sandbox

import "context"

// RemoveContainer kills the container if needed and removes its process record, rootfs,
// dir and record. Idempotent; unknown ids succeed.
func (m *Manager) RemoveContainer(ctx context.Context, id string) error {
	return m.ctrs.withOp(id, true, func(e *ctrEntry) error { return m.removeContainer(ctx, e) })
}

func (m *Manager) removeContainer(ctx context.Context, e *ctrEntry) error {
	if err := m.stopContainer(ctx, e, 0); err != nil {
		return err
	}
	// The intent first: a crash from here on finishes the removal at the next start.
	c, _, err := m.updateContainer(e, nil, func(c *Container) bool {
		if c.Phase == PhaseRemoving {
			return false
		}
		c.Phase = PhaseRemoving
		return true
	})
	if err != nil {
		return err
	}
	var mon Monitor
	if pe, ok := m.pods.get(c.PodID); ok {
		mon, _ = m.monitor(pe)
	}
	if err := m.releaseContainer(ctx, c, mon); err != nil {
		return err
	}
	m.ctrs.remove(c.ID, c.key())
	m.ctrNames.forget(c.key())
	m.stats.forget(c.ID)
	m.forgetFsUsage(c.ID)
	m.forgetCgroup(c)
	m.forgetSamples(c.ID)
	m.publishContainer(EventDeleted, c)
	m.nriContainerEvent(ctx, "RemoveContainer", c, NRI.RemoveContainer)
	return nil
}
