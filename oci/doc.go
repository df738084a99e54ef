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
// starts:
//
//   - Create starts the container init as a direct child of the caller. Its pid
//     (Container.Pid) is the container's process after Start: the init execve()s
//     the user's program in place.
//   - Exec and Create with a joined user namespace start an intermediate process
//     that enters the namespaces (a C constructor does this before the Go runtime
//     starts threads) and forks once so that the final process is really inside
//     the target PID namespace. The intermediate exits right away; the monitor's
//     reaper sees its exit (an unknown pid: ignore it) and, being the subreaper,
//     becomes the parent of the final process, whose pid is what Exec returns.
//   - CreatePodInfra starts the built-in pause as a direct child.
//
// # How the monitor binary dispatches to this package
//
// The executor re-executes the running binary (a read-only view of
// /proc/self/exe, see below) with argv[1] set to a mode:
//
//	crid-monitor init    -> call oci.InitMain()  (never returns)
//	crid-monitor pause   -> call oci.PauseMain() (never returns)
//
// main() must check os.Args[1] before doing anything else (no goroutines, no
// logging setup, no flag parsing):
//
//	func main() {
//		if len(os.Args) > 1 {
//			switch os.Args[1] {
//			case oci.InitArg:
//				oci.InitMain()
//			case oci.PauseArg:
//				oci.PauseMain()
//			}
//		}
//		...
//	}
//
// Importing this package links a cgo constructor (nsenter.c) that runs before
// the Go runtime in every process of the binary; it does nothing unless the
// environment variable _CRID_NSENTER is set, which only this package sets on
// the processes it starts. The binary must therefore be built with cgo (it is
// anyway, for libseccomp).
//
// # Safety
//
// The init is started from a detached read-only bind mount of the binary
// (falling back to a sealed memfd copy), so the container can never open the
// monitor binary for writing (CVE-2019-5736); every host fd
// is close-on-exec before execve and the working directory is resolved inside
// the rootfs (CVE-2024-21626); mount destinations are resolved with openat2
// RESOLVE_IN_ROOT and mounted through /proc/self/fd (CVE-2021-30465).
package oci
