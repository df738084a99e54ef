package spec

import (
	"fmt"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The infra process only holds namespaces: it is the first to go when the
// node runs out of memory only after everything else (containerd uses the
// same -998) and gets the smallest CPU weight.
const (
	infraOOMScoreAdj = -998
	infraCPUShares   = 2
	maxHostname      = 64 // the kernel's limit for sethostname(2)
)

// PodSpec builds the spec of the pod's infra process: the namespaces it
// creates (or joins: the pinned network namespace), the pod's sysctls and
// hostname, its cgroup, and the pod-level security context. It gets no
// mounts and no capabilities: it only waits (and reaps, when it is PID 1 of
// a shared PID namespace).
func PodSpec(in PodInput) (*specs.Spec, error) {
	cfg := in.Config
	switch {
	case cfg == nil:
		return nil, invalidf("config", "missing")
	case cfg.GetMetadata().GetName() == "":
		return nil, invalidf("config.metadata.name", "required")
	case in.ID == "":
		return nil, invalidf("ID", "required")
	case len(cfg.GetHostname()) > maxHostname:
		return nil, invalidf("hostname", "longer than %d bytes", maxHostname)
	}
	sc := cfg.GetLinux().GetSecurityContext()
	linux, err := podLinux(in, sc)
	if err != nil {
		return nil, err
	}
	proc, err := infraProcess(in, sc)
	if err != nil {
		return nil, err
	}
	if err := checkUserMapped(proc.User, linux.UIDMappings, linux.GIDMappings, "linux.security_context"); err != nil {
		return nil, err
	}
	s := &specs.Spec{
		Version:     specs.Version,
		Process:     proc,
		Annotations: sandboxAnnotations(in.ID, cfg),
		Linux:       linux,
	}
	if in.RootPath != "" {
		s.Root = &specs.Root{Path: in.RootPath, Readonly: true}
	}
	// The hostname can only be set in a UTS namespace of the pod's own.
	if slices.ContainsFunc(linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.UTSNamespace }) {
		s.Hostname = cfg.GetHostname()
	}
	return s, nil
}

func podLinux(in PodInput, sc *runtime.LinuxSandboxSecurityContext) (*specs.Linux, error) {
	ns := sc.GetNamespaceOptions()
	namespaces, err := podNamespaces(ns, in.NetNSPath, in.Host.CgroupV2)
	if err != nil {
		return nil, err
	}
	uids, gids, err := userMappings(ns)
	if err != nil {
		return nil, err
	}
	sysctls, err := ValidateSysctls(in.Config.GetLinux().GetSysctls(), ns)
	if err != nil {
		return nil, err
	}
	cgroupsPath, err := CgroupsPath(in.Host.CgroupDriver, cgroupParent(in.Host, in.Config.GetLinux().GetCgroupParent(), in.ID), in.ID)
	if err != nil {
		return nil, err
	}
	seccomp, err := seccompFor(in.Host, sc.GetSeccomp(), sc.GetSeccompProfilePath(), "linux.security_context.seccomp", sc.GetPrivileged(), nil)
	if err != nil {
		return nil, err
	}
	l := &specs.Linux{
		UIDMappings: uids,
		GIDMappings: gids,
		Sysctl:      sysctls,
		Resources: &specs.LinuxResources{
			CPU:     &specs.LinuxCPU{Shares: ptr(uint64(infraCPUShares))},
			Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		},
		CgroupsPath: cgroupsPath,
		Namespaces:  namespaces,
		Seccomp:     seccomp,
	}
	if !sc.GetPrivileged() {
		l.MaskedPaths, l.ReadonlyPaths = slices.Clone(defaultMaskedPaths), slices.Clone(defaultReadonlyPaths)
	}
	return l, nil
}

// infraProcess runs as the pod's run_as_user/run_as_group (numeric only:
// there is no image to look names up in), with no capabilities.
func infraProcess(in PodInput, sc *runtime.LinuxSandboxSecurityContext) (*specs.Process, error) {
	const f = "linux.security_context."
	var user specs.User
	if u := sc.GetRunAsUser(); u != nil {
		uid, ok := idValue(u.GetValue())
		if !ok {
			return nil, invalidf(f+"run_as_user", "%d is not a valid uid", u.GetValue())
		}
		user.UID = uid
	}
	if g := sc.GetRunAsGroup(); g != nil {
		gid, ok := idValue(g.GetValue())
		if !ok {
			return nil, invalidf(f+"run_as_group", "%d is not a valid gid", g.GetValue())
		}
		user.GID = gid
	}
	groups := []uint32{user.GID}
	for i, g := range sc.GetSupplementalGroups() {
		gid, ok := idValue(g)
		if !ok {
			return nil, invalidf(fmt.Sprintf(f+"supplemental_groups[%d]", i), "%d is not a valid gid", g)
		}
		groups = append(groups, gid)
	}
	user.AdditionalGids = dedupe(groups)
	// The pause needs nothing: a pod naming no profile gets the node's default.
	aa, err := apparmorProfile(in.Host, sc.GetApparmor(), "", f+"apparmor", sc.GetPrivileged())
	if err != nil {
		return nil, err
	}
	args := in.Args
	if len(args) == 0 {
		args = []string{"pause"}
	}
	return &specs.Process{
		User:            user,
		Args:            slices.Clone(args),
		Env:             []string{defaultPath},
		Cwd:             "/",
		Capabilities:    &specs.LinuxCapabilities{},
		NoNewPrivileges: true,
		OOMScoreAdj:     ptr(infraOOMScoreAdj),
		ApparmorProfile: aa,
	}, nil
}
