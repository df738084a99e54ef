package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci/kernel"
	"github.com/crid-dev/crid/ocihooks"
)

type syscallIDMap = syscall.SysProcIDMap

// initConfig is what the executor sends the init (or exec child) once it sits
// in its cgroup.
type initConfig struct {
	Mode    string         `json:"mode"` // "create" or "exec"
	ID      string         `json:"id,omitempty"`
	Spec    *specs.Spec    `json:"spec"`
	Rootfs  []specs.Mount  `json:"rootfs,omitempty"`
	Process *specs.Process `json:"process,omitempty"` // exec: the process to run
	// UnshareCgroupNS: the init makes its cgroup namespace itself, after it was
	// placed in its cgroup, so that the namespace root is the container's cgroup
	// (with clone3 CLONE_INTO_CGROUP the clone flag does that already).
	UnshareCgroupNS bool `json:"unshareCgroupNS,omitempty"`
	// AppArmor: the host kernel has AppArmor enabled (decided by the executor:
	// the init may not see the host's /sys).
	AppArmor bool `json:"appArmor,omitempty"`
	// CgroupV2: the executor drives the unified hierarchy; the init mounts
	// /sys/fs/cgroup accordingly (one detection, made by the executor).
	CgroupV2 bool `json:"cgroupV2,omitempty"`
	// Overlay: how this kernel mounts an overlay rootfs (the executor's probe).
	Overlay kernel.OverlayMount `json:"overlay,omitempty"`
	// NoMountSetattr: the kernel has no mount_setattr (before 5.12); the init
	// sets mount flags with mount(2) through each mount's fd (legacymount.go).
	NoMountSetattr bool `json:"noMountSetattr,omitempty"`
	// NoCloseRangeCloexec: close_range has no CLOEXEC flag (before 5.11);
	// the init marks the fds it lists instead (fds.go).
	NoCloseRangeCloexec bool `json:"noCloseRangeCloexec,omitempty"`
	// CgroupRoot is where the executor's cgroup tree is mounted.
	CgroupRoot string `json:"cgroupRoot,omitempty"`
	// UserNS: the process runs in a user namespace other than the host's.
	UserNS bool `json:"userNS,omitempty"`
	// With UserNS, fds follow the config: an O_PATH fd of Root.Path (the init
	// may not be able to look it up), the rootfs as a detached idmapped mount
	// if RootfsFd, then one premade mount per PremadeMounts entry (indexes
	// into Spec.Mounts), then for each CgroupMounts entry (a cgroup mount of
	// Spec.Mounts the init may not make, see cgroupV1Binds) one bind per
	// CgroupDirs entry.
	RootfsFd      bool     `json:"rootfsFd,omitempty"`
	PremadeMounts []int    `json:"premadeMounts,omitempty"`
	CgroupMounts  []int    `json:"cgroupMounts,omitempty"`
	CgroupDirs    []string `json:"cgroupDirs,omitempty"`

	rootTargetFd int                  // received by the init
	rootfsFd     int                  // received by the init
	mountFds     map[int]int          // received by the init: Spec.Mounts index -> fd
	cgroupBinds  map[int][]cgroupBind // received by the init: Spec.Mounts index -> binds
	beforePivot  func() error         // the init's createContainer hooks, if any
}

