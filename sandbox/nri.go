package sandbox

import (
	"context"
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/errdefs"
)

// nriPodEvent tells NRI plugins of a pod event; they cannot undo it, so a failure is
// logged.
func (m *Manager) nriPodEvent(ctx context.Context, event string, p *Pod, fn func(NRI, context.Context, *Pod) error) {
	if m.deps.NRI == nil || p == nil {
		return
	}
	if err := fn(m.deps.NRI, ctx, p); err != nil {
		m.log.Warn("NRI plugins failed an event", "event", event, "pod", p.ID, "error", err)
	}
}

// nriContainerEvent is nriPodEvent for a container event.
func (m *Manager) nriContainerEvent(ctx context.Context, event string, c *Container, fn func(NRI, context.Context, *Pod, *Container) error) {
	if m.deps.NRI == nil || c == nil {
		return
	}
	pe, ok := m.pods.get(c.PodID)
	if !ok {
		return
	}
	if err := fn(m.deps.NRI, ctx, pe.snap.Load(), c); err != nil {
		m.log.Warn("NRI plugins failed an event", "event", event, "container", c.ID, "error", err)
	}
}

// nriUpdate lets NRI plugins change lr, the resources about to be set on c; what they ask
// for replaces the fields it sets, in lr and in s, c's new spec.
func (m *Manager) nriUpdate(ctx context.Context, c *Container, s *specs.Spec, lr *specs.LinuxResources) (*specs.LinuxResources, error) {
	if m.deps.NRI == nil || lr == nil {
		return lr, nil
	}
	pe, ok := m.pods.get(c.PodID)
	if !ok {
		return lr, nil
	}
	got, err := m.deps.NRI.UpdateContainer(ctx, pe.snap.Load(), c, lr)
	if err != nil {
		return nil, fmt.Errorf("NRI: %w", err)
	}
	if got == nil {
		return lr, nil
	}
	for _, dst := range []*specs.LinuxResources{lr, s.Linux.Resources} {
		if err := overlayResources(dst, got); err != nil {
			return nil, err
		}
	}
	return lr, nil
}

// overlayResources sets on dst the fields r sets: decoding over dst keeps the others.
func overlayResources(dst, r *specs.LinuxResources) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

// nriStopped tells NRI plugins once that an EXITED container stopped, as containerd does
// for a stop and for the container's own exit alike.
func (m *Manager) nriStopped(ctx context.Context, e *ctrEntry) {
	c := e.snap.Load()
	if m.deps.NRI == nil || c.State != ContainerExited {
		return
	}
	e.nriStop.Do(func() { m.nriContainerEvent(ctx, "StopContainer", c, NRI.StopContainer) })
}

// UpdateContainerOCIResources applies resources an NRI plugin asked for to a created or
// running container: the fields r sets replace the container's, the others stay.
func (m *Manager) UpdateContainerOCIResources(ctx context.Context, id string, r *specs.LinuxResources) error {
	if r == nil {
		return fmt.Errorf("resources: missing: %w", errdefs.ErrInvalidArgument)
	}
	return m.ctrs.withOp(id, false, func(e *ctrEntry) error {
		c, s, err := updatableSpec(e)
		if err != nil {
			return err
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		if err := overlayResources(s.Linux.Resources, r); err != nil {
			return err
		}
		return m.applyResources(ctx, e, c, s, r)
	})
}
