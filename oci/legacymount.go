package oci

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Mount flags without mount_setattr (Linux before 5.12: Debian 11's 5.10).
//
// The init builds every mount detached (open_tree, fsmount: 5.2) and attaches
// it by fd (move_mount), so that a rename in a shared volume cannot redirect
// it; with mount_setattr it also sets the mount's flags while detached.
// Without it the flags are set right after attaching, with mount(2)
// MS_REMOUNT|MS_BIND on the new mount itself, named by the fd crid holds
// through a procfs magic link ("N" in <proc>/<pid>/fd): a magic link jumps to
// exactly the mount and directory the fd holds, so no path is looked up again
// and whatever is renamed or mounted meanwhile changes nothing. That procfs is
// the host's, opened before the first mount: nothing the container's mounts
// put over its own /proc can answer instead. The container's mount namespace
// is the init's alone until Start, so nobody sees a mount before its flags are
// set. runc's answer on such kernels (a mount(2) bind onto a procfs fd path,
// then a remount of that path) differs only in where the fd comes from: here
// it is the new mount's own.
//
// What has no fallback: recursive attributes on a tree that holds other
// mounts (rro, rnosuid... on an rbind), which is refused (Status does not
// advertise recursive read-only mounts there), and idmapped mounts (user
// namespaces are not advertised either).

// legacy is non-nil in an init whose kernel has no mount_setattr, from the
// start of setupRootfs to the end of finishRootfs (see withLegacyMounts).
var legacy *legacyMounter

type legacyMounter struct {
	fdDir int // O_PATH of the host procfs's <pid>/fd for this process
}

// withLegacyMounts opens the host's procfs fd dir for the mount fallbacks
// and returns the function that closes it again (before the init closes its
// extra fds). Call it before any mount, while /proc is the host's.
func withLegacyMounts() (func(), error) {
	proc, err := openProcfs("/proc")
	if err != nil {
		return nil, fmt.Errorf("mounts without mount_setattr: %w", err)
	}
	defer proc.Close()
	// "self" is a plain symlink inside procfs ("<pid>" in the procfs's own
	// PID namespace, wherever this process sits); no mount may be crossed.
	fd, err := unix.Openat2(int(proc.Fd()), "self/fd", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, fmt.Errorf("mounts without mount_setattr: open procfs fd dir: %w", err)
	}
	legacy = &legacyMounter{fdDir: fd}
	return func() {
		unix.Close(fd)
		legacy = nil
	}, nil
}

// mountFd runs mount(2) with flags on what fd refers to (an attached mount's
// root), named by its magic link relative to the fd dir as working directory.
// The working directory is put back afterwards.
func (l *legacyMounter) mountFd(fd int, flags uintptr) error {
	cwd, err := unix.Open(".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(cwd)
	if err := unix.Fchdir(l.fdDir); err != nil {
		return err
	}
	err = unix.Mount("", strconv.Itoa(fd), "", flags, "")
	if cerr := unix.Fchdir(cwd); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// statfs f_flags bits (linux/statfs.h; x/sys/unix has no names for them).
const (
	stRdonly      = 0x1
	stNosuid      = 0x2
	stNodev       = 0x4
	stNoexec      = 0x8
	stNoatime     = 0x400
	stNodiratime  = 0x800
	stRelatime    = 0x1000
	stNosymfollow = 0x2000
)

// perMountFlags pairs each per-mount flag as MOUNT_ATTR_*, statfs ST_* and MS_*.
var perMountFlags = []struct {
	attr uint64
	st   int64
	ms   uintptr
}{
	{unix.MOUNT_ATTR_RDONLY, stRdonly, unix.MS_RDONLY},
	{unix.MOUNT_ATTR_NOSUID, stNosuid, unix.MS_NOSUID},
	{unix.MOUNT_ATTR_NODEV, stNodev, unix.MS_NODEV},
	{unix.MOUNT_ATTR_NOEXEC, stNoexec, unix.MS_NOEXEC},
	{unix.MOUNT_ATTR_NODIRATIME, stNodiratime, unix.MS_NODIRATIME},
	{unix.MOUNT_ATTR_NOSYMFOLLOW, stNosymfollow, unix.MS_NOSYMFOLLOW},
}

// remountFlags computes the MS_* flags of a bind remount that sets set and
// clears clr (MOUNT_ATTR_*) and keeps every other flag the mount has now
// (cur, statfs f_flags): what mount_setattr does. A remount replaces all of
// a mount's flags, so the ones not named must be repeated.
func remountFlags(cur int64, set, clr uint64) uintptr {
	var flags uintptr
	for _, f := range perMountFlags {
		if (cur&f.st != 0 || set&f.attr != 0) && clr&f.attr == 0 {
			flags |= f.ms
		}
	}
	switch {
	case set&unix.MOUNT_ATTR__ATIME == unix.MOUNT_ATTR_NOATIME:
		flags |= unix.MS_NOATIME
	case set&unix.MOUNT_ATTR__ATIME == unix.MOUNT_ATTR_STRICTATIME:
		flags |= unix.MS_STRICTATIME
	case set&unix.MOUNT_ATTR__ATIME != 0 || cur&stRelatime != 0:
		flags |= unix.MS_RELATIME
	case cur&stNoatime != 0:
		flags |= unix.MS_NOATIME
	default:
		flags |= unix.MS_STRICTATIME
	}
	return flags
}

// setAttrs sets and clears per-mount flags (MOUNT_ATTR_*) on the attached
// mount whose root fd is, keeping the others.
func (l *legacyMounter) setAttrs(fd int, set, clr uint64) error {
	if set&unix.MOUNT_ATTR_IDMAP != 0 {
		return errors.New("idmapped mounts need mount_setattr (Linux 5.12)")
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return fmt.Errorf("remount: %w", err)
	}
	if err := l.mountFd(fd, unix.MS_REMOUNT|unix.MS_BIND|remountFlags(st.Flags, set, clr)); err != nil {
		return fmt.Errorf("remount (no mount_setattr): %w", err)
	}
	return nil
}

// propagate sets the propagation of the attached mount whose root fd is
// (flags: MS_SHARED, MS_SLAVE... with MS_REC for its whole tree).
func (l *legacyMounter) propagate(fd int, flags uintptr) error {
	if err := l.mountFd(fd, flags); err != nil {
		return fmt.Errorf("propagation (no mount_setattr): %w", err)
	}
	return nil
}

// setAttrsTree sets set on the attached mount whose root fd is and on every
// mount below it, which mount_setattr's AT_RECURSIVE does in one call. Each
// mount below is found in this process's mountinfo (the host procfs's, with
// paths from the container's root, rootfd) and opened inside the root by
// that path, crossing no symlink; the fd must then name that very mount (its
// mount ID), or a rename raced the walk and nothing is assumed: error.
func (l *legacyMounter) setAttrsTree(rootfd, fd int, set uint64) error {
	if err := l.setAttrs(fd, set, 0); err != nil {
		return err
	}
	id, err := mountID(fd)
	if err != nil {
		return err
	}
	subs, err := l.submounts(id)
	if err != nil {
		return err
	}
	for _, s := range subs {
		sfd, err := unix.Openat2(rootfd, s.path, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("mount below at %s: %w", s.path, err)
		}
		got, err := mountID(sfd)
		if err == nil && got != s.id {
			err = fmt.Errorf("mount below at %s changed while it was being made read-only (mount %d, want %d)", s.path, got, s.id)
		}
		if err == nil {
			err = l.setAttrsTree(rootfd, sfd, set)
		}
		unix.Close(sfd)
		if err != nil {
			return err
		}
	}
	return nil
}

func mountID(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, err
	}
	if stx.Mask&unix.STATX_MNT_ID == 0 {
		return 0, errors.New("statx: no mount id (Linux 5.8)")
	}
	return stx.Mnt_id, nil
}

// submount is a mount directly below another: its ID and mount point.
type submount struct {
	id   uint64
	path string
}

// submounts lists the mounts whose parent is mount id, from this process's
// mountinfo in the host's procfs: read through the fd dir opened before the
// first mount, never by a path looked up again.
func (l *legacyMounter) submounts(id uint64) ([]submount, error) {
	fd, err := unix.Openat(l.fdDir, "../mountinfo", unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "mountinfo")
	defer f.Close()
	mounts, err := mountinfo.GetMountsFromReader(f, func(m *mountinfo.Info) (skip, stop bool) {
		return uint64(m.Parent) != id || uint64(m.ID) == id, false
	})
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	subs := make([]submount, 0, len(mounts))
	for _, m := range mounts {
		subs = append(subs, submount{id: uint64(m.ID), path: m.Mountpoint})
	}
	return subs, nil
}