// Create sets the container up completely (namespaces, rootfs, cgroup, security)
// and leaves its init blocked right before execve of the user's process. On
// error nothing is left behind: the init is killed (the caller still reaps it)
// and the cgroup removed.
func Create(ctx context.Context, opts CreateOptions) (_ *Container, retErr error) {
	spec := opts.Spec
	if err := validateSpec(opts.ID, spec); err != nil {
		return nil, invalidSpec(err)
	}
	// The context is checked before and between the steps, not only by the
	// AfterFunc below: that runs in its own goroutine, so on a busy machine
	// a setup that never blocks would finish before it interrupts anything.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	plan, err := planNamespaces(spec)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	if !plan.has(unix.CLONE_NEWNS) {
		return nil, fmt.Errorf("container %s: a new mount namespace is required", opts.ID)
	}
	if plan.has(unix.CLONE_NEWUSER) && plan.joins(unix.CLONE_NEWUSER) {
		return nil, fmt.Errorf("container %s: user namespace both new and joined", opts.ID)
	}
	exe, err := selfPath()
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	tree := opts.Cgroups
	cgPath, err := cgroups.ParsePath(spec.Linux.CgroupsPath)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	making := makeCgroup(tree, cgPath, spec.Linux.Resources)
	cgroup := func() (*cgroups.Cgroup, error) {
		cg, err := making.wait()
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) {
			err = invalidSpec(err) // the kernel refused a resource value (a CPU period below 1 ms...)
		}
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", opts.ID, err)
		}
		return cg, nil
	}
	pid := 0
	defer func() {
		if retErr != nil {
			if pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
			_, _ = making.wait()
			_ = tree.Destroy(cgPath)
		}
	}()
	if tree.Unified { // made already: a refused resource refuses the container before it starts
		if _, err := cgroup(); err != nil {
			return nil, err
		}
	}
	parent, child, err := socketPair("init-sync")
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			parent.Close()
		}
	}()
	files, closeFiles, err := stdioFiles(opts.Stdio, spec.Process.Terminal)
	if err != nil {
		child.Close()
		return nil, err
	}
	files = append(files, child)
	env := []string{"_CRID_MODE=create", initGodebug}
	sys := &syscall.SysProcAttr{}
	kf := opts.Kernel
	if kf == nil {
		kf = HostKernel(plan.has(unix.CLONE_NEWUSER) || plan.joins(unix.CLONE_NEWUSER))
	}
	if (plan.has(unix.CLONE_NEWUSER) || plan.joins(unix.CLONE_NEWUSER)) && kf.IDMappedOverlay == kernel.IDMappedNone {
		// Its rootfs and volumes would need idmapped mounts (and overlayfs on
		// them); the daemon does not advertise user namespaces here.
		child.Close()
		return nil, fmt.Errorf("container %s: user namespaces are not supported by kernel %s (no idmapped mounts, or overlayfs cannot sit on idmapped layers)", opts.ID, kf.Release)
	}
	cfg := &initConfig{Mode: "create", ID: opts.ID, Spec: spec, Rootfs: opts.Rootfs, AppArmor: appArmorEnabled(),
		CgroupV2: tree.Unified, CgroupRoot: tree.Root, Overlay: kf.Overlay,
		NoMountSetattr: !kf.MountSetattr, NoCloseRangeCloexec: !kf.CloseRangeCloexec}
	viaConstructor := plan.joins(unix.CLONE_NEWUSER)
	if viaConstructor {
		// Joining the pod's user namespace needs a single-threaded process:
		// the nsenter constructor joins everything and unshares the new ones.
		env = append(env, "_CRID_NSENTER=3", "_CRID_NSJOIN="+plan.joinEnv(),
			"_CRID_NSUNSHARE="+strconv.Itoa(plan.newMask&^unix.CLONE_NEWCGROUP))
		cfg.UnshareCgroupNS = plan.has(unix.CLONE_NEWCGROUP)
		cfg.UserNS = true
	} else {
		sys.Cloneflags = uintptr(plan.newMask)
		if plan.has(unix.CLONE_NEWUSER) {
			sys.UidMappings = idMaps(spec.Linux.UIDMappings)
			sys.GidMappings = idMaps(spec.Linux.GIDMappings)
			sys.GidMappingsEnableSetgroups = true
			// Become the namespace's root before execve, or the init would run
			// as the unmapped overflow uid and lose every capability.
			sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
			cfg.UserNS = true
		}
		var cgFd *os.File
		if tree.Unified {
			cg, _ := making.wait() // made, without error: checked above
			if cgFd, err = cg.OpenDir(); err != nil {
				child.Close()
				closeFiles()
				return nil, fmt.Errorf("container %s: open cgroup: %w", opts.ID, err)
			}
		}
		if cgFd != nil {
			defer cgFd.Close()
			sys.UseCgroupFD, sys.CgroupFD = true, int(cgFd.Fd())
		} else {
			// v1: the init is moved into its cgroup before it gets its config;
			// the cgroup namespace must be made after that move.
			sys.Cloneflags &^= unix.CLONE_NEWCGROUP
			cfg.UnshareCgroupNS = plan.has(unix.CLONE_NEWCGROUP)
		}
	}
	attr := &os.ProcAttr{Files: files, Env: env, Sys: sys}
	threadJoins := plan.join
	if viaConstructor {
		threadJoins = nil // the constructor joins them all
	}
	if err := ctx.Err(); err != nil {
		child.Close()
		closeFiles()
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	proc, err := onJoinedThread(threadJoins, func() (*os.Process, error) {
		return os.StartProcess(exe, []string{"crid-init", InitArg}, attr)
	})
	child.Close()
	closeFiles()
	if err != nil {
		return nil, fmt.Errorf("container %s: start init: %w", opts.ID, err)
	}
	pid = proc.Pid
	_ = proc.Release() // the monitor reaps it, never us
	stop := context.AfterFunc(ctx, func() { _ = parent.SetDeadline(time.Now()) })
	defer stop()
	if viaConstructor {
		m, err := readMsg(parent)
		if err != nil {
			return nil, fmt.Errorf("container %s: nsenter: %w", opts.ID, ctxErr(ctx, err))
		}
		if m.Error != "" {
			return nil, fmt.Errorf("container %s: %w", opts.ID, m.childErr())
		}
		// The intermediate exits; the monitor reaps it and inherits the init.
		pid = m.Pid
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("container %s: %w", opts.ID, err)
	}
	cg, err := cgroup()
	if err != nil {
		return nil, err
	}
	if !sys.UseCgroupFD {
		if err := cg.Add(pid); err != nil {
			return nil, fmt.Errorf("container %s: join cgroup: %w", opts.ID, err)
		}
	}
	var fds []int
	if cfg.UserNS {
		if fds, err = userNSMounts(pid, cfg, opts.Rootfs, kf.IDMappedOverlay); err != nil {
			return nil, fmt.Errorf("container %s: %w", opts.ID, err)
		}
	}
	err = ctx.Err()
	if err == nil {
		err = writeMsg(parent, syncMsg{Config: cfg})
	}
	for _, fd := range fds {
		if err == nil {
			err = sendFd(parent, fd)
		}
		unix.Close(fd)
	}
	if err != nil {
		return nil, fmt.Errorf("container %s: send config: %w", opts.ID, ctxErr(ctx, err))
	}
	c := &Container{ID: opts.ID, Pid: pid, Cgroup: cg.Path(), sync: parent}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		c.state = ocihooks.State(opts.ID, specs.StateCreated, pid, opts.Bundle, spec.Annotations)
	}
	for {
		m, err := readMsg(parent)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("init exited during setup")
			}
			c.closeConsole()
			err = ctxErr(ctx, err)
			return nil, fmt.Errorf("container %s: %w", opts.ID, err)
		}
		switch {
		case m.Error != "":
			c.closeConsole()
			return nil, fmt.Errorf("container %s: %w", opts.ID, m.childErr())
		case m.Hooks:
			// The init made the namespaces and mounts and waits before pivot_root: the
			// runtime-namespace hooks of the create run here, in the monitor's namespaces.
			st := ocihooks.State(opts.ID, specs.StateCreating, pid, opts.Bundle, spec.Annotations)
			if err := runCreateHooks(ctx, spec.Hooks, st, opts.HookWait); err != nil {
				c.closeConsole()
				return nil, fmt.Errorf("container %s: %w", opts.ID, err)
			}
			if err := writeMsg(parent, syncMsg{State: st}); err != nil {
				c.closeConsole()
				return nil, fmt.Errorf("container %s: %w", opts.ID, ctxErr(ctx, err))
			}
		case m.Console:
			if c.Console, err = recvFd(parent, "console"); err != nil {
				return nil, fmt.Errorf("container %s: receive console: %w", opts.ID, ctxErr(ctx, err))
			}
		case m.Ready:
			// A caller that gave up during a setup quicker than the AfterFunc
			// gets no container it would never start or delete.
			if err := ctx.Err(); err != nil {
				c.closeConsole()
				return nil, fmt.Errorf("container %s: %w", opts.ID, err)
			}
			return c, nil
		}
	}
}

