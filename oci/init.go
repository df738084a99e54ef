package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/ocihooks"
)

const syncFd = 3

// errNoNsenter: a pause reached Go, so the binary lacks the C constructor.
var errNoNsenter = errors.New("the nsenter constructor is not linked: the binary must import github.com/crid-dev/crid/oci/nsenter")

// InitMain is the entry point of the container init mode (argv[1] == InitArg).
// It reads its config from fd 3, sets the container up and execve()s the
// user's process; it only returns through os.Exit on failure, after telling
// the executor why.
func InitMain() {
	// Namespaces joined or unshared here, capabilities, no_new_privs and the
	// seccomp filter are per thread: everything runs on, and execve happens
	// from, this one locked thread.
	runtime.LockOSThread()
	// Not dumpable until execve (see the nsenter constructor, which already
	// did it: this covers a binary started without it).
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	s := os.NewFile(syncFd, "sync")
	err := runInit(s)
	_ = writeMsg(s, errorMsg(err))
	os.Exit(1)
}

func runInit(s *os.File) error {
	m, err := readMsg(s)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg := m.Config
	if cfg == nil || cfg.Spec == nil {
		return errors.New("no config")
	}
	for _, k := range []string{"_CRID_NSENTER", "_CRID_NSJOIN", "_CRID_NSUNSHARE", "_CRID_NSPIDFD", "_CRID_MODE"} {
		os.Unsetenv(k)
	}
	switch cfg.Mode {
	case "create":
		return initCreate(s, cfg)
	case "exec":
		return initExec(s, cfg)
	}
	return fmt.Errorf("unknown init mode %q", cfg.Mode)
}

func initCreate(s *os.File, cfg *initConfig) error {
	spec := cfg.Spec
	cfg.rootfsFd, cfg.rootTargetFd = -1, -1
	var err error
	if cfg.UserNS {
		if cfg.rootTargetFd, err = recvRawFd(s); err != nil {
			return fmt.Errorf("receive root: %w", err)
		}
	}
	if cfg.RootfsFd {
		if cfg.rootfsFd, err = recvRawFd(s); err != nil {
			return fmt.Errorf("receive rootfs: %w", err)
		}
	}
	cfg.mountFds = map[int]int{}
	for _, i := range cfg.PremadeMounts {
		if cfg.mountFds[i], err = recvRawFd(s); err != nil {
			return fmt.Errorf("receive premade mount: %w", err)
		}
	}
	cfg.cgroupBinds = map[int][]cgroupBind{}
	for _, i := range cfg.CgroupMounts {
		binds := make([]cgroupBind, 0, len(cfg.CgroupDirs)) // non-nil: binds, even none
		for _, dir := range cfg.CgroupDirs {
			fd, err := recvRawFd(s)
			if err != nil {
				return fmt.Errorf("receive cgroup bind: %w", err)
			}
			binds = append(binds, cgroupBind{dir: dir, fd: fd})
		}
		cfg.cgroupBinds[i] = binds
	}
	if cfg.UnshareCgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("cgroup namespace: %w", err)
		}
	}
	legacyDone := func() {}
	if cfg.NoMountSetattr {
		// Before any mount, while /proc is the host's (legacymount.go).
		if legacyDone, err = withLegacyMounts(); err != nil {
			return err
		}
	}
	// Before pivot_root, while "/dev/null" still names the host's.
	var null *hostDevNull
	if len(spec.Linux.MaskedPaths) > 0 {
		if null, err = openHostDevNull(); err != nil {
			return err
		}
	}
	if needCreateHooks(spec.Hooks) {
		cfg.beforePivot = func() error { return initCreateHooks(s, spec.Hooks) }
	}
	if err := setupRootfs(cfg); err != nil {
		return err
	}
	newUTS := false
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.UTSNamespace && ns.Path == "" {
			newUTS = true
		}
	}
	if newUTS && spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if newUTS && spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("setdomainname: %w", err)
		}
	}
	if len(spec.Linux.Sysctl) > 0 || spec.Process.OOMScoreAdj != nil {
		if err := writeProcSettings(spec); err != nil {
			return err
		}
	}
	if spec.Process.Cwd != "" {
		// Before the rootfs may turn read-only; resolved in the root without
		// magic links (a /proc/self/fd/N/dir would create on the host).
		if err := mkdirCwd(spec.Process.Cwd); err != nil {
			return err
		}
	}
	// Masked paths mask /proc files: after the sysctls, which go through /proc/sys.
	err = finishRootfs(spec, null)
	if null != nil {
		null.Close()
	}
	legacyDone()
	if err != nil {
		return err
	}
	if err := setRlimits(spec.Process); err != nil {
		return err
	}
	filter, err := buildSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return err
	}
	if spec.Process.Terminal {
		if err := setupConsole(s, spec.Process.ConsoleSize); err != nil {
			return err
		}
	} else if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	closeExtraFds(syncFd)
	if err := writeMsg(s, syncMsg{Ready: true}); err != nil {
		return err
	}
	m, err := readMsg(s)
	if err != nil {
		if errors.Is(err, io.EOF) {
			os.Exit(1) // the executor went away (Create failed or was cancelled)
		}
		return err
	}
	if !m.Start {
		return errors.New("expected start")
	}
	if spec.Hooks != nil && len(spec.Hooks.StartContainer) > 0 {
		if m.State == nil {
			return errHookState
		}
		// In the container's namespaces and root, before execve (and before the
		// process's capabilities and seccomp filter are set, as with runc).
		if err := ocihooks.Run(context.Background(), "startContainer", spec.Hooks.StartContainer, m.State, nil); err != nil {
			return err
		}
	}
	return finalize(spec.Process, filter, cfg)
}

