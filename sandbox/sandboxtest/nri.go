package sandboxtest

import (
	"context"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/sandbox"
)

// NRI is a fake NRI adaptation: it records the events in order and adds Env to every
// container it is asked to create; the step "nri-create" makes it refuse.
type NRI struct {
	fail *Failures
	Env  string
	// UpdateShares, when set, is what UpdateContainer makes the CPU shares.
	UpdateShares uint64
	mu           sync.Mutex
	events       []string
}

// Events returns "<event> <pod or container id>" lines, in order.
func (n *NRI) Events() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.events...)
}

func (n *NRI) record(event, id string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, event+" "+id)
	return nil
}

func (n *NRI) RunPod(_ context.Context, p *sandbox.Pod) error    { return n.record("RunPod", p.ID) }
func (n *NRI) StopPod(_ context.Context, p *sandbox.Pod) error   { return n.record("StopPod", p.ID) }
func (n *NRI) RemovePod(_ context.Context, p *sandbox.Pod) error { return n.record("RemovePod", p.ID) }

func (n *NRI) CreateContainer(_ context.Context, _ *sandbox.Pod, c *sandbox.Container, s *specs.Spec) error {
	if err := n.fail.check("nri-create"); err != nil {
		return err
	}
	if n.Env != "" {
		s.Process.Env = append(s.Process.Env, n.Env)
	}
	return n.record("CreateContainer", c.ID)
}

func (n *NRI) ContainerCreated(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("ContainerCreated", c.ID)
}

func (n *NRI) StartContainer(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("StartContainer", c.ID)
}

func (n *NRI) ContainerStarted(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("ContainerStarted", c.ID)
}

func (n *NRI) StopContainer(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("StopContainer", c.ID)
}

// UpdateContainer sets CPU shares to UpdateShares when that is not 0.
func (n *NRI) UpdateContainer(_ context.Context, _ *sandbox.Pod, c *sandbox.Container, _ *specs.LinuxResources) (*specs.LinuxResources, error) {
	if err := n.fail.check("nri-update"); err != nil {
		return nil, err
	}
	_ = n.record("UpdateContainer", c.ID)
	if n.UpdateShares == 0 {
		return nil, nil
	}
	shares := n.UpdateShares
	return &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}, nil
}

func (n *NRI) ContainerUpdated(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("ContainerUpdated", c.ID)
}

func (n *NRI) RemoveContainer(_ context.Context, _ *sandbox.Pod, c *sandbox.Container) error {
	return n.record("RemoveContainer", c.ID)
}
