package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// rootPropagation maps linux.rootfsPropagation to the flags for "/" before the
// rootfs is mounted (0: keep the host's relations, for shared) and to the
// propagation to set on the new root after pivot_root ("" = none).
func rootPropagation(p string) (before uintptr, after string, err error) {
	switch p {
	case "", "private", "rprivate":
		return unix.MS_REC | unix.MS_PRIVATE, "", nil
	case "slave", "rslave":
		return unix.MS_REC | unix.MS_SLAVE, p, nil
	case "shared", "rshared":
		// Stay peers with the host so that binds cloned from host mounts
		// join their peer groups (Kubernetes' Bidirectional propagation);
		// only the mount holding the rootfs is made private (see setupRootfs).
		return 0, p, nil
	case "unbindable", "runbindable":
		return unix.MS_REC | unix.MS_PRIVATE, p, nil
	}
	return 0, "", invalidSpec(fmt.Errorf("rootfsPropagation %q not supported", p))
}

// mountPointOf returns the mount point of the mount holding path, from our
// mount table (longest matching mount point).
func mountPointOf(path string) (string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(path))
	if err != nil {
		return "", err
	}
	best := ""
	for _, m := range mounts {
		if len(m.Mountpoint) > len(best) {
			best = m.Mountpoint
		}
	}
	if best == "" {
		return "", fmt.Errorf("no mount holds %s", path)
	}
	return best, nil
}

// setupRootfs runs in the init, in its new mount namespace: it mounts the
// rootfs at Root.Path, the spec's mounts inside it, populates /dev, pivots into
// it and applies masked and read-only paths. Nothing here touches the host's
// mount namespace: "/" is made private (or slave) first.
func setupRootfs(cfg *initConfig) error {
	spec := cfg.Spec
	root := spec.Root.Path
	before, after, err := rootPropagation(spec.Linux.RootfsPropagation)
	if err != nil {
		return err
	}
	if before != 0 {
		if err := unix.Mount("", "/", "", before, ""); err != nil {
			return fmt.Errorf("make / %s: %w", spec.Linux.RootfsPropagation, err)
		}
	} else {
		// Shared root: the rootfs must not appear on the host through the
		// mount holding its mount point, and pivot_root refuses a shared
		// parent: make that one mount private (in our namespace only).
		mp, err := mountPointOf(filepath.Dir(filepath.Clean(root)))
		if err == nil {
			err = unix.Mount("", mp, "", unix.MS_PRIVATE, "")
		}
		if err != nil {
			return fmt.Errorf("make the rootfs parent mount private: %w", err)
		}
	}
	var rootfd int
	if cfg.rootTargetFd >= 0 {
		// User namespace: attach by fds only; the mount fd is then the root.
		err = unix.MoveMount(cfg.rootfsFd, "", cfg.rootTargetFd, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
		// The mount point is a host directory: no reason to keep it.
		unix.Close(cfg.rootTargetFd)
		cfg.rootTargetFd = -1
		rootfd = cfg.rootfsFd
		if err != nil {
			return fmt.Errorf("attach rootfs: %w", err)
		}
	} else {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fmt.Errorf("rootfs mount point: %w", err)
		}
		if err := mountRootfs(root, cfg.Rootfs, cfg.Overlay); err != nil {
			return err
		}
		if rootfd, err = unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open rootfs: %w", err)
		}
	}
	defer unix.Close(rootfd)
	mounted := map[string]bool{}
	// The mounts whose propagation is set after pivot_root, by their own fds.
	propagate := map[int]int{}
	defer func() {
		for _, fd := range propagate {
			unix.Close(fd)
		}
	}()
	for i, m := range spec.Mounts {
		mnt := -1
		if fd, ok := cfg.mountFds[i]; ok {
			mnt, err = attachInRoot(rootfd, m, fd)
		} else if isCgroupMount(m) {
			err = mountCgroupView(rootfd, cfg, i, m)
		} else {
			mnt, err = mountInRootFd(rootfd, m, cfg.UserNS)
		}
		if err != nil {
			return err
		}
		if mnt >= 0 && parseMountOptions(m.Options).propagation != 0 {
			propagate[i] = mnt
		} else if mnt >= 0 {
			unix.Close(mnt)
		}
		mounted[cleanDest(m.Destination)] = true
	}
	if !mounted["/dev"] {
		// A spec without its own /dev still gets a private one, never the image's.
		if err := mountInRoot(rootfd, specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
			Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}}, cfg.UserNS); err != nil {
			return err
		}
	}
	if err := setupDev(rootfd, spec, cfg.UserNS, mounted); err != nil {
		return err
	}
	if cfg.beforePivot != nil {
		if err := cfg.beforePivot(); err != nil {
			return err
		}
	}
	if err := pivotRoot(rootfd); err != nil {
		return err
	}
	if after != "" {
		o := parseMountOptions([]string{after})
		flags := uintptr(o.propagation)
		if o.recPropagation {
			flags |= unix.MS_REC
		}
		if err := unix.Mount("", "/", "", flags, ""); err != nil {
			return fmt.Errorf("rootfs propagation %s: %w", after, err)
		}
	}
	// After the root's: a recursive root propagation would override them.
	return applyPropagation(spec.Mounts, propagate)
}

