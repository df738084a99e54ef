package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// entry is one row of `crid ps`: a pod made by `crid run` with its latest container, or,
// for anyone else's pods, one CRI container.
type entry struct {
	pod *runtimeapi.PodSandbox
	ctr *runtimeapi.Container // nil while a managed pod has no container
	rec *runRecord            // nil unless managed
}

func (e *entry) managed() bool { return e.rec != nil }

// ID is the pod's ID for a managed entry (stable across `crid start`), else the container's.
func (e *entry) ID() string {
	if e.managed() || e.ctr == nil {
		return e.pod.GetId()
	}
	return e.ctr.GetId()
}

func (e *entry) Name() string {
	if e.managed() || e.ctr == nil {
		return e.pod.GetMetadata().GetName()
	}
	// kubelet's containers: name and pod, as crictl shows them.
	return e.ctr.GetMetadata().GetName() + "_" + e.pod.GetMetadata().GetName() + "_" + e.pod.GetMetadata().GetNamespace()
}

func (e *entry) containerID() string { return e.ctr.GetId() }

var errNoSuchContainer = errors.New("no such container")

// listEntries lists managed pods with their newest container, and with all also every
// container of other pods.
func (c *client) listEntries(ctx context.Context, all bool) ([]*entry, error) {
	var podFilter *runtimeapi.PodSandboxFilter
	var ctrFilter *runtimeapi.ContainerFilter
	if !all {
		sel := map[string]string{LabelManaged: "true"}
		podFilter = &runtimeapi.PodSandboxFilter{LabelSelector: sel}
		ctrFilter = &runtimeapi.ContainerFilter{LabelSelector: sel}
	}
	pods, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: podFilter})
	if err != nil {
		return nil, rpcError("list pods", err)
	}
	ctrs, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: ctrFilter})
	if err != nil {
		return nil, rpcError("list containers", err)
	}
	byPod := map[string]*entry{}
	var out []*entry
	for _, p := range pods.GetItems() {
		if p.GetLabels()[LabelManaged] != "true" {
			continue
		}
		rec, err := decodeRecord(p.GetAnnotations())
		if err != nil || rec == nil {
			continue // labelled by hand or by an incompatible version: not ours to drive
		}
		e := &entry{pod: p, rec: rec}
		byPod[p.GetId()] = e
		out = append(out, e)
	}
	podByID := map[string]*runtimeapi.PodSandbox{}
	for _, p := range pods.GetItems() {
		podByID[p.GetId()] = p
	}
	for _, ctr := range ctrs.GetContainers() {
		if e, ok := byPod[ctr.GetPodSandboxId()]; ok {
			if e.ctr == nil || ctr.GetMetadata().GetAttempt() > e.ctr.GetMetadata().GetAttempt() {
				e.ctr = ctr
			}
			continue
		}
		if !all {
			continue
		}
		p := podByID[ctr.GetPodSandboxId()]
		if p == nil {
			p = &runtimeapi.PodSandbox{Id: ctr.GetPodSandboxId(), Metadata: &runtimeapi.PodSandboxMetadata{}}
		}
		out = append(out, &entry{pod: p, ctr: ctr})
	}
	sort.SliceStable(out, func(i, j int) bool { return createdAt(out[i]) > createdAt(out[j]) })
	return out, nil
}

func createdAt(e *entry) int64 {
	if e.ctr != nil {
		return e.ctr.GetCreatedAt()
	}
	return e.pod.GetCreatedAt()
}

// lookup finds the entry ref names: a name, a full ID, or a unique ID prefix (of the pod
// or of its container). mutate refuses entries not made by `crid run` unless all is set.
func (c *client) lookup(ctx context.Context, ref string, all, mutate bool) (*entry, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: %q", errNoSuchContainer, ref)
	}
	list, err := c.listEntries(ctx, true)
	if err != nil {
		return nil, err
	}
	e, err := pick(list, ref)
	if err != nil {
		return nil, err
	}
	if mutate && !e.managed() && !all {
		return nil, fmt.Errorf("container %s belongs to pod %s/%s, not made by crid run: pass --all-namespaces to act on it",
			ref, e.pod.GetMetadata().GetNamespace(), e.pod.GetMetadata().GetName())
	}
	return e, nil
}

func pick(list []*entry, ref string) (*entry, error) {
	for _, e := range list {
		if e.Name() == ref || e.ID() == ref || (e.ctr != nil && e.ctr.GetId() == ref) {
			return e, nil
		}
	}
	var found []*entry
	for _, e := range list {
		if strings.HasPrefix(e.ID(), ref) || (e.ctr != nil && strings.HasPrefix(e.ctr.GetId(), ref)) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %s", errNoSuchContainer, ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("multiple IDs found with provided prefix: %s", ref)
}

// refreshContainer re-reads e's newest container after a change.
func (c *client) refreshContainer(ctx context.Context, e *entry) error {
	resp, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{
		Filter: &runtimeapi.ContainerFilter{PodSandboxId: e.pod.GetId()},
	})
	if err != nil {
		return rpcError("list containers", err)
	}
	e.ctr = nil
	for _, ctr := range resp.GetContainers() {
		if e.ctr == nil || ctr.GetMetadata().GetAttempt() > e.ctr.GetMetadata().GetAttempt() {
			e.ctr = ctr
		}
	}
	return nil
}
