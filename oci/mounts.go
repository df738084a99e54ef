package oci

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountOpts is a spec mount's option list sorted into what the new mount API wants.
type mountOpts struct {
	bind, recursive bool
	attrSet         uint64 // MOUNT_ATTR_* applied to the mount itself
	attrClr         uint64
	rattrSet        uint64 // rro, rnosuid...: applied with AT_RECURSIVE
	propagation     uint64 // MS_PRIVATE, MS_SHARED, MS_SLAVE, MS_UNBINDABLE
	recPropagation  bool
	data            []string // filesystem options (size=, mode=, lowerdir= ...)
	flags           uintptr  // the same as mount(2) flags, for the old API
}

// mountOption is what one option of a spec mount contributes to mountOpts.
type mountOption struct {
	bind, recursive bool
	attrSet         uint64
	attrClr         uint64
	rattrSet        uint64
	propagation     uint64
	recPropagation  bool
	flags           uintptr
}

// mountOptions are the options the executor understands; any other option is
// filesystem data (size=, mode=, lowerdir= ...).
var mountOptions = map[string]mountOption{
	"bind":        {bind: true},
	"rbind":       {bind: true, recursive: true},
	"ro":          {attrSet: unix.MOUNT_ATTR_RDONLY, flags: unix.MS_RDONLY},
	"rw":          {attrClr: unix.MOUNT_ATTR_RDONLY},
	"nosuid":      {attrSet: unix.MOUNT_ATTR_NOSUID, flags: unix.MS_NOSUID},
	"nodev":       {attrSet: unix.MOUNT_ATTR_NODEV, flags: unix.MS_NODEV},
	"noexec":      {attrSet: unix.MOUNT_ATTR_NOEXEC, flags: unix.MS_NOEXEC},
	"noatime":     {attrSet: unix.MOUNT_ATTR_NOATIME, flags: unix.MS_NOATIME},
	"strictatime": {attrSet: unix.MOUNT_ATTR_STRICTATIME, flags: unix.MS_STRICTATIME},
	"nodiratime":  {attrSet: unix.MOUNT_ATTR_NODIRATIME, flags: unix.MS_NODIRATIME},
	"nosymfollow": {attrSet: unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rro":         {rattrSet: unix.MOUNT_ATTR_RDONLY},
	"rnosuid":     {rattrSet: unix.MOUNT_ATTR_NOSUID},
	"rnodev":      {rattrSet: unix.MOUNT_ATTR_NODEV},
	"rnoexec":     {rattrSet: unix.MOUNT_ATTR_NOEXEC},
	"private":     {propagation: unix.MS_PRIVATE},
	"rprivate":    {propagation: unix.MS_PRIVATE, recPropagation: true},
	"shared":      {propagation: unix.MS_SHARED},
	"rshared":     {propagation: unix.MS_SHARED, recPropagation: true},
	"slave":       {propagation: unix.MS_SLAVE},
	"rslave":      {propagation: unix.MS_SLAVE, recPropagation: true},
	"unbindable":  {propagation: unix.MS_UNBINDABLE},
	"runbindable": {propagation: unix.MS_UNBINDABLE, recPropagation: true},
	// The defaults, and options without meaning here (idmap: handled through
	// Mount.UIDMappings).
	"suid": {}, "dev": {}, "exec": {}, "defaults": {}, "async": {}, "auto": {}, "noauto": {},
	"user": {}, "nouser": {}, "relatime": {}, "idmap": {}, "ridmap": {}, "tmpcopyup": {},
	"sync": {}, "dirsync": {}, "mand": {}, "nomand": {}, "silent": {}, "loud": {},
}

func parseMountOptions(opts []string) mountOpts {
	var o mountOpts
	for _, opt := range opts {
		m, ok := mountOptions[opt]
		if !ok {
			o.data = append(o.data, opt)
			continue
		}
		o.bind = o.bind || m.bind
		o.recursive = o.recursive || m.recursive
		o.attrSet |= m.attrSet
		o.attrClr |= m.attrClr
		o.rattrSet |= m.rattrSet
		o.flags |= m.flags
		if m.propagation != 0 {
			o.propagation, o.recPropagation = m.propagation, m.recPropagation
		}
	}
	return o
}

// isBindMount also accepts type "bind" without the option, as runc does.
func isBindMount(m specs.Mount) bool {
	return m.Type == "bind" || parseMountOptions(m.Options).bind
}

// detachedMount builds m as a detached mount and returns its fd: open_tree for a
// bind, fsopen/fsconfig/fsmount for a filesystem. Nothing is visible anywhere
// until moveMount attaches it.
func detachedMount(m specs.Mount, o mountOpts) (int, error) {
	if o.bind || m.Type == "bind" {
		flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
		if o.recursive {
			flags |= unix.AT_RECURSIVE
		}
		if legacy != nil && o.recursive && o.rattrSet != 0 {
			return -1, fmt.Errorf("recursive mount attributes (rro, rnosuid...) on a recursive bind of %s need mount_setattr (Linux 5.12)", m.Source)
		}
		fd, err := unix.OpenTree(unix.AT_FDCWD, m.Source, flags)
		if err != nil {
			return -1, fmt.Errorf("open_tree %s: %w", m.Source, err)
		}
		if legacy != nil {
			return fd, nil // flags set once attached (attachBind)
		}
		if err := setMountAttrs(fd, o); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}
	fsfd, err := unix.Fsopen(m.Type, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", m.Type, err)
	}
	defer unix.Close(fsfd)
	if m.Source != "" {
		_ = unix.FsconfigSetString(fsfd, "source", m.Source)
	}
	for _, d := range o.data {
		k, v, hasValue := strings.Cut(d, "=")
		if hasValue {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %q: %w", m.Type, d, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create %s filesystem: %w", m.Type, err)
	}
	attrs := o.attrSet
	if legacy != nil {
		// A new filesystem's mount has nothing below it: recursive is the same.
		attrs |= o.rattrSet
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(attrs))
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", m.Type, err)
	}
	if o.rattrSet != 0 && legacy == nil {
		if err := setMountAttrs(fd, mountOpts{rattrSet: o.rattrSet}); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// setMountAttrs applies ro/nosuid/... to the top mount and the r* variants to
// the whole tree — for a bind this is the remount runc needs a second call for.
// Without mount_setattr (legacy) the mount must be attached already and the
// r* variants apply to the top mount only: the callers make sure nothing
// below it needs them (see legacymount.go).
func setMountAttrs(fd int, o mountOpts) error {
	if legacy != nil {
		if o.attrSet|o.rattrSet|o.attrClr == 0 {
			return nil
		}
		return legacy.setAttrs(fd, o.attrSet|o.rattrSet, o.attrClr)
	}
	if o.attrSet != 0 || o.attrClr != 0 {
		attr := &unix.MountAttr{Attr_set: o.attrSet, Attr_clr: o.attrClr}
		if o.attrSet&unix.MOUNT_ATTR__ATIME != 0 {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
	}
	if o.rattrSet != 0 {
		attr := &unix.MountAttr{Attr_set: o.rattrSet}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("mount_setattr (recursive): %w", err)
		}
	}
	return nil
}

// attachMount moves the detached mount fd onto the target fd (both fds: no path
// is resolved again, so nothing can be swapped in between). Propagation is set
// after pivot_root (see applyPropagation): the pivot's recursive slave mark on
// the old root would otherwise reach these mounts too.
func attachMount(fd, targetfd int, _ mountOpts) error {
	if err := unix.MoveMount(fd, "", targetfd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// applyPropagation sets the spec mounts' propagation, after pivot_root,
// through each mount's own fd (mounts[i]'s is fds[i]): a path resolved again
// could meanwhile name another mount (a rename on a shared volume).
func applyPropagation(mounts []specs.Mount, fds map[int]int) error {
	for i, m := range mounts { // in spec order: a parent's recursive setting first
		fd, ok := fds[i]
		if !ok {
			continue
		}
		o := parseMountOptions(m.Options)
		flags := uint(unix.AT_EMPTY_PATH)
		if o.recPropagation {
			flags |= unix.AT_RECURSIVE
		}
		var err error
		if legacy != nil {
			ms := uintptr(o.propagation)
			if o.recPropagation {
				ms |= unix.MS_REC
			}
			err = legacy.propagate(fd, ms)
		} else {
			err = unix.MountSetattr(fd, "", flags, &unix.MountAttr{Propagation: o.propagation})
		}
		if err != nil {
			return fmt.Errorf("mount %s: propagation: %w", m.Destination, err)
		}
	}
	return nil
}

// mountInRoot mounts m at its destination resolved inside the rootfs.
func mountInRoot(rootfd int, m specs.Mount, userns bool) error {
	fd, err := mountInRootFd(rootfd, m, userns)
	if fd >= 0 {
		unix.Close(fd)
	}
	return err
}

// mountInRootFd is mountInRoot returning the fd of the new mount (the caller
// closes it).
func mountInRootFd(rootfd int, m specs.Mount, userns bool) (int, error) {
	o := parseMountOptions(m.Options)
	var (
		target int
		err    error
	)
	if o.bind || m.Type == "bind" {
		target, err = bindTarget(rootfd, m)
	} else {
		target, err = mkdirAllInRoot(rootfd, m.Destination, 0o755)
	}
	if err != nil {
		return -1, fmt.Errorf("mount %s: target: %w", m.Destination, err)
	}
	defer unix.Close(target)
	// A bind is cloned and given its flags while detached, then attached by fd:
	// nothing is looked up again by path once the target is resolved (a remount
	// by path could make another directory read-only if a neighbour renamed
	// things on a shared volume meanwhile). The clone joins the source's peer
	// group as a mount(2) bind does.
	fd, err := detachedMount(m, o)
	if err != nil && userns && (m.Type == "sysfs" || m.Type == "mqueue") && errors.Is(err, unix.EPERM) {
		// In a user namespace that does not own the network (or IPC) namespace
		// the kernel refuses a new sysfs (mqueue): bind the host's, as runc does.
		src := map[string]string{"sysfs": "/sys", "mqueue": "/dev/mqueue"}[m.Type]
		fb := m
		fb.Source, fb.Type = src, "bind"
		o.bind, o.recursive = true, true
		o.attrSet |= unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
		fd, err = detachedMount(fb, o)
	}
	if err != nil {
		return -1, fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	if err := attachMount(fd, target, o); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	if legacy != nil && (o.bind || m.Type == "bind") {
		// The bind's flags, now that it is attached (detachedMount left them).
		if err := setMountAttrs(fd, o); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
	}
	return fd, nil
}

// attachInRoot attaches a mount the executor prepared (an idmapped bind) and
// returns its fd (the caller closes it).
func attachInRoot(rootfd int, m specs.Mount, fd int) (int, error) {
	// The source may not be reachable by path from here: ask the mount itself.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	var target int
	var err error
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		target, err = mkdirAllInRoot(rootfd, m.Destination, 0o755)
	} else {
		target, err = createFileInRoot(rootfd, m.Destination)
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mount %s: target: %w", m.Destination, err)
	}
	defer unix.Close(target)
	if err := attachMount(fd, target, parseMountOptions(m.Options)); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	return fd, nil
}

// bindTarget creates the target of a bind: a file for a file, else a directory.
func bindTarget(rootfd int, m specs.Mount) (int, error) {
	if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
		return createFileInRoot(rootfd, m.Destination)
	}
	return mkdirAllInRoot(rootfd, m.Destination, 0o755)
}