func cleanDest(d string) string { return "/" + strings.Trim(d, "/") }

// mountRootfs mounts the rootfs layers (an overlay, usually) at root. Without
// any, root is bound onto itself so that it is a mount point pivot_root accepts.
func mountRootfs(root string, mounts []specs.Mount, how kernel.OverlayMount) error {
	if len(mounts) == 0 {
		if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind rootfs: %w", err)
		}
		return nil
	}
	for _, m := range mounts {
		o := parseMountOptions(m.Options)
		if m.Type == "overlay" && !o.bind {
			if err := mountOverlay(root, o, how); err != nil {
				return err
			}
			continue
		}
		flags := o.flags
		if o.bind {
			flags |= unix.MS_BIND
			if o.recursive {
				flags |= unix.MS_REC
			}
		}
		typ := m.Type
		if typ == "bind" {
			typ, flags = "", flags|unix.MS_BIND
		}
		// The old API: this mount point is a host path we trust (the
		// caller's state dir), not one inside the image.
		if err := unix.Mount(m.Source, root, typ, flags, strings.Join(o.data, ",")); err != nil {
			return fmt.Errorf("mount rootfs (%s %s): %w", m.Type, m.Source, err)
		}
	}
	return nil
}

// pivotRoot makes rootfd the root with the pivot_root(".", ".") trick: no
// put_old directory is needed in the image, and the old root is detached.
func pivotRoot(rootfd int) error {
	// An fd of the old root, taken before the pivot: "/" and "." name the new
	// root afterwards, and marking from there would also turn the container's
	// own mounts into slaves.
	oldRoot, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open old root: %w", err)
	}
	defer unix.Close(oldRoot)
	if err := unix.Fchdir(rootfd); err != nil {
		return fmt.Errorf("chdir rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	// The old root (now stacked on "/") may still be peers with the host's
	// mounts: detaching it unmarked would unmount the host's /proc, /dev...
	// through propagation. As slaves nothing goes back.
	if legacy != nil {
		// mount(2) on "." from the old root as working directory: no path
		// is looked up (before 5.12 there is no mount_setattr).
		if err := unix.Fchdir(oldRoot); err != nil {
			return fmt.Errorf("old root: %w", err)
		}
		if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("old root slave: %w", err)
		}
	} else if err := unix.MountSetattr(oldRoot, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_SLAVE}); err != nil {
		return fmt.Errorf("old root slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// finishRootfs runs after pivot_root: masked and read-only paths, read-only
// root. null is the host's /dev/null for masking files (see openHostDevNull).
func finishRootfs(spec *specs.Spec, null *hostDevNull) error {
	rootfd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := readonlyPath(rootfd, p); err != nil {
			return err
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		if err := maskPath(rootfd, p, spec.Linux.MountLabel, null); err != nil {
			return err
		}
	}
	if spec.Root.Readonly {
		// mount_setattr changes only the read-only bit of the root mount; a
		// remount would have to repeat (and could lose) the locked flags (the
		// fallback repeats the ones it has, see legacymount.go).
		if err := setMountAttrs(rootfd, mountOpts{attrSet: unix.MOUNT_ATTR_RDONLY}); err != nil {
			return fmt.Errorf("read-only rootfs: %w", err)
		}
	}
	return nil
}

// readonlyPath binds p onto itself read-only (recursively: nothing below stays writable).
func readonlyPath(rootfd int, p string) error {
	fd, err := openInRoot(rootfd, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	defer unix.Close(fd)
	tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	defer unix.Close(tree)
	ro := unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC
	if legacy != nil {
		return readonlyPathLegacy(rootfd, p, tree, fd, uint64(ro))
	}
	if err := setMountAttrs(tree, mountOpts{rattrSet: uint64(ro)}); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	if err := attachMount(tree, fd, mountOpts{}); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	return nil
}

// readonlyPathLegacy (no mount_setattr): the clone is attached, then it and
// every mount below it (a volume a spec put under /proc/sys, say) made
// read-only one by one (legacyMounter.setAttrsTree).
func readonlyPathLegacy(rootfd int, p string, tree, target int, ro uint64) error {
	if err := attachMount(tree, target, mountOpts{}); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	if err := legacy.setAttrsTree(rootfd, tree, ro); err != nil {
		return fmt.Errorf("readonly path %s: %w", p, err)
	}
	return nil
}