// writeProcSettings writes sysctls and oom_score_adj through the container's
// /proc, after checking it is procfs.
func writeProcSettings(spec *specs.Spec) error {
	proc, err := openProcfs("/proc")
	if err != nil {
		return fmt.Errorf("container /proc: %w", err)
	}
	defer proc.Close()
	for k, v := range spec.Linux.Sysctl {
		if err := writeSysctl(proc, k, v); err != nil {
			return fmt.Errorf("sysctl %s=%q: %w", k, v, err)
		}
	}
	return setOOMScoreAdj(proc, spec.Process.OOMScoreAdj)
}

// writeSysctl writes the dotted key (a "/" stands for a dot inside a name:
// "net.ipv4.conf.eth0/100.rp_filter") with one write that the kernel must
// take whole: it parses what it understands and reports the rest as not
// written ("4000 junk" sets 4000), and a second write of the rest would be
// silently ignored. So a short write, like an empty value, is an error.
func writeSysctl(proc *os.File, key, value string) error {
	rel := strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
	for _, seg := range strings.Split(rel, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidSpec(errors.New("bad name"))
		}
	}
	if value == "" {
		return invalidSpec(errors.New("empty value"))
	}
	fd, err := openProcFile(proc, "sys/"+rel)
	if errors.Is(err, unix.ENOENT) {
		return invalidSpec(fmt.Errorf("no such sysctl in the container's namespaces: %w", err))
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, []byte(value))
	if errors.Is(err, unix.EINVAL) {
		return invalidSpec(fmt.Errorf("the kernel refuses the value: %w", err))
	}
	if err != nil {
		return err
	}
	if n != len(value) {
		return invalidSpec(fmt.Errorf("the kernel took only %q", value[:n]))
	}
	return nil
}

