package spec

import (
	"io/fs"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CgroupDriver names how cgroup paths are spelled in the spec.
type CgroupDriver string

const (
	// CgroupfsDriver means CgroupsPath is an absolute path in the cgroup hierarchy,
	// "<cgroup_parent>/<id>".
	CgroupfsDriver CgroupDriver = "cgroupfs"
	// SystemdDriver means CgroupsPath is "slice:prefix:name" as runc's systemd
	// driver reads it, "<parent slice>:crid:<id>" (a scope crid-<id>.scope).
	SystemdDriver CgroupDriver = "systemd"
)

// Host holds facts about the node that the caller finds out once (daemon
// config and probing) and passes with every call. The zero value is a
// cgroupfs, cgroup v1 host with seccomp on and AppArmor off.
type Host struct {
	CgroupDriver CgroupDriver // "" means CgroupfsDriver
	// CgroupV2 gives containers their own cgroup namespace, as containerd
	// does on a unified hierarchy.
	CgroupV2 bool
	// DefaultCgroupParent is used when the pod config names no cgroup_parent:
	// an absolute path for cgroupfs, a slice name for systemd.
	// "" means "/crid" (cgroupfs) or a slice per pod, crid-pod<id>.slice (systemd).
	DefaultCgroupParent string
	// SeccompDisabled: the kernel has no seccomp; RuntimeDefault and
	// Unconfined then yield no filter and Localhost is refused (silently
	// running without a requested filter would be a security hole).
	SeccompDisabled bool
	// AppArmorEnabled: Process.ApparmorProfile is set only when true.
	AppArmorEnabled bool
	// DefaultAppArmorProfile is the loaded profile RuntimeDefault (and a
	// container that names none) maps to, e.g. "crid-default-<hash>". "" with
	// AppArmorEnabled means crid could not load it: RuntimeDefault is then
	// refused rather than run unconfined.
	DefaultAppArmorProfile string
	// AppArmorLoaded checks that a Localhost profile is loaded (an error
	// wrapping errdefs.ErrFailedPrecondition when not). nil skips the check.
	AppArmorLoaded func(name string) error
	// AppArmorSkipped is told of each explicit AppArmor request on a node
	// without AppArmor (RuntimeDefault runs unconfined there), so the daemon
	// can say so. nil ignores them.
	AppArmorSkipped func(profile string)
	// Arch is the GOARCH the seccomp filter is built for; "" means the
	// architecture crid was built for.
	Arch string

	// ReadFile reads a seccomp profile named by a Localhost reference (an
	// absolute path on the node). Needed only for Localhost profiles.
	ReadFile func(path string) ([]byte, error)
	// DeviceInfo resolves a CRI device's host_path: one device for a device
	// node, every device below it for a directory. Each returned Path is a
	// host path under hostPath. Needed only when a container asks for devices.
	DeviceInfo func(hostPath string) ([]specs.LinuxDevice, error)
	// HostDevices lists all of the host's /dev for privileged containers
	// (Path is the host path, kept as the container path).
	// Called only for privileged containers; nil means none are added.
	HostDevices func() ([]specs.LinuxDevice, error)
}

// NamespacePaths are the pod's namespaces as files a container can join
// (pinned bind mounts or /proc/<infra pid>/ns/<kind>). Only the ones the
// pod actually owns need to be set: a NODE mode namespace is never joined.
type NamespacePaths struct {
	Network string
	IPC     string
	UTS     string
	PID     string // needed when a container uses the pod's PID namespace (mode POD)
	User    string // needed when the pod has a user namespace (userns mode POD)
}

// PodFiles are the per-pod files the sandbox wrote; each is bind mounted
// into every container. An empty path leaves that mount out (for /dev/shm a
// private tmpfs is used instead).
type PodFiles struct {
	Hosts      string // -> /etc/hosts
	ResolvConf string // -> /etc/resolv.conf
	Hostname   string // -> /etc/hostname
	// Shm is the pod's shared /dev/shm (a tmpfs the sandbox mounted, or the
	// host's /dev/shm for host IPC pods).
	Shm string
}

// PodInput is what PodSpec needs to describe the pod's infra process and
// the namespaces it creates or joins.
type PodInput struct {
	ID     string                    // pod sandbox id
	Config *runtime.PodSandboxConfig // the RunPodSandbox config
	// NetNSPath is the pinned network namespace (cni.Manager.NewNetNS).
	// Required unless the pod uses the host network.
	NetNSPath string
	// RootPath is Spec.Root.Path of the infra process (read-only); the
	// built-in pause needs no files, so any empty directory will do.
	RootPath string
	// Args is the infra process; nil means ["pause"] (the monitor's built-in).
	Args []string
	Host Host
}

// Image is the part of an image a container spec is built from.
type Image struct {
	// Name is the image reference the container was created from; it only
	// goes into annotations.
	Name   string
	Config ocispec.ImageConfig
	// Etc reads the image's users and groups: it must hold "etc/passwd" and
	// "etc/group" (as in the image rootfs; either may be missing). Use
	// LayerFS over os.Root.FS() of each layer so that symlinks cannot leave
	// the image. nil means both files are absent.
	Etc fs.FS
}

// ContainerInput is what ContainerSpec needs.
type ContainerInput struct {
	ID        string                    // container id
	SandboxID string                    // pod sandbox id
	Config    *runtime.ContainerConfig  // the CreateContainer config
	Sandbox   *runtime.PodSandboxConfig // the pod's config (from RunPodSandbox)
	Image     Image
	// RootfsPath is Spec.Root.Path: where the executor mounts the rootfs.
	RootfsPath string
	// PodNamespaces are the pod's namespaces to join.
	PodNamespaces NamespacePaths
	// TargetPIDNamespace is the PID namespace of the container named by
	// namespace_options.target_id; needed only for PID mode TARGET.
	TargetPIDNamespace string
	PodFiles           PodFiles
	// VolumeDirs maps an image-config volume (as ImageVolumes returns it)
	// to the empty host directory the sandbox made for it; it is bind
	// mounted there. A volume without a directory gets no mount and stays
	// part of the writable layer.
	VolumeDirs map[string]string
	Host       Host
	// PrivilegedWithoutHostDevices (the handler's privileged_without_host_devices):
	// a privileged container gets neither the host's devices nor the allow-all
	// device rule, only the defaults and what the request names, as containerd
	// does: with CAP_MKNOD an allow-all rule would let it make any host device.
	PrivilegedWithoutHostDevices bool
}

// User is a resolved process identity.
type User struct {
	UID            uint32
	GID            uint32
	AdditionalGids []uint32 // the primary gid first, then supplemental groups
	Name           string   // "" when the uid has no /etc/passwd entry
	Home           string   // "/" when unknown
}
