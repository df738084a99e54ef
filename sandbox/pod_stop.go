package sandbox

import (
	"context"
	"fmt"
	"syscall"

	"github.com/crid-dev/crid/errdefs"
)

// StopPod kills the pod's containers and its infra process and releases its network
// (CNI DEL); the pod becomes NOTREADY. Idempotent; an unknown id is not an error, as
// kubelet may stop a pod crid already removed.
func (m *Manager) StopPod(ctx context.Context, id string) error {
	return m.pods.withOp(id, true, func(e *podEntry) error { return m.stopPod(ctx, e) })
}

func (m *Manager) stopPod(ctx context.Context, e *podEntry) error {
	p := e.snap.Load()
	// kubelet stops the containers itself with their grace periods before this; what
	// is still running here is killed.
	for _, c := range m.PodContainers(p.ID) {
		err := m.ctrs.withOp(c.ID, true, func(ce *ctrEntry) error { return m.stopContainer(ctx, ce, 0) })
		if err != nil {
			return fmt.Errorf("stop container %s: %w", c.ID, err)
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
	m.forgetSamples(p.ID) // its network file holds the pod's namespace
	m.forgetPodCgroup(p)
	if err == nil {
		m.nriPodEvent(ctx, "StopPodSandbox", e.snap.Load(), NRI.StopPod)
	}
	return err
}