// ctxErr returns the context's error, wrapping err, once the context ended: a
// read the AfterFunc interrupted then says why (cancelled, deadline) instead of
// "i/o timeout".
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%w)", cerr, err)
	}
	return err
}

func (c *Container) closeConsole() {
	if c.Console != nil {
		c.Console.Close()
		c.Console = nil
	}
}

// Start releases the init to execve the user's process and returns once it
// did (or why it could not: e.g. the program is not found).
func (c *Container) Start() error {
	if c.sync == nil {
		return fmt.Errorf("container %s: already started", c.ID)
	}
	s := c.sync
	c.sync = nil
	defer s.Close()
	_ = s.SetDeadline(time.Time{})
	if err := writeMsg(s, syncMsg{Start: true, State: c.state}); err != nil {
		return fmt.Errorf("container %s: start: %w", c.ID, err)
	}
	// The init's end is close-on-exec: EOF means execve succeeded.
	m, err := readMsg(s)
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("container %s: start: %w", c.ID, err)
	}
	return fmt.Errorf("container %s: start: %w", c.ID, m.childErr())
}

func validateSpec(id string, spec *specs.Spec) error {
	switch {
	case id == "":
		return errors.New("container id is empty")
	case spec == nil || spec.Process == nil || len(spec.Process.Args) == 0:
		return fmt.Errorf("container %s: spec has no process args", id)
	case spec.Root == nil || spec.Root.Path == "":
		return fmt.Errorf("container %s: spec has no root path", id)
	case spec.Linux == nil:
		return fmt.Errorf("container %s: spec has no linux section", id)
	}
	return nil
}

