// Package spec translates CRI configuration into the OCI runtime spec that
// crid's executor runs. It is pure: everything it needs from the node comes
// in through arguments (Host, PodInput, ContainerInput, an fs.FS of the
// image's /etc), so every rule is table-tested without root.
//
// # API
//
// Pods and containers:
//
//	PodSpec(in PodInput) (*specs.Spec, error)             // infra process: namespaces, sysctls, hostname, cgroup
//	ContainerSpec(in ContainerInput) (*specs.Spec, error) // a container of the pod
//	ImageVolumes(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) ([]string, error)
//	                                                      // image VOLUMEs that need a host dir (ContainerInput.VolumeDirs)
//	StopSignal(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error)
//
// Users:
//
//	ResolveUser(etc fs.FS, imageUser string, sc *runtime.LinuxContainerSecurityContext) (*User, error)
//	LayerFS(layers ...fs.FS) fs.FS        // read etc/passwd through overlay layers, top first
//	ContainerUser(s *specs.Spec) *runtime.ContainerUser // for ContainerStatus.user
//
// Resources (UpdateContainerResources and ContainerStatus):
//
//	LinuxResources(r *runtime.LinuxContainerResources) (*specs.LinuxResources, error)
//	UpdateResources(s *specs.Spec, r *runtime.LinuxContainerResources) (*specs.LinuxResources, error)
//	                  // validates, merges into s (kept for status/restart), returns what to send to monitor.Update
//	CRIResources(s *specs.Spec) *runtime.LinuxContainerResources
//
// Pieces, exported for the CRI layer's validation and for tests:
//
//	CgroupsPath(driver CgroupDriver, parent, id string) (string, error)
//	ValidateSysctls(sysctls map[string]string, ns *runtime.NamespaceOption) (map[string]string, error)
//	DefaultCapabilities() []string
//	DefaultSeccompProfile(caps []string, arch string) *specs.LinuxSeccomp
//	ParseSeccompProfile(data []byte, caps []string, arch string) (*specs.LinuxSeccomp, error)
//
// Node facts (spec.Host) come from the subpackage hostinfo: hostinfo.Probe
// detects cgroup v2, seccomp and AppArmor and fills in os.ReadFile and the
// device resolvers; it is the only code on this side that touches the node.
//
// # Errors
//
// Bad input wraps errdefs.ErrInvalidArgument with the CRI field path first,
// e.g. "mounts[2].container_path: must be absolute: invalid argument".
// Nil configs (config, metadata, linux, security context) are never a panic:
// a missing required part is InvalidArgument, a missing optional part means
// its defaults. Errors from the caller's functions (Host.ReadFile, ...) are
// wrapped and keep their kind.
//
// # Namespaces
//
// The pod infra creates the pod's namespaces (or joins the pinned network
// namespace); containers join them through ContainerInput.PodNamespaces:
//
//	network  NODE: none; POD: join PodNamespaces.Network
//	ipc      NODE: none; POD: join PodNamespaces.IPC
//	uts      follows network: host network means the host's UTS
//	pid      NODE: none; POD: join PodNamespaces.PID; CONTAINER: new;
//	         TARGET: join ContainerInput.TargetPIDNamespace
//	user     userns_options POD: new in the infra (with the mappings), joined by containers
//	mount    always new
//	cgroup   new when Host.CgroupV2 and not privileged
//
// # Pod infra and sysctls
//
// PodSpec's process is the monitor's built-in pause: no mounts, no
// capabilities, no_new_privs, oom_score_adj -998, CPU shares 2, the pod's
// run_as_user/run_as_group/supplemental_groups, the pod's seccomp (and the
// node's default AppArmor profile unless the pod names one). The pod's
// sysctls (validated: namespaced only, never for a host namespace,
// CVE-2022-0811) are on the pod spec and, because the pause writes none, on
// every container spec too; writing the same namespaced value twice is
// harmless.
//
// # Security defaults
//
// Capabilities: containerd's default set; add/drop by name with or without
// CAP_, "ALL" in either list; inheritable holds only ambient capabilities.
// Seccomp: RuntimeDefault is DefaultSeccompProfile (built for the process's
// capabilities), Unconfined or "" is none, Localhost is read through
// Host.ReadFile and parsed by ParseSeccompProfile. Privileged containers get
// all capabilities, host devices, writable sysfs and cgroupfs, and no
// seccomp, masks or AppArmor confinement.
//
// # Image volumes
//
// Image-config VOLUMEs are never copied from the image (the copy-up is
// where CVE-2022-23648 came from). ImageVolumes lists the cleaned container
// paths not shadowed by a CRI mount; the sandbox makes an empty directory for
// each (under the container's own dir on the host) and passes them in
// ContainerInput.VolumeDirs, and they are bind mounted. The executor resolves
// every mount destination inside the rootfs (openat2 RESOLVE_IN_ROOT), so a
// symlinked volume path cannot point the mount at the host.
package spec
