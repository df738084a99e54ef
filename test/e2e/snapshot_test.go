package e2e

import (
	"sort"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criSnapshot is everything kubelet's relist sees, to compare across a restart.
type criSnapshot struct {
	pods      []*runtimeapi.PodSandbox
	ctrs      []*runtimeapi.Container
	podStatus map[string]*runtimeapi.PodSandboxStatus
	ctrStatus map[string]*runtimeapi.ContainerStatus
	images    []*runtimeapi.Image
}

func (d *Daemon) snapshot(t *testing.T) criSnapshot {
	t.Helper()
	s := criSnapshot{podStatus: map[string]*runtimeapi.PodSandboxStatus{}, ctrStatus: map[string]*runtimeapi.ContainerStatus{}}
	pods, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatalf("ListPodSandbox: %v", err)
	}
	s.pods = pods.Items
	sort.Slice(s.pods, func(i, j int) bool { return s.pods[i].Id < s.pods[j].Id })
	ctrs, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{})
	if err != nil {
		t.Fatalf("ListContainers: %v", err)
	}
	s.ctrs = ctrs.Containers
	sort.Slice(s.ctrs, func(i, j int) bool { return s.ctrs[i].Id < s.ctrs[j].Id })
	for _, p := range s.pods {
		r, err := d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.Id})
		if err != nil {
			t.Fatalf("PodSandboxStatus: %v", err)
		}
		s.podStatus[p.Id] = r.Status
	}
	for _, c := range s.ctrs {
		s.ctrStatus[c.Id] = d.containerStatus(t, c.Id)
	}
	imgs, err := d.IS.ListImages(ctxT(t, criTimeout), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	s.images = imgs.Images
	sort.Slice(s.images, func(i, j int) bool { return s.images[i].Id < s.images[j].Id })
	return s
}

// The parts of a snapshot compareSnapshots checks.
const (
	cmpPods = 1 << iota
	cmpContainers
	cmpImages
	cmpAll = cmpPods | cmpContainers | cmpImages
)

// compareSnapshots reports every difference between two snapshots in the parts asked for.
func compareSnapshots(t *testing.T, before, after criSnapshot, parts int) {
	t.Helper()
	eqList := func(what string, a, b []proto.Message) {
		if len(a) != len(b) {
			t.Errorf("%s: %d before the restart, %d after", what, len(a), len(b))
			return
		}
		for i := range a {
			if !proto.Equal(a[i], b[i]) {
				t.Errorf("%s differs after the restart:\nbefore %v\nafter  %v", what, a[i], b[i])
			}
		}
	}
	if parts&cmpPods != 0 {
		eqList("ListPodSandbox", msgs(before.pods), msgs(after.pods))
		for id, st := range before.podStatus {
			if !proto.Equal(st, after.podStatus[id]) {
				t.Errorf("PodSandboxStatus %s differs after the restart:\nbefore %v\nafter  %v", id, st, after.podStatus[id])
			}
		}
	}
	if parts&cmpContainers != 0 {
		eqList("ListContainers", msgs(before.ctrs), msgs(after.ctrs))
		for id, st := range before.ctrStatus {
			if !proto.Equal(st, after.ctrStatus[id]) {
				t.Errorf("ContainerStatus %s differs after the restart:\nbefore %v\nafter  %v", id, st, after.ctrStatus[id])
			}
		}
	}
	if parts&cmpImages != 0 {
		eqList("ListImages", msgs(before.images), msgs(after.images))
	}
}

func msgs[T proto.Message](l []T) []proto.Message {
	out := make([]proto.Message, len(l))
	for i, m := range l {
		out[i] = m
	}
	return out
}

func sigName(sig syscall.Signal) string {
	if sig == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGTERM"
}
