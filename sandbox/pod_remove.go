package sandbox

import (
	"context"
	"fmt"
)

// RemovePod stops the pod if needed and removes it with its containers, network
// namespace, /dev/shm, state dir, monitor and record. Idempotent; unknown ids succeed.
func (m *Manager) RemovePod(ctx context.Context, id string) error {
	return m.pods.withOp(id, true, func(e *podEntry) error { return m.removePod(ctx, e) })
}

func (m *Manager) removePod(ctx context.Context, e *podEntry) error {
	// The intent first: a crash from here on finishes the removal at the next start.
	if _, err := m.updatePod(e, nil, func(p *Pod) bool {
		if p.Phase == PhaseRemoving {
			return false
		}
		p.Phase = PhaseRemoving
		return true
	}); err != nil {
		return err
	}
	if err := m.stopPod(ctx, e); err != nil {
		return err
	}
	for _, c := range m.PodContainers(e.id()) {
		if err := m.RemoveContainer(ctx, c.ID); err != nil {
			return fmt.Errorf("remove container %s: %w", c.ID, err)
		}
	}
	return m.forgetPod(ctx, e)
}

// forgetPod releases everything of a stopped pod with no containers and drops it.
func (m *Manager) forgetPod(ctx context.Context, e *podEntry) error {
	p := e.snap.Load()
	var mon Monitor
	if ref := e.mon.Swap(nil); ref != nil {
		mon = ref.Monitor
	}
	if err := m.releasePod(ctx, p, mon); err != nil {
		return err
	}
	m.pods.remove(p.ID, p.key())
	m.podNames.forget(p.key())
	m.stats.forget(p.ID)
	m.forgetSamples(p.ID)
	m.forgetPodCgroup(p)
	m.events.publish(Event{Type: EventDeleted, ID: p.ID, Pod: p, At: m.now()})
	m.log.Info("pod sandbox removed", "pod", p.ID)
	m.nriPodEvent(ctx, "RemovePodSandbox", p, NRI.RemovePod)
	return nil
}