// stdioFiles returns fds 0-2 for the child. With a terminal the init opens the
// pty itself and stdio is /dev/null until then.
func stdioFiles(s Stdio, terminal bool) ([]*os.File, func(), error) {
	var opened []*os.File
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	devNull := func() (*os.File, error) {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err == nil {
			opened = append(opened, f)
		}
		return f, err
	}
	files := []*os.File{s.Stdin, s.Stdout, s.Stderr}
	for i, f := range files {
		if f == nil || terminal {
			nf, err := devNull()
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			files[i] = nf
		}
	}
	return files, closeAll, nil
}

// userNSMounts prepares the idmapped rootfs and bind mounts of a container in a
// user namespace (see idmap.go) and returns the fds to send, in order.
func userNSMounts(pid int, cfg *initConfig, rootfs []specs.Mount, how kernel.IDMappedOverlay) ([]int, error) {
	userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("user namespace: %w", err)
	}
	defer unix.Close(userns)
	if err := os.MkdirAll(cfg.Spec.Root.Path, 0o755); err != nil {
		return nil, fmt.Errorf("rootfs mount point: %w", err)
	}
	// Opened through the init's root so that the fd names the mount point in
	// the init's mount namespace (move_mount refuses a target in another).
	target, err := unix.Open(fmt.Sprintf("/proc/%d/root%s", pid, filepath.Clean(cfg.Spec.Root.Path)), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rootfs mount point: %w", err)
	}
	fds := []int{target}
	if len(rootfs) == 0 {
		// An already prepared root directory: an idmapped view of it.
		rootfs = []specs.Mount{{Type: "bind", Source: cfg.Spec.Root.Path, Options: []string{"rbind"}}}
	}
	fd, err := idmappedRootfs(rootfs, cfg.Spec, userns, how)
	if err != nil {
		unix.Close(target)
		return nil, err
	}
	cfg.RootfsFd, fds = true, append(fds, fd)
	idx, mfds, err := premadeBinds(cfg.Spec, userns)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	cfg.PremadeMounts = idx
	fds = append(fds, mfds...)
	cfds, err := cgroupMountBinds(pid, cfg)
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	return append(fds, cfds...), nil
}
