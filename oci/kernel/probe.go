package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Options are what the probes need from their caller.
type Options struct {
	// Dir is where the probes make their scratch directories (removed
	// afterwards); os.TempDir() when empty. It should be on the filesystem
	// crid keeps its layers on.
	Dir string
	// UserNS returns an fd of a user namespace mapping root to an unprivileged
	// range, and a release function; nil skips the probes that need one (a
	// user namespace needs a process, which only the executor makes).
	UserNS func() (fd int, release func(), err error)
}

// WithoutEnv names probes to count as failed whatever the kernel answers,
// comma-separated, each a probe's name or its part before "(" or "+"
// ("mount_setattr,close_range"): the tests take an old kernel's fallbacks on
// a new one through it, end to end (crid hands its environment to the probe).
// Verbose Status shows them as missing, disabled by this variable.
const WithoutEnv = "CRID_KERNEL_WITHOUT"

// Run probes every interface once and returns the raw results. It mounts
// nothing anywhere: overlays are created but never attached, and the
// idmapped path probe attaches only inside a throwaway mount namespace.
func Run(o Options) Results {
	r := run(o)
	disable(r, os.Getenv(WithoutEnv))
	return r
}

// disable marks the probes named in list (see WithoutEnv) failed.
func disable(r Results, list string) {
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		for _, p := range AllProbes {
			short, _, _ := strings.Cut(string(p), "(")
			short, _, _ = strings.Cut(short, "+")
			if string(p) == name || short == name {
				r.Errs[p] = fmt.Errorf("%w (disabled by %s)", ErrUnsupported, WithoutEnv)
			}
		}
	}
}

func run(o Options) Results {
	r := Results{Release: Release(), Errs: map[Probe]error{}}
	dir, err := os.MkdirTemp(o.Dir, ".crid-kernel-probe-")
	if err != nil {
		for _, p := range AllProbes {
			r.Errs[p] = fmt.Errorf("scratch dir: %w", err)
		}
		return r
	}
	defer os.RemoveAll(dir)
	lowers := []string{filepath.Join(dir, "l1"), filepath.Join(dir, "l2")}
	for _, l := range lowers {
		if err := os.Mkdir(l, 0o755); err != nil {
			r.Errs[ProbeOverlayString] = err
			return r
		}
	}
	r.Errs[ProbeOpenat2] = probeOpenat2()
	r.Errs[ProbeMountSetattr] = probeMountSetattr()
	r.Errs[ProbeOpenTree] = probeOpenTree(dir)
	r.Errs[ProbeFsopenOverlay] = probeFsopen("overlay")
	r.Errs[ProbeClone3IntoCgroup] = probeClone3IntoCgroup()
	r.Errs[ProbePidfd] = probePidfd()
	r.Errs[ProbeCloseRangeCloexec] = probeCloseRangeCloexec()
	r.Errs[ProbeOverlayLowerdirPlus] = probeOverlayLowerdirPlus(lowers)
	r.Errs[ProbeOverlayString] = probeOverlayString(lowers)
	if o.UserNS == nil {
		return r
	}
	userns, release, err := o.UserNS()
	r.Errs[ProbeUserNamespaces] = err
	if err != nil {
		return r
	}
	defer release()
	r.Errs[ProbeIDMappedMounts] = probeIDMappedMount(dir, userns)
	r.Errs[ProbeOverlayIDMapFds] = probeOverlayIDMapFds(lowers, userns)
	r.Errs[ProbeOverlayIDMapPaths] = probeOverlayIDMapPaths(lowers, userns)
	return r
}

// ErrUnsupported marks a probe the kernel answered with "no such call or flag".
var ErrUnsupported = errors.New("not supported by this kernel")

// unsupported wraps the errnos an old kernel answers a new call or flag with.
func unsupported(err error) error {
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.E2BIG) {
		return fmt.Errorf("%w (%v)", ErrUnsupported, err)
	}
	return err
}

func probeOpenat2() error {
	fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return unsupported(err)
	}
	return unix.Close(fd)
}

// probeMountSetattr: EBADF on a bad fd means the call exists (5.12).
func probeMountSetattr() error {
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	if errors.Is(err, unix.EBADF) {
		return nil
	}
	return unsupported(err)
}

// probeOpenTree clones dir detached; closing the fd dissolves the clone.
// move_mount came with open_tree (5.2), so one probe answers for both.
func probeOpenTree(dir string) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return unsupported(err)
	}
	return unix.Close(fd)
}

func probeFsopen(fstype string) error {
	fd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return unsupported(err)
	}
	return unix.Close(fd)
}

// cloneArgs is struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2).
type cloneArgs struct {
	flags, pidfd, childTid, parentTid, exitSignal, stack, stackSize, tls, setTid, setTidSize, cgroup uint64
}

// probeClone3IntoCgroup asks clone3 for CLONE_INTO_CGROUP with an fd number
// nobody holds: a kernel that knows the flag fails on the fd (EBADF) before
// creating anything; an older one refuses the flag (EINVAL) or the call (ENOSYS).
func probeClone3IntoCgroup() error {
	args := cloneArgs{flags: unix.CLONE_INTO_CGROUP, exitSignal: uint64(unix.SIGCHLD), cgroup: 1<<31 - 1}
	_, _, errno := unix.Syscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&args)), unsafe.Sizeof(args), 0)
	switch errno {
	case unix.EBADF:
		return nil
	case 0:
		// Cannot happen with a bad cgroup fd; if it did we would be two.
		panic("clone3 probe created a process")
	}
	return unsupported(errno)
}

