package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
)

// Exec starts a process inside a running container: it joins every namespace
// of ContainerPid that differs from the caller's (user and mount included,
// through the nsenter constructor), the container's cgroup, and applies the
// process's user, capabilities, no_new_privs, rlimits, AppArmor profile and
// the spec's seccomp profile. It returns once the process execve()d (or why it
// could not). The returned pid is the caller's to reap; when the container has
// its own PID namespace an intermediate process (the nsenter fork parent)
// exits first, and the subreaper inherits the returned pid.
func Exec(ctx context.Context, opts ExecOptions) (pid int, console *os.File, retErr error) {
	if opts.Process == nil || len(opts.Process.Args) == 0 {
		return 0, nil, errors.New("exec: process has no args")
	}
	if opts.Spec == nil || opts.Spec.Linux == nil {
		return 0, nil, errors.New("exec: spec has no linux section")
	}
	if err := ctx.Err(); err != nil { // see Create: the AfterFunc alone may come too late
		return 0, nil, fmt.Errorf("exec: %w", err)
	}
	exe, err := selfPath()
	if err != nil {
		return 0, nil, err
	}
	pidfd, err := unix.PidfdOpen(opts.ContainerPid, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("exec: container process %d: %w", opts.ContainerPid, err)
	}
	pidf := os.NewFile(uintptr(pidfd), "pidfd")
	defer pidf.Close()
	flags, err := nsDiff(opts.ContainerPid)
	if err != nil {
		return 0, nil, fmt.Errorf("exec: %w", err)
	}
	// The pidfd pins the process: if it died and its pid was reused between
	// the namespace comparison and now, setns(pidfd) fails instead of joining
	// a stranger.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return 0, nil, fmt.Errorf("exec: container process %d: %w", opts.ContainerPid, err)
	}
	var cg *cgroups.Cgroup
	if opts.Spec.Linux.CgroupsPath != "" {
		p, err := cgroups.ParsePath(opts.Spec.Linux.CgroupsPath)
		if err == nil {
			cg, err = opts.Cgroups.Load(p)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("exec: %w", err)
		}
	}
	parent, child, err := socketPair("exec-sync")
	if err != nil {
		return 0, nil, err
	}
	defer parent.Close()
	files, closeFiles, err := stdioFiles(opts.Stdio, opts.Process.Terminal)
	if err != nil {
		child.Close()
		return 0, nil, err
	}
	files = append(files, child, pidf)
	attr := &os.ProcAttr{
		Files: files,
		Env:   []string{"_CRID_MODE=exec", initGodebug, "_CRID_NSENTER=3", fmt.Sprintf("_CRID_NSPIDFD=4:%d", flags)},
		Sys:   &syscall.SysProcAttr{},
	}
	proc, err := os.StartProcess(exe, []string{"crid-exec", InitArg}, attr)
	child.Close()
	closeFiles()
	if err != nil {
		return 0, nil, fmt.Errorf("exec: start: %w", err)
	}
	first := proc.Pid
	_ = proc.Release()
	defer func() {
		if retErr != nil {
			_ = unix.Kill(first, unix.SIGKILL)
			if pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			pid = 0
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = parent.SetDeadline(time.Now()) })
	defer stop()
	m, err := readMsg(parent)
	if err != nil {
		return 0, nil, fmt.Errorf("exec: nsenter: %w", err)
	}
	if m.Error != "" {
		return 0, nil, fmt.Errorf("exec: %w", m.childErr())
	}
	pid = m.Pid
	if cg != nil {
		if err := cg.Add(pid); err != nil {
			return pid, nil, fmt.Errorf("exec: join cgroup: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return pid, nil, fmt.Errorf("exec: %w", err)
	}
	kf := opts.Kernel
	if kf == nil {
		kf = HostKernel(false)
	}
	cfg := &initConfig{Mode: "exec", Spec: opts.Spec, Process: opts.Process, AppArmor: appArmorEnabled(), NoCloseRangeCloexec: !kf.CloseRangeCloexec}
	if err := writeMsg(parent, syncMsg{Config: cfg}); err != nil {
		return pid, nil, fmt.Errorf("exec: send config: %w", err)
	}
	for {
		m, err := readMsg(parent)
		if errors.Is(err, io.EOF) {
			return pid, console, nil // close-on-exec: the process is running
		}
		if err == nil && m.Console {
			if console, err = recvFd(parent, "console"); err == nil {
				continue
			}
		}
		if err == nil {
			err = m.childErr()
		}
		if console != nil {
			console.Close()
			console = nil
		}
		return pid, nil, fmt.Errorf("exec: %w", err)
	}
}

// nsDiff returns the clone flags of the namespaces of pid that differ from ours.
func nsDiff(pid int) (int, error) {
	flags := 0
	for _, k := range nsKinds {
		var a, b unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, k.name), &b); err != nil {
			if errors.Is(err, unix.ENOENT) && k.name != "mnt" {
				continue
			}
			return 0, err
		}
		if err := unix.Stat("/proc/self/ns/"+k.name, &a); err != nil {
			continue
		}
		if a.Ino != b.Ino || a.Dev != b.Dev {
			flags |= k.flag
		}
	}
	return flags, nil
}

// initExec runs in the exec child, already inside the container's namespaces.
func initExec(s *os.File, cfg *initConfig) error {
	p := cfg.Process
	filter, err := buildSeccomp(cfg.Spec.Linux.Seccomp)
	if err != nil {
		return err
	}
	if err := setRlimits(p); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil {
		if proc, err := openProcfs("/proc"); err == nil {
			err = setOOMScoreAdj(proc, p.OOMScoreAdj)
			proc.Close()
			if err != nil {
				return err
			}
		}
	}
	if p.Terminal {
		if err := setupConsole(s, p.ConsoleSize); err != nil {
			return err
		}
	} else if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	closeExtraFds(syncFd)
	return finalize(p, filter, cfg)
}
