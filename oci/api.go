package oci

import (
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/ocihooks"
)

// Mode arguments (os.Args[1]) the monitor binary must dispatch on; see the package doc.
const (
	InitArg  = "init"
	PauseArg = "pause"
)

// Stdio are the container process's standard streams when Spec.Process.Terminal
// is false. A nil file means /dev/null.
type Stdio struct {
	Stdin, Stdout, Stderr *os.File
}

// CreateOptions describe a container to create.
type CreateOptions struct {
	ID string
	// StateDir is a per-container directory the executor may use; it must exist.
	StateDir string
	// Spec is the runtime spec. Root.Path is the mount point for Rootfs (created if
	// missing); Linux.Namespaces with a Path are joined, those without are new.
	// Linux.CgroupsPath is a cgroupfs path ("/kubepods/pod<uid>/<id>") or a
	// systemd-style "slice:prefix:name" (mapped to cgroupfs paths).
	Spec *specs.Spec
	// Rootfs are mounted, in order, at Spec.Root.Path inside the container's new
	// mount namespace (never in the host's): typically one overlay mount.
	Rootfs []specs.Mount
	Stdio  Stdio
	// Kernel says how this kernel takes an overlay rootfs and whether it has
	// mount_setattr and close_range's CLOEXEC; nil = probe once per process
	// (HostKernel). Tests pass a value to take a fallback path.
	Kernel *kernel.Features
	// Cgroups is the host's cgroup tree (cgroups.HostTree).
	Cgroups cgroups.Tree
	// Bundle is the directory hooks are told holds the container's config.json.
	Bundle string
	// HookWait runs the prestart and createRuntime hooks' processes (see ocihooks.Waiter);
	// nil when no reaper of the caller's collects every child.
	HookWait ocihooks.Waiter
}

// Container is a created container.
type Container struct {
	ID string
	// Pid is the container's init process (the user's process after Start), as
	// seen from the caller's PID namespace. The caller reaps it.
	Pid int
	// Console is the pty master when Spec.Process.Terminal; the caller owns it.
	Console *os.File
	// Cgroup is the resolved cgroup path of the container (relative to each hierarchy root).
	Cgroup string

	sync  *os.File     // parent end of the socketpair to the init, closed by Start
	state *specs.State // what startContainer hooks get on stdin; nil without them
}

// ExecOptions describe a process to run inside a running container.
type ExecOptions struct {
	// ContainerPid is the container's init pid (namespaces are entered through /proc/<pid>/ns).
	ContainerPid int
	// Spec is the container's spec: cgroup, seccomp, AppArmor, namespaces, sysctls.
	Spec *specs.Spec
	// Process is the process to run; the caller fills it as runc exec does
	// (Args, Env, Cwd, User, Capabilities, NoNewPrivileges, Terminal, Rlimits ...).
	Process *specs.Process
	Stdio   Stdio
	// Cgroups is the host's cgroup tree (cgroups.HostTree).
	Cgroups cgroups.Tree
	// Kernel: as in CreateOptions (the exec child only needs CloseRangeCloexec).
	Kernel *kernel.Features
}
