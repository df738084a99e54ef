package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
)

// CreatePodInfra starts the pod's built-in pause process, which holds the new
// namespaces the spec asks for (ipc, uts, pid, and user with its mappings) and
// joins those given by path (net, usually). It needs no rootfs and no image;
// when spec.Linux.CgroupsPath is set it runs in that cgroup (the caller
// removes it with cgroups.Tree.Destroy). The pause itself is C code run by the
// nsenter constructor (package oci/nsenter), so it costs a few pages of memory.
// Whatever spec.Process says, it confines itself before CreatePodInfra
// returns: a mount namespace of its own with an empty read-only root (pid 1 of
// a shared PID namespace is reachable through /proc/1/root), no capability,
// no_new_privs and a seccomp filter allowing only its wait loop. Its pid is
// the caller's to reap; SIGTERM or SIGINT stop it with status 0. The caller
// pins the namespaces from /proc/<pid>/ns/* if it needs them to outlive it.
func CreatePodInfra(ctx context.Context, spec *specs.Spec, tree cgroups.Tree) (pid int, retErr error) {
	if spec == nil || spec.Linux == nil {
		return 0, invalidSpec(errors.New("pod infra: spec has no linux section"))
	}
	plan, err := planNamespaces(spec)
	if err != nil {
		return 0, fmt.Errorf("pod infra: %w", err)
	}
	if plan.joins(unix.CLONE_NEWUSER) || plan.joins(unix.CLONE_NEWNS) {
		return 0, invalidSpec(errors.New("pod infra: joining a user or mount namespace is not supported"))
	}
	exe, err := selfPath()
	if err != nil {
		return 0, err
	}
	// A mount namespace of its own, always: the pause replaces its root with
	// an empty read-only one (see run_pause in package oci/nsenter).
	sys := &syscall.SysProcAttr{Cloneflags: uintptr(plan.newMask | unix.CLONE_NEWNS), Setsid: true}
	if plan.has(unix.CLONE_NEWUSER) {
		sys.UidMappings = idMaps(spec.Linux.UIDMappings)
		sys.GidMappings = idMaps(spec.Linux.GIDMappings)
		sys.GidMappingsEnableSetgroups = true
		sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	var making *cgroupMaking
	if spec.Linux.CgroupsPath != "" {
		p, err := cgroups.ParsePath(spec.Linux.CgroupsPath)
		if err != nil {
			return 0, fmt.Errorf("pod infra: %w", err)
		}
		making = makeCgroup(tree, p, spec.Linux.Resources)
		defer func() {
			if retErr != nil {
				_, _ = making.wait()
				_ = tree.Destroy(p)
			}
		}()
		if tree.Unified {
			cg, err := making.wait()
			if err != nil {
				return 0, fmt.Errorf("pod infra: %w", err)
			}
			fd, err := cg.OpenDir()
			if err != nil {
				return 0, fmt.Errorf("pod infra: %w", err)
			}
			if fd != nil {
				defer fd.Close()
				sys.UseCgroupFD, sys.CgroupFD = true, int(fd.Fd())
			}
		}
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer null.Close()
	// The pause says on fd 3 when it is confined, or why it could not be.
	report, reportW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer report.Close()
	env := []string{"_CRID_PAUSE=1", "_CRID_PAUSE_CONFINE=1"}
	if plan.has(unix.CLONE_NEWUTS) && spec.Hostname != "" {
		env = append(env, "_CRID_HOSTNAME="+spec.Hostname)
	}
	attr := &os.ProcAttr{Dir: "/", Files: []*os.File{null, null, null, reportW}, Env: env, Sys: sys}
	proc, err := onJoinedThread(plan.join, func() (*os.Process, error) {
		return os.StartProcess(exe, []string{"crid-pause", PauseArg}, attr)
	})
	reportW.Close()
	if err != nil {
		return 0, fmt.Errorf("pod infra: start: %w", err)
	}
	pid = proc.Pid
	_ = proc.Release()
	if making != nil && !sys.UseCgroupFD {
		cg, err := making.wait()
		if err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return 0, fmt.Errorf("pod infra: %w", err)
		}
		if err := cg.Add(pid); err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return 0, fmt.Errorf("pod infra: join cgroup: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = report.SetDeadline(time.Now()) })
	defer stop()
	msg, err := io.ReadAll(report)
	if err == nil && string(msg) != "ok" {
		err = errors.New(string(msg))
		if len(msg) == 0 {
			err = errors.New("the pause exited before it was set up")
		}
	}
	if err != nil {
		_ = unix.Kill(pid, unix.SIGKILL) // the caller's reaper collects it
		return 0, fmt.Errorf("pod infra: %w", ctxErr(ctx, err))
	}
	return pid, nil
}

// PauseMain is the entry point of the pod infra mode (argv[1] == PauseArg).
// The C constructor normally runs the pause before Go starts; this Go version
// only runs if the binary was started in pause mode without _CRID_PAUSE.
func PauseMain() {
	if os.Getenv("_CRID_PAUSE") != "" {
		// Started by CreatePodInfra, yet the constructor did not take over.
		fmt.Fprintln(os.Stderr, errNoNsenter)
		os.Exit(2)
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD)
	for sig := range ch {
		if sig != unix.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws unix.WaitStatus
			if p, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); p <= 0 || err != nil {
				break
			}
		}
	}
}
