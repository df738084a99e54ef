package sandbox

import (
	"context"
	"fmt"
	"syscall"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// StopPod kills the pod's containers and its infra process and releases its network
// (CNI DEL); the pod becomes NOTREADY. Idempotent; an unknown id is not an error, as
// kubelet may stop a pod crid already removed.
func (m *Manager) StopPod(ctx context.Context, id string) error {
	e, err := m.lookupPod(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	return m.stopPod(ctx, e)
}

func (m *Manager) stopPod(ctx context.Context, e *podEntry) error {
	p := e.snap.Load()
	// kubelet stops the containers itself with their grace periods before this; what
	// is still running here is killed.
	for _, c := range m.PodContainers(p.ID) {
		if ce, err := m.lookupContainer(c.ID); err == nil {
			ce.op.Lock()
			err = m.stopContainer(ctx, ce, 0)
			ce.op.Unlock()
			if err != nil {
				return fmt.Errorf("stop container %s: %w", c.ID, err)
			}
		}
	}
	if mon, err := m.monitor(e); err == nil {
		if err := mon.Kill(ctx, InfraID, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("kill pod infra: %w", err)
		}
	}
	if p.NetNS != "" && !p.NetworkDown {
		if err := m.deps.Network.Teardown(ctx, netPod(p)); err != nil {
			return fmt.Errorf("network teardown: %w", err)
		}
	}
	if _, err := m.updatePod(e, nil, func(p *Pod) bool {
		changed := p.NetNS != "" && !p.NetworkDown
		p.NetworkDown = p.NetNS != ""
		return changed
	}); err != nil {
		return err
	}
	_, err := m.updatePod(e, ptr(EventStopped), func(p *Pod) bool {
		if p.State == PodNotReady {
			return false // already announced (a second stop, or the infra died)
		}
		p.State = PodNotReady
		return true
	})
	return err
}

// RemovePod stops the pod if needed and removes it with its containers, network
// namespace, /dev/shm, state dir, monitor and record. Idempotent; unknown ids succeed.
func (m *Manager) RemovePod(ctx context.Context, id string) error {
	e, err := m.lookupPod(id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	e.op.Lock()
	defer e.op.Unlock()
	if _, gone := m.podEntry(e.snap.Load().ID); gone {
		return nil // removed while we waited for the lock
	}
	// The intent first: a crash from here on finishes the removal at the next start.
	m.updatePod(e, nil, func(p *Pod) bool { p.Phase = PhaseRemoving; return true })
	if err := m.stopPod(ctx, e); err != nil {
		return err
	}
	for _, c := range m.PodContainers(e.snap.Load().ID) {
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
	if err := m.rollbackPod(ctx, p, mon); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.pods, p.ID)
	if m.podByName[p.key()] == p.ID {
		delete(m.podByName, p.key())
	}
	m.mu.Unlock()
	m.podNames.forget(p.key())
	m.stats.forget(p.ID)
	m.events.publish(Event{Type: EventDeleted, ID: p.ID, Pod: p, At: timeNow()})
	m.log.Info("pod sandbox removed", "pod", p.ID)
	return nil
}

// podEntry reports whether id is (still) in the index; gone is true when it is not.
func (m *Manager) podEntry(id string) (*podEntry, bool) {
	m.mu.RLock()
	e, ok := m.pods[id]
	m.mu.RUnlock()
	return e, !ok
}

// UpdatePodResources records the pod-level resources kubelet set. kubelet owns the pod's
// cgroup (cgroup_parent) and writes those limits itself; crid's containers live below it,
// so there is nothing to apply, only to remember for status.
func (m *Manager) UpdatePodResources(ctx context.Context, id string, r *runtimeapi.LinuxContainerResources) error {
	if r == nil { // bad input is refused whatever the pod
		return fmt.Errorf("resources: missing: %w", errdefs.ErrInvalidArgument)
	}
	e, err := m.lookupPod(id)
	if err != nil {
		return err
	}
	_, err = m.updatePod(e, nil, func(p *Pod) bool { p.Resources = r; return true })
	return err
}
