package cri

import (
	"encoding/json"
	"syscall"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// Mapping of the sandbox's snapshots to CRI messages. Nothing here touches the disk or a
// monitor: these run on kubelet's hot relist path.

func nanos(t interface{ UnixNano() int64 }) int64 { return t.UnixNano() }

func podState(s sandbox.PodState) runtimeapi.PodSandboxState {
	if s == sandbox.PodReady {
		return runtimeapi.PodSandboxState_SANDBOX_READY
	}
	return runtimeapi.PodSandboxState_SANDBOX_NOTREADY
}

// toPodSandboxes maps pods to one list answer's messages, all cut from one slice: a
// message allocated per pod was a fifth of the daemon's allocations per ListPodSandbox
// (the rest is protobuf's marshalling of the label and annotation maps).
func toPodSandboxes(pods []*sandbox.Pod) []*runtimeapi.PodSandbox {
	msgs := make([]runtimeapi.PodSandbox, len(pods))
	out := make([]*runtimeapi.PodSandbox, len(pods))
	for i, p := range pods {
		msgs[i] = runtimeapi.PodSandbox{
			Id: p.ID, Metadata: p.Config.GetMetadata(), State: podState(p.State), CreatedAt: nanos(p.CreatedAt),
			Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(), RuntimeHandler: p.RuntimeHandler,
		}
		out[i] = &msgs[i]
	}
	return out
}

func toPodStatus(p *sandbox.Pod) *runtimeapi.PodSandboxStatus {
	st := &runtimeapi.PodSandboxStatus{
		Id: p.ID, Metadata: p.Config.GetMetadata(), State: podState(p.State), CreatedAt: nanos(p.CreatedAt),
		Linux: &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{
			Options: p.Config.GetLinux().GetSecurityContext().GetNamespaceOptions(),
		}},
		Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(), RuntimeHandler: p.RuntimeHandler,
	}
	if len(p.IPs) > 0 {
		st.Network = &runtimeapi.PodSandboxNetworkStatus{Ip: p.IPs[0]}
		for _, ip := range p.IPs[1:] {
			st.Network.AdditionalIps = append(st.Network.AdditionalIps, &runtimeapi.PodIP{Ip: ip})
		}
	}
	return st
}

// podInfo is the verbose "info" of PodSandboxStatus, shaped like containerd's.
func podInfo(p *sandbox.Pod) map[string]string {
	info := map[string]any{
		"pid": p.InfraPid, "netNamespace": p.NetNS, "stateDir": p.Dir, "phase": p.Phase,
		"runtimeHandler": p.RuntimeHandler, "config": p.Config, "message": p.Message,
	}
	if p.Resources != nil {
		info["resources"] = p.Resources
	}
	b, _ := json.Marshal(info)
	return map[string]string{"info": string(b)}
}

func containerState(s sandbox.ContainerState) runtimeapi.ContainerState {
	switch s {
	case sandbox.ContainerCreated:
		return runtimeapi.ContainerState_CONTAINER_CREATED
	case sandbox.ContainerRunning:
		return runtimeapi.ContainerState_CONTAINER_RUNNING
	case sandbox.ContainerExited:
		return runtimeapi.ContainerState_CONTAINER_EXITED
	}
	return runtimeapi.ContainerState_CONTAINER_UNKNOWN
}

func imageSpec(c *sandbox.Container) *runtimeapi.ImageSpec {
	spec := &runtimeapi.ImageSpec{}
	fillImageSpec(spec, c)
	return spec
}

func fillImageSpec(spec *runtimeapi.ImageSpec, c *sandbox.Container) {
	*spec = runtimeapi.ImageSpec{
		Image: c.Image.Spec, Annotations: c.Config.GetImage().GetAnnotations(),
		UserSpecifiedImage: c.Image.Spec, RuntimeHandler: c.Config.GetImage().GetRuntimeHandler(),
	}
}

// toContainers maps ctrs to one list answer's messages, cut from two slices (containers and
// their image specs) as toPodSandboxes does.
func toContainers(ctrs []*sandbox.Container) []*runtimeapi.Container {
	msgs := make([]runtimeapi.Container, len(ctrs))
	images := make([]runtimeapi.ImageSpec, len(ctrs))
	out := make([]*runtimeapi.Container, len(ctrs))
	for i, c := range ctrs {
		fillImageSpec(&images[i], c)
		msgs[i] = runtimeapi.Container{
			Id: c.ID, PodSandboxId: c.PodID, Metadata: c.Config.GetMetadata(), Image: &images[i],
			ImageRef: c.Image.Ref, ImageId: c.Image.ID, State: containerState(c.State), CreatedAt: nanos(c.CreatedAt),
			Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		}
		out[i] = &msgs[i]
	}
	return out
}

func unixNanosOrZero(t interface {
	IsZero() bool
	UnixNano() int64
}) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (s *Server) toContainerStatus(c *sandbox.Container) *runtimeapi.ContainerStatus {
	st := &runtimeapi.ContainerStatus{
		Id: c.ID, Metadata: c.Config.GetMetadata(), State: containerState(c.State),
		CreatedAt: nanos(c.CreatedAt), StartedAt: unixNanosOrZero(c.StartedAt), FinishedAt: unixNanosOrZero(c.FinishedAt),
		ExitCode: c.ExitCode, Image: imageSpec(c), ImageRef: c.Image.Ref, ImageId: c.Image.ID,
		Reason: c.Reason, Message: c.Message, Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		Mounts: c.Config.GetMounts(), LogPath: c.LogPath, StopSignal: stopSignal(c.StopSignal),
	}
	if r := s.Sandbox.ContainerResources(c); r != nil {
		st.Resources = &runtimeapi.ContainerResources{Linux: r}
	}
	st.User = s.Sandbox.ContainerUser(c)
	return st
}

func stopSignal(sig int) runtimeapi.Signal {
	if sig == 0 {
		return runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT
	}
	name := unix.SignalName(syscall.Signal(sig))
	if v, ok := runtimeapi.Signal_value["SIGNAL_"+name]; ok {
		return runtimeapi.Signal(v)
	}
	return runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT
}

func containerInfo(c *sandbox.Container) map[string]string {
	info := map[string]any{
		"pid": c.Pid, "sandboxID": c.PodID, "stateDir": c.Dir, "phase": c.Phase,
		"runtimeSpec": c.Spec, "config": c.Config, "imageMounts": c.ExtraRootfs,
	}
	b, _ := json.Marshal(info)
	return map[string]string{"info": string(b)}
}
