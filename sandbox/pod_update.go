package sandbox

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// UpdatePodResources records the pod-level resources kubelet set. kubelet owns the pod's
// cgroup (cgroup_parent) and writes those limits itself; crid's containers live below it,
// so there is nothing to apply, only to remember for status.
func (m *Manager) UpdatePodResources(ctx context.Context, id string, r *runtimeapi.LinuxContainerResources) error {
	if r == nil { // bad input is refused whatever the pod
		return fmt.Errorf("resources: missing: %w", errdefs.ErrInvalidArgument)
	}
	e, err := m.pods.lookup(id)
	if err != nil {
		return err
	}
	_, err = m.updatePod(e, nil, func(p *Pod) bool { p.Resources = r; return true })
	return err
}
