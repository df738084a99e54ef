package sandboxtest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/crid-dev/crid/sandbox"
)

// Network is a fake CNI.
type Network struct {
	fail     *Failures
	mu       sync.Mutex
	NotReady error
	NetNS    map[string]bool // pinned paths
	Attached map[string]bool // netns paths with an ADD not yet DELeted
	CIDR     string
	// SetupGate, when not nil, is received from before Setup returns (to hold a
	// RunPodSandbox in flight).
	SetupGate chan struct{}
	// SetupEntered, when not nil, is sent to when Setup starts: the test then knows a
	// RunPodSandbox is in flight.
	SetupEntered chan struct{}
}

func (n *Network) Ready() error                  { return n.NotReady }
func (n *Network) NetNSPath(podID string) string { return "/run/netns/" + podID }
func (n *Network) NewNetNS(podID string) (string, error) {
	if err := n.fail.check("netns"); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.NetNS[n.NetNSPath(podID)] = true
	return n.NetNSPath(podID), nil
}

func (n *Network) RemoveNetNS(path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.NetNS, path)
	return nil
}

func (n *Network) Setup(ctx context.Context, pod sandbox.NetPod) ([]string, error) {
	if e := n.SetupEntered; e != nil {
		e <- struct{}{}
	}
	if g := n.SetupGate; g != nil {
		<-g
	}
	// As libcni does: a caller that gave up gets no network (it kills the plugins).
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.fail.check("setup"); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Attached[pod.NetNS] = true
	return []string{"10.88.0.5", "fd00::5"}, nil
}

func (n *Network) Teardown(_ context.Context, pod sandbox.NetPod) error {
	if err := n.fail.check("teardown"); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.Attached, pod.NetNS)
	return nil
}

func (n *Network) Check(context.Context, sandbox.NetPod) error { return nil }
func (n *Network) SetPodCIDR(cidr string) error {
	n.mu.Lock()
	n.CIDR = cidr
	n.mu.Unlock()
	return nil
}

// Live returns the pinned netns and the attached ones.
func (n *Network) Live() (netns, attached []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.NetNS)), slices.Sorted(maps.Keys(n.Attached))
}
