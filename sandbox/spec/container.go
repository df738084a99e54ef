package spec

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ContainerSpec builds the spec of one container of a pod. See the package
// documentation for how namespaces, volumes and errors work.
func ContainerSpec(in ContainerInput) (*specs.Spec, error) {
	if err := checkContainerInput(in); err != nil {
		return nil, err
	}
	cfg := in.Config
	sc := cfg.GetLinux().GetSecurityContext()
	privileged := sc.GetPrivileged()
	if privileged && !in.Sandbox.GetLinux().GetSecurityContext().GetPrivileged() {
		// A privileged container in an unprivileged pod would get host
		// devices and capabilities the pod was not admitted for.
		return nil, invalidf("linux.security_context.privileged", "the pod sandbox is not privileged")
	}
	proc, err := containerProcess(in, sc)
	if err != nil {
		return nil, err
	}
	linux, err := containerLinux(in, sc, proc.Capabilities.Bounding)
	if err != nil {
		return nil, err
	}
	if err := checkUserMapped(proc.User, linux.UIDMappings, linux.GIDMappings, "user"); err != nil {
		return nil, err
	}
	userns := usernsMode(containerNamespaceOptions(in)) == runtime.NamespaceMode_POD
	mounts, err := containerMounts(in, privileged, userns)
	if err != nil {
		return nil, err
	}
	linux.RootfsPropagation = rootPropagation(mounts)
	return &specs.Spec{
		Version:     specs.Version,
		Root:        &specs.Root{Path: in.RootfsPath, Readonly: sc.GetReadonlyRootfs()},
		Process:     proc,
		Mounts:      mounts,
		Annotations: containerAnnotations(in),
		Linux:       linux,
	}, nil
}

func checkContainerInput(in ContainerInput) error {
	switch {
	case in.Config == nil:
		return invalidf("config", "missing")
	case in.Config.GetMetadata().GetName() == "":
		return invalidf("config.metadata.name", "required")
	case in.ID == "":
		return invalidf("ID", "required")
	case in.RootfsPath == "":
		return invalidf("RootfsPath", "required")
	}
	return nil
}

// containerProcess: arguments, environment, working directory, identity,
// capabilities and the per-process security settings.
func containerProcess(in ContainerInput, sc *runtime.LinuxContainerSecurityContext) (*specs.Process, error) {
	cfg, img := in.Config, in.Image.Config
	privileged := sc.GetPrivileged()
	args, err := processArgs(cfg, img)
	if err != nil {
		return nil, err
	}
	cwd, err := workingDir(cfg, img)
	if err != nil {
		return nil, err
	}
	user, err := ResolveUser(in.Image.Etc, img.User, sc)
	if err != nil {
		return nil, err
	}
	env, err := processEnv(cfg, img, user.Home)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(sc.GetCapabilities(), privileged)
	if err != nil {
		return nil, err
	}
	aa, err := apparmorProfile(in.Host, sc.GetApparmor(), sc.GetApparmorProfile(), "linux.security_context.apparmor", privileged)
	if err != nil {
		return nil, err
	}
	p := &specs.Process{
		Terminal:        cfg.GetTty(),
		User:            specs.User{UID: user.UID, GID: user.GID, AdditionalGids: user.AdditionalGids},
		Args:            args,
		Env:             env,
		Cwd:             cwd,
		Capabilities:    caps,
		NoNewPrivileges: sc.GetNoNewPrivs() && !privileged,
		ApparmorProfile: aa,
	}
	if r := cfg.GetLinux().GetResources(); r != nil {
		// Passed as asked; the executor clamps it to what the node allows.
		p.OOMScoreAdj = ptr(int(r.GetOomScoreAdj()))
	}
	return p, nil
}