// setOOMScoreAdj writes the score; without CAP_SYS_RESOURCE a value below the
// current one is refused by the kernel, so it is clamped to the current value
// (containerd's restrict_oom_score_adj) instead of failing the container.
func setOOMScoreAdj(proc *os.File, adj *int) error {
	if adj == nil {
		return nil
	}
	rel := strconv.Itoa(os.Getpid()) + "/oom_score_adj"
	err := writeProcFile(proc, rel, strconv.Itoa(*adj))
	if err == nil || (!errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EPERM)) {
		if err != nil {
			return fmt.Errorf("oom_score_adj: %w", err)
		}
		return nil
	}
	cur, _ := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getpid()))
	slog.Debug("oom_score_adj below the current one needs CAP_SYS_RESOURCE: kept current",
		"wanted", *adj, "current", strings.TrimSpace(string(cur)))
	return nil
}

// setRlimits applies the process's rlimits (before the user change, which could
// forbid raising them). Raising a hard limit needs CAP_SYS_RESOURCE, which
// this runtime may lack (a root without it, like this project's CI): such a
// hard limit is clamped to the current one with a debug log instead of
// failing the container, as containerd does for oom_score_adj.
func setRlimits(p *specs.Process) error {
	for _, r := range p.Rlimits {
		res, ok := rlimitTypes[r.Type]
		if !ok {
			return invalidSpec(fmt.Errorf("rlimit %q not supported", r.Type))
		}
		want := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		err := unix.Prlimit(0, res, &want, nil)
		if errors.Is(err, unix.EPERM) {
			var cur unix.Rlimit
			if gerr := unix.Prlimit(0, res, nil, &cur); gerr == nil && want.Max > cur.Max {
				want.Max = cur.Max
				want.Cur = min(want.Cur, want.Max)
				slog.Debug("rlimit above the current hard limit needs CAP_SYS_RESOURCE: clamped",
					"rlimit", r.Type, "wanted", r.Hard, "hard", cur.Max)
				err = unix.Prlimit(0, res, &want, nil)
			}
		}
		if errors.Is(err, unix.EINVAL) { // soft above hard
			err = invalidSpec(err)
		}
		if err != nil {
			return fmt.Errorf("rlimit %s: %w", r.Type, err)
		}
	}
	return nil
}

// finalize turns the init into the user's process: AppArmor, user,
// capabilities, no_new_privs, seccomp, cwd, fds, execve. Shared by create and exec.
func finalize(p *specs.Process, filter *libseccomp.ScmpFilter, cfg *initConfig) error {
	if err := resetSignals(); err != nil {
		return err
	}
	if err := applyAppArmor(p.ApparmorProfile, cfg.AppArmor); err != nil {
		return err
	}
	path, err := lookPath(p)
	if err != nil {
		return err
	}
	if err := enterCwd(p.Cwd); err != nil {
		return err
	}
	last := lastCap()
	caps, err := parseCaps(p.Capabilities, last)
	if err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := dropBounding(caps.bounding, last); err != nil {
			return err
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	} else if filter != nil {
		// Without no_new_privs loading a filter needs CAP_SYS_ADMIN, which the
		// user change may drop: load it now. The remaining calls (setuid,
		// capset, execve) are allowed by any sane profile.
		if err := filter.Load(); err != nil {
			return fmt.Errorf("load seccomp: %w", err)
		}
	}
	if err := setUser(p.User, p.Capabilities != nil); err != nil {
		return err
	}
	if p.Capabilities != nil {
		if err := applyCaps(caps, last); err != nil {
			return err
		}
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	} else {
		unix.Umask(0o022)
	}
	// No fd but 0-2 may survive execve (CVE-2024-21626: a leaked host
	// directory fd lets the process walk out of its root).
	if err := cloexecFrom3(cfg.NoCloseRangeCloexec); err != nil {
		return err
	}
	if p.NoNewPrivileges && filter != nil {
		if err := filter.Load(); err != nil {
			return fmt.Errorf("load seccomp: %w", err)
		}
	}
	err = unix.Exec(path, p.Args, p.Env)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOTDIR) {
		// Missing or not executable: the image or process.args, never the host
		// (what runc's words say too: see crid-monitor's executableRefused).
		err = invalidSpec(err)
	}
	return fmt.Errorf("exec %s: %w", p.Args[0], err)
}

