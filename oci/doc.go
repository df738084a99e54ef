// Package oci is crid's own container executor: it turns an OCI runtime spec
// (github.com/opencontainers/runtime-spec) plus rootfs mounts into a running
// container — namespaces, mounts and pivot_root, cgroups, capabilities, seccomp,
// the container init — without any external runtime (no runc, no crun).
// It knows nothing of CRI and runs inside the per-pod monitor process.
//
// # Process contract with the monitor
//
// The monitor is a child subreaper (PR_SET_CHILD_SUBREAPER) and reaps every
// child itself with a wait4(-1) loop. This package never waits for a process it
// starts, and never sets a parent-death signal on it:
//
//   - Create starts the container init as a direct child of the caller
//     (Container.Pid). After Start the init has execve()d the user's program
//     in place, so that pid's exit status is the container's.
//   - Create for a spec that joins a user namespace by path (a pod with its own
//     user namespace), and every Exec, start an intermediate process: the
//     nsenter constructor (package oci/nsenter) enters the namespaces before the Go
//     runtime starts threads, then forks once so that the final process is
//     really inside the target PID namespace. The intermediate exits at once:
//     the reaper sees an exit of a pid it does not know (ignore it) and, being
//     the subreaper, becomes the parent of the final process, whose pid is the
//     one returned.
//   - CreatePodInfra starts the built-in pause as a direct child and returns
//     once the pause reports (on fd 3, a pipe) that it is confined; SIGTERM or
//     SIGINT make it exit 0.
//   - A user-namespaced container with a bind mount that has idmap mappings
//     of its own makes a throwaway process to hold a user namespace with those
//     mappings; it is killed at once and is another unknown exit to ignore.
//
// Cgroups are package cgroups' (the caller passes the host's cgroups.Tree).
// An OOM kill is known through Tree.OOMKills (the cgroup's oom_kill counter,
// which the kernel bumps before the victim's exit can be reaped): read it when
// the container's init is reaped, before reporting the exit. Tree.Destroy
// afterwards kills what is left in the cgroup and removes it; it is idempotent
// and is the whole teardown: the executor never mounts anything in the host's
// mount namespace (the container's mount namespace dies with its last process).
//
// # How the monitor binary dispatches to this package
//
// The executor re-executes the running binary (a read-only view of
// /proc/self/exe, see Safety) with argv = {"crid-init", "init"},
// {"crid-exec", "init"} or {"crid-pause", "pause"}, an environment holding
// only _CRID_* variables (and, for the init, GODEBUG: see initGodebug), and
// fd 3 (and for exec fd 4) as its channel. The
// binary's main must dispatch on os.Args[1] before anything else — no flag
// parsing, no goroutines, no logging setup, no fd 3 handling:
//
//	func main() {
//		if len(os.Args) > 1 {
//			switch os.Args[1] {
//			case oci.InitArg: // "init"
//				oci.InitMain() // never returns
//			case oci.PauseArg: // "pause"
//				oci.PauseMain() // never returns
//			}
//		}
//		...
//	}
//
// The binary must also import package oci/nsenter, which links a cgo
// constructor (nsenter.c); it runs before the Go runtime in every process of
// the binary and does nothing unless _CRID_MODE, _CRID_NSENTER or _CRID_PAUSE
// is set, which only this package sets, on the processes it starts. With _CRID_PAUSE
// the constructor is the pause itself and Go never starts (a few pages per pod
// instead of a Go runtime). cmd/crid-monitor's TestLeanDependencies checks that
// it links it. Importing this package also
// locks the main thread at init (mainthread.go): link it only into that binary.
//
// # Safety
//
//   - CVE-2019-5736: the init and exec processes run from a detached read-only
//     bind mount of the binary that ends up mounted nowhere (a sealed memfd
//     copy is the fallback), so /proc/<pid>/exe can never be opened for
//     writing, nor remounted writable.
//   - CVE-2024-21626: every fd but 0-2 is close-on-exec before execve
//     (close_range), and the working directory is resolved inside the root
//     without magic links, then checked with getcwd.
//   - CVE-2021-30465: mount targets are resolved with openat2 RESOLVE_IN_ROOT|
//     RESOLVE_NO_MAGICLINKS and mounted by fd (move_mount), so a symlink in the
//     image or a swap during setup cannot redirect a mount outside the rootfs.
//     A mount's flags and propagation are set through its own fd too (binds
//     are given theirs while detached), never by looking its path up again.
//   - Masked files get the host's /dev/null (checked as char 1:3 on the opened
//     file, cloned before pivot_root), never the container's /dev/null.
//   - runc CVE-2016-9962: the init, exec and pause processes are not dumpable
//     (set by the nsenter constructor) until they execve the container's
//     program, and the init closes every fd above 2 but its channel before it
//     waits for Start.
//   - The pause runs in a mount namespace of its own with an empty read-only
//     root, no capability, no_new_privs and a seccomp filter: it is pid 1 of
//     a shared PID namespace, reachable through /proc/1/root.
//   - A sysctl is written in one write the kernel must take whole.
//   - /proc is checked with fstatfs (PROC_SUPER_MAGIC) before sysctls,
//     oom_score_adj and the AppArmor exec request are written, and those
//     writes refuse symlinks and crossing a mount (a volume mounted over the
//     process's attr dir through an image symlink, CVE-2019-16884).
//
// Files: create.go (Create, Start), exec.go, infra.go, init.go (the init side),
// namespaces.go, rootfs.go, mounts.go, cgroupfs.go (the container's cgroup
// mounts), paths.go, devices.go, idmap.go (user namespaces), caps.go, seccomp.go, console.go,
// selfexe.go, sync.go (the parent/child protocol).
package oci
