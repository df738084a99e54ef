package spec

import (
	"strconv"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Annotations crid puts on specs, spelled as containerd spells them so that
// tools reading OCI state (NRI plugins, monitoring agents, debuggers) find
// the pod a process belongs to.
const (
	AnnotationContainerType    = "io.kubernetes.cri.container-type"
	ContainerTypeSandbox       = "sandbox"
	ContainerTypeContainer     = "container"
	AnnotationSandboxID        = "io.kubernetes.cri.sandbox-id"
	AnnotationSandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationSandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationSandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnotationSandboxLogDir    = "io.kubernetes.cri.sandbox-log-directory"
	AnnotationContainerName    = "io.kubernetes.cri.container-name"
	AnnotationImageName        = "io.kubernetes.cri.image-name"
	// The pod's requested resources (linux.resources), for tools that size
	// pods without asking kubelet.
	AnnotationSandboxCPUPeriod = "io.kubernetes.cri.sandbox-cpu-period"
	AnnotationSandboxCPUQuota  = "io.kubernetes.cri.sandbox-cpu-quota"
	AnnotationSandboxCPUShares = "io.kubernetes.cri.sandbox-cpu-shares"
	AnnotationSandboxMemory    = "io.kubernetes.cri.sandbox-memory"
)

func podAnnotations(id string, cfg *runtime.PodSandboxConfig) map[string]string {
	md := cfg.GetMetadata()
	a := map[string]string{
		AnnotationSandboxID:        id,
		AnnotationSandboxName:      md.GetName(),
		AnnotationSandboxNamespace: md.GetNamespace(),
		AnnotationSandboxUID:       md.GetUid(),
	}
	return a
}

func sandboxAnnotations(id string, cfg *runtime.PodSandboxConfig) map[string]string {
	a := podAnnotations(id, cfg)
	a[AnnotationContainerType] = ContainerTypeSandbox
	a[AnnotationSandboxLogDir] = cfg.GetLogDirectory()
	if r := cfg.GetLinux().GetResources(); r != nil {
		a[AnnotationSandboxCPUPeriod] = strconv.FormatInt(r.GetCpuPeriod(), 10)
		a[AnnotationSandboxCPUQuota] = strconv.FormatInt(r.GetCpuQuota(), 10)
		a[AnnotationSandboxCPUShares] = strconv.FormatInt(r.GetCpuShares(), 10)
		a[AnnotationSandboxMemory] = strconv.FormatInt(r.GetMemoryLimitInBytes(), 10)
	}
	return a
}

func containerAnnotations(in ContainerInput) map[string]string {
	a := podAnnotations(in.SandboxID, in.Sandbox)
	a[AnnotationContainerType] = ContainerTypeContainer
	a[AnnotationContainerName] = in.Config.GetMetadata().GetName()
	a[AnnotationImageName] = in.Image.Name
	return a
}
