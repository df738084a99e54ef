package sandbox

import (
	"context"
	"encoding/json"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// UpdateContainerResources applies new limits to a created or running container and keeps
// them in its spec, so status and a restart see them.
func (m *Manager) UpdateContainerResources(ctx context.Context, id string, r *runtimeapi.LinuxContainerResources) error {
	if r == nil {
		return fmt.Errorf("linux: missing: %w", errdefs.ErrInvalidArgument)
	}
	return m.ctrs.withOp(id, false, func(e *ctrEntry) error { return m.updateResources(ctx, e, r) })
}

func (m *Manager) updateResources(ctx context.Context, e *ctrEntry, r *runtimeapi.LinuxContainerResources) error {
	c, s, err := updatableSpec(e)
	if err != nil {
		return err
	}
	lr, err := m.deps.Specs.UpdateResources(s, r)
	if err != nil {
		return err
	}
	if lr, err = m.nriUpdate(ctx, c, s, lr); err != nil {
		return err
	}
	if err := m.applyResources(ctx, e, c, s, lr); err != nil {
		return err
	}
	m.nriContainerEvent(ctx, "PostUpdateContainer", e.snap.Load(), NRI.ContainerUpdated)
	return nil
}

// updatableSpec is a copy of the spec of a container whose resources may change.
func updatableSpec(e *ctrEntry) (*Container, *specs.Spec, error) {
	c := e.snap.Load()
	if c.State != ContainerCreated && c.State != ContainerRunning {
		return nil, nil, fmt.Errorf("container %s is %s: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	s, err := cloneSpec(c.Spec)
	return c, s, err
}

// applyResources sets lr on the container's cgroup, then keeps s, its spec with them.
func (m *Manager) applyResources(ctx context.Context, e *ctrEntry, c *Container, s *specs.Spec, lr *specs.LinuxResources) error {
	mon, err := m.podMonitor(c.PodID)
	if err != nil {
		return err
	}
	if err := mon.Update(ctx, c.ID, lr); err != nil {
		return fmt.Errorf("update resources: %w", err)
	}
	_, _, err = m.updateContainer(e, nil, func(c *Container) bool { c.Spec = s; return true })
	return err
}

// cloneSpec deep-copies a spec: snapshots are immutable, so changes go to a copy.
func cloneSpec(s *specs.Spec) (*specs.Spec, error) {
	if s == nil {
		return &specs.Spec{}, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var out specs.Spec
	return &out, json.Unmarshal(b, &out)
}

// ReopenContainerLog makes the monitor reopen the container's log file (after kubelet
// rotated it).
func (m *Manager) ReopenContainerLog(ctx context.Context, id string) error {
	e, err := m.ctrs.lookup(id)
	if err != nil {
		return err
	}
	c := e.snap.Load()
	if c.State != ContainerRunning {
		return fmt.Errorf("container %s is %s, not RUNNING: %w", c.ID, c.State, errdefs.ErrFailedPrecondition)
	}
	mon, err := m.podMonitor(c.PodID)
	if err != nil {
		return err
	}
	return mon.ReopenLog(ctx, c.ID)
}

// ContainerResources are the container's current limits as CRI spells them.
func (m *Manager) ContainerResources(c *Container) *runtimeapi.LinuxContainerResources {
	if c.Spec == nil || c.Spec.Linux == nil {
		return nil
	}
	return m.deps.Specs.CRIResources(c.Spec)
}

// ContainerUser is the identity the container's process runs as.
func (m *Manager) ContainerUser(c *Container) *runtimeapi.ContainerUser {
	if c.Spec == nil || c.Spec.Process == nil {
		return nil
	}
	return m.deps.Specs.ContainerUser(c.Spec)
}