func probePidfd() error {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return unsupported(err)
	}
	defer unix.Close(fd)
	return unsupported(unix.PidfdSendSignal(fd, 0, nil, 0))
}

// probeCloseRangeCloexec marks a range no fd lives in: close_range is 5.9,
// its CLOEXEC flag 5.11.
func probeCloseRangeCloexec() error {
	return unsupported(unix.CloseRange(1<<31-2, 1<<31-1, unix.CLOSE_RANGE_CLOEXEC))
}

// createOverlay runs fn on a fresh overlay fs context and creates the
// superblock; it is never mounted and goes away with the fd.
func createOverlay(fn func(fsfd int) error) error {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return unsupported(err)
	}
	defer unix.Close(fsfd)
	if err := fn(fsfd); err != nil {
		return unsupported(err)
	}
	return unsupported(unix.FsconfigCreate(fsfd))
}

// probeOverlayLowerdirPlus: before 6.5 overlayfs keeps fsconfig strings for a
// legacy mount string, so only creating the superblock tells (6.8).
func probeOverlayLowerdirPlus(lowers []string) error {
	return createOverlay(func(fsfd int) error {
		for _, l := range lowers {
			if err := unix.FsconfigSetString(fsfd, "lowerdir+", l); err != nil {
				return err
			}
		}
		return nil
	})
}

// probeOverlayString checks the fallback: one lowerdir= string naming the
// layers through fd magic links, as the executor does. fsconfig passes the
// string to the same option parser mount(2) does.
func probeOverlayString(lowers []string) error {
	fds, names, err := OpenLayers(lowers)
	if err != nil {
		return err
	}
	defer closeAll(fds)
	return createOverlay(func(fsfd int) error {
		return unix.FsconfigSetString(fsfd, "lowerdir", names)
	})
}

// OpenLayers opens each layer dir as an O_PATH fd and returns the fds and
// the lowerdir= value naming them ("/proc/self/fd/12:/proc/self/fd/13"): a
// page then holds about 240 layers, whatever their paths (overlayfs takes 500).
func OpenLayers(dirs []string) (fds []int, lowerdir string, err error) {
	for i, d := range dirs {
		fd, err := unix.Open(d, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(fds)
			return nil, "", fmt.Errorf("open layer %s: %w", d, err)
		}
		fds = append(fds, fd)
		if i > 0 {
			lowerdir += ":"
		}
		lowerdir += fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	return fds, lowerdir, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// IDMapTree clones path as a detached mount idmapped through userns.
func IDMapTree(path string, userns int) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmap %s: %w", path, err)
	}
	return fd, nil
}

func probeIDMappedMount(dir string, userns int) error {
	fd, err := IDMapTree(dir, userns)
	if err != nil {
		return unsupported(err)
	}
	return unix.Close(fd)
}

// probeOverlayIDMapFds: detached idmapped layers handed over as fds (6.13+).
func probeOverlayIDMapFds(lowers []string, userns int) error {
	var fds []int
	defer func() { closeAll(fds) }()
	for _, l := range lowers {
		fd, err := IDMapTree(l, userns)
		if err != nil {
			return unsupported(err)
		}
		fds = append(fds, fd)
	}
	return createOverlay(func(fsfd int) error {
		for _, fd := range fds {
			if err := unix.FsconfigSetFd(fsfd, "lowerdir+", fd); err != nil {
				return err
			}
		}
		return nil
	})
}

// probeOverlayIDMapPaths: idmapped layers attached in a private mount
// namespace and named by path (5.19+), the way the executor falls back.
func probeOverlayIDMapPaths(lowers []string, userns int) error {
	err := InPrivateMountNS(func() error {
		names, err := AttachIDMapped(lowers, userns, filepath.Join(filepath.Dir(lowers[0]), "attach"))
		if err != nil {
			return err
		}
		return createOverlay(func(fsfd int) error {
			return unix.FsconfigSetString(fsfd, "lowerdir", names)
		})
	})
	return unsupported(err)
}

// InPrivateMountNS runs fn on an OS thread of its own that first leaves for
// a new mount namespace whose mounts are all private: nothing fn attaches is
// seen anywhere else, and it all goes when the thread ends (the thread is
// never handed back to the Go scheduler).
func InPrivateMountNS(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // no Unlock: the thread exits with its namespace
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			done <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			done <- fmt.Errorf("private mount namespace: %w", err)
			return
		}
		done <- fn()
	}()
	return <-done
}

// AttachIDMapped (inside InPrivateMountNS) attaches an idmapped view of each
// dir on <stage>/<i> (stage is made; a host path only this caller uses),
// makes stage the thread's working directory (its own there) and returns
// the lowerdir= value naming the views relative to it ("0:1:2"): short
// whatever the paths, so hundreds of layers fit mount(2)'s one page.
func AttachIDMapped(dirs []string, userns int, stage string) (string, error) {
	if err := os.MkdirAll(stage, 0o700); err != nil {
		return "", err
	}
	names := ""
	for i, d := range dirs {
		fd, err := IDMapTree(d, userns)
		if err != nil {
			return "", err
		}
		target := filepath.Join(stage, strconv.Itoa(i))
		err = os.Mkdir(target, 0o700)
		if err == nil {
			err = unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH)
		}
		unix.Close(fd)
		if err != nil {
			return "", fmt.Errorf("attach idmapped %s: %w", d, err)
		}
		if i > 0 {
			names += ":"
		}
		names += strconv.Itoa(i)
	}
	if err := unix.Chdir(stage); err != nil {
		return "", err
	}
	return names, nil
}