// capabilities: the same set bounds, is permitted and effective; the
// inheritable set holds only ambient capabilities, which need it (an
// inheritable set otherwise lets file capabilities escalate, CVE-2022-29162).
func capabilities(c *runtime.Capability, privileged bool) (*specs.LinuxCapabilities, error) {
	set, err := capabilitySet(c, privileged)
	if err != nil {
		return nil, err
	}
	ambient, err := ambientSet(c)
	if err != nil {
		return nil, err
	}
	for _, a := range ambient {
		if !slices.Contains(set, a) {
			set = append(set, a)
		}
	}
	return &specs.LinuxCapabilities{
		Bounding:    set,
		Effective:   slices.Clone(set),
		Permitted:   slices.Clone(set),
		Inheritable: ambient,
		Ambient:     slices.Clone(ambient),
	}, nil
}

// containerLinux: namespaces, id mappings, cgroup, resources, devices,
// masked paths and seccomp.
func containerLinux(in ContainerInput, sc *runtime.LinuxContainerSecurityContext, caps []string) (*specs.Linux, error) {
	privileged := sc.GetPrivileged()
	ns := containerNamespaceOptions(in)
	namespaces, err := containerNamespaces(in, ns, privileged)
	if err != nil {
		return nil, err
	}
	uids, gids, err := userMappings(ns)
	if err != nil {
		return nil, err
	}
	cgroupsPath, err := CgroupsPath(in.Host.CgroupDriver, cgroupParent(in.Host, in.Sandbox.GetLinux().GetCgroupParent(), in.SandboxID), in.ID)
	if err != nil {
		return nil, err
	}
	res, err := LinuxResources(in.Config.GetLinux().GetResources())
	if err != nil {
		return nil, err
	}
	if res == nil {
		res = &specs.LinuxResources{}
	}
	devs, rules, err := devices(in.Host, in.Config.GetDevices(), privileged, !in.PrivilegedWithoutHostDevices)
	if err != nil {
		return nil, err
	}
	res.Devices = rules
	seccomp, err := seccompFor(in.Host, sc.GetSeccomp(), sc.GetSeccompProfilePath(), "linux.security_context.seccomp", privileged, caps)
	if err != nil {
		return nil, err
	}
	// The pod's sysctls again: the built-in pause writes none, and a
	// container joining the pod's namespaces writing the same values is
	// harmless. Validated against the container's namespaces.
	sysctls, err := ValidateSysctls(in.Sandbox.GetLinux().GetSysctls(), ns)
	if err != nil {
		return nil, err
	}
	masked, readonly := maskedPaths(sc)
	return &specs.Linux{
		Sysctl:        sysctls,
		UIDMappings:   uids,
		GIDMappings:   gids,
		Resources:     res,
		CgroupsPath:   cgroupsPath,
		Namespaces:    namespaces,
		Devices:       devs,
		Seccomp:       seccomp,
		MaskedPaths:   masked,
		ReadonlyPaths: readonly,
	}, nil
}

// containerNamespaceOptions: kubelet repeats the pod's options on each
// container; a container without them follows its pod. The user namespace
// is always the pod's: containers of a pod share one.
func containerNamespaceOptions(in ContainerInput) *runtime.NamespaceOption {
	pod := in.Sandbox.GetLinux().GetSecurityContext().GetNamespaceOptions()
	c := in.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if c == nil {
		return pod
	}
	if pod.GetUsernsOptions() != nil {
		return &runtime.NamespaceOption{
			Network: c.GetNetwork(), Pid: c.GetPid(), Ipc: c.GetIpc(), TargetId: c.GetTargetId(),
			UsernsOptions: pod.GetUsernsOptions(),
		}
	}
	return c
}

func containerMounts(in ContainerInput, privileged, userns bool) ([]specs.Mount, error) {
	cri, err := criMounts(in.Config.GetMounts())
	if err != nil {
		return nil, err
	}
	vols, err := ImageVolumes(in.Config, in.Image.Config)
	if err != nil {
		return nil, err
	}
	vm, err := volumeMounts(vols, in.VolumeDirs)
	if err != nil {
		return nil, err
	}
	return mergeMounts(defaultMounts(in.PodFiles, privileged, userns), vm, cri), nil
}