var rlimitTypes = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE,
	"RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_STACK": unix.RLIMIT_STACK,
}

// setUser switches to the process user. With keepCaps the permitted set
// survives the uid change so applyCaps can set the spec's sets afterwards.
func setUser(u specs.User, keepCaps bool) error {
	if keepCaps {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keepcaps: %w", err)
		}
		defer func() { _ = unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0) }()
	}
	gids := make([]int, 0, len(u.AdditionalGids))
	for _, g := range u.AdditionalGids {
		gids = append(gids, int(g))
	}
	// setgroups may be denied in a user namespace (/proc/<pid>/setgroups
	// "deny"); that only matters when groups were asked for.
	if err := unix.Setgroups(gids); err != nil && (len(gids) > 0 || !errors.Is(err, unix.EPERM)) {
		return fmt.Errorf("setgroups: %w", err)
	}
	// The raw syscalls act on this thread only: it is the one that execs,
	// and the Go runtime's all-threads variants would need signals to others.
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setresgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setresuid %d: %w", u.UID, e)
	}
	return nil
}

// lookPath finds args[0] in the process's own PATH, inside the container.
func lookPath(p *specs.Process) (string, error) {
	name := p.Args[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range p.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		f := filepath.Join(dir, name)
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return f, nil
		}
	}
	return "", invalidSpec(fmt.Errorf("exec %q: executable file not found in $PATH", name))
}

var (
	appArmorOnce sync.Once
	appArmorOn   bool
)

// appArmorEnabled tells whether the host kernel has AppArmor (checked once, in
// the executor).
func appArmorEnabled() bool {
	appArmorOnce.Do(func() {
		b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
		appArmorOn = err == nil && strings.HasPrefix(string(b), "Y")
	})
	return appArmorOn
}

// applyAppArmor asks for the profile on exec when the kernel has AppArmor;
// without it (like this project's CI kernel) the profile is skipped.
func applyAppArmor(profile string, enabled bool) error {
	if profile == "" || profile == "unconfined" {
		return nil
	}
	if !enabled {
		slog.Debug("AppArmor not enabled in this kernel: profile skipped", "profile", profile)
		return nil
	}
	// Through the checked procfs, by pid and tid (thread-self is a symlink), with
	// no mount crossed: a volume mounted over this thread's attr dir through a
	// symlink in the image (CVE-2019-16884) would otherwise take the request and
	// leave the process unconfined.
	proc, err := openProcfs("/proc")
	if err != nil {
		return fmt.Errorf("apparmor profile %s: %w", profile, err)
	}
	defer proc.Close()
	task := fmt.Sprintf("%d/task/%d/attr/", unix.Getpid(), unix.Gettid())
	var errs []error
	for _, f := range []string{"apparmor/exec", "exec"} {
		err := writeProcFile(proc, task+f, "exec "+profile)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", f, err))
	}
	return fmt.Errorf("apparmor profile %s could not be set: %w", profile, errors.Join(errs...))
}

// enterCwd changes into cwd resolved inside "/" (the container's root after
// pivot_root, or the joined mount namespace's root for exec) without magic
// links, then checks the kernel agrees the result is under the root: a leaked
// host fd named through /proc/self/fd could otherwise put the process outside
// its root (CVE-2024-21626).
func enterCwd(cwd string) error {
	if cwd == "" {
		cwd = "/"
	}
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := openInRoot(root, cwd, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("cwd %s: %w", cwd, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchdir(fd); err != nil {
		return fmt.Errorf("chdir %s: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("cwd %s is outside the container's root", cwd)
	}
	return nil
}

func mkdirCwd(cwd string) error {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	fd, err := mkdirAllInRoot(root, cwd, 0o755)
	if errors.Is(err, unix.ENOTDIR) { // the image has a file there
		err = invalidSpec(err)
	}
	if err != nil {
		return fmt.Errorf("cwd %s: %w", cwd, err)
	}
	unix.Close(fd)
	return nil
}
