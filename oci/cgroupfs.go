package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
)

// This file gives a container its view of the cgroup filesystem (the spec's
// "cgroup" mounts); the cgroups themselves are package cgroups'.

// cgroupBind is one hierarchy's cgroup directory, cloned by the executor,
// for the init to attach at <cgroup mount>/<dir>.
type cgroupBind struct {
	dir string
	fd  int
	// attrs are set once attached when the kernel has no mount_setattr
	// (legacymount.go); with it the clone has them already.
	attrs mountOpts
}

func isCgroupMount(m specs.Mount) bool { return m.Type == "cgroup" || m.Type == "cgroup2" }

// mountCgroupView mounts the spec's cgroup mount i in the init. binds are what
// the executor premade for it (nil: none).
func mountCgroupView(rootfd int, cfg *initConfig, i int, m specs.Mount) error {
	tree := cgroups.Tree{Root: cfg.CgroupRoot, Unified: cfg.CgroupV2}
	o := parseMountOptions(m.Options)
	if binds, ok := cfg.cgroupBinds[i]; ok {
		return mountCgroupfs(rootfd, tree, m, o, binds)
	}
	if !tree.Unified && !cfg.UnshareCgroupNS {
		// v1 without a cgroup namespace: a fresh cgroupfs would show the host's
		// whole tree and the root's limits. Bind the container's own directory of
		// each hierarchy, as runc does, so programs reading their limits from
		// /sys/fs/cgroup/<controller> find them. The init is in its cgroup already.
		binds, err := cgroupV1BindsOf(tree, "/proc/self/cgroup", m)
		if err != nil {
			return err
		}
		return mountCgroupfs(rootfd, tree, m, o, binds)
	}
	return mountCgroupfs(rootfd, tree, m, o, nil)
}

// mountCgroupfs gives the container its cgroup view. On v2 that is one cgroup2
// mount (showing the container's cgroup namespace root) or, given a bind (a
// user namespace that may not mount cgroup2, see cgroupV2BindOf), the
// container's own cgroup directory. On v1 it is a tmpfs with one mount per
// hierarchy, like runc, each showing the namespace root — or, given binds (a
// user namespace that may not mount cgroup v1, see cgroupV1BindsOf), the
// container's own cgroup directory of each hierarchy.
func mountCgroupfs(rootfd int, tree cgroups.Tree, m specs.Mount, o mountOpts, binds []cgroupBind) error {
	defer func() {
		for _, b := range binds {
			unix.Close(b.fd)
		}
	}()
	o.data = nil
	target, err := mkdirAllInRoot(rootfd, m.Destination, 0o755)
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	defer unix.Close(target)
	// mnt mounts typ on t and returns the new mount's fd (the caller closes it).
	mnt := func(t int, typ string, data []string, attrs mountOpts) (int, error) {
		attrs.data = data
		fd, err := detachedMount(specs.Mount{Type: typ, Source: typ}, attrs)
		if err != nil {
			return -1, err
		}
		if err := attachMount(fd, t, mountOpts{}); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}
	if tree.Unified && binds == nil {
		fd, err := mnt(target, "cgroup2", nil, o)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		unix.Close(fd)
		return nil
	}
	if tree.Unified {
		if len(binds) != 1 {
			return fmt.Errorf("mount %s: %d cgroup2 binds, want 1", m.Destination, len(binds))
		}
		// The clone has its flags: a user namespace needs idmapped mounts,
		// so this kernel has mount_setattr.
		if err := attachMount(binds[0].fd, target, mountOpts{}); err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		return nil
	}
	// The tmpfs stays writable while we fill it, then gets the spec's flags.
	// Everything below it is reached from its own fd, never by path again: a
	// rename on a volume holding the destination could redirect a path.
	tmpfs, err := mnt(target, "tmpfs", []string{"mode=755"}, mountOpts{attrSet: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC})
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	defer unix.Close(tmpfs)
	sub := func(dir string, attach func(t int) error) error {
		dest := strings.TrimSuffix(m.Destination, "/") + "/" + dir
		if err := unix.Mkdirat(tmpfs, dir, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mount %s: %w", dest, err)
		}
		t, err := unix.Openat2(tmpfs, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV})
		if err != nil {
			return fmt.Errorf("mount %s: %w", dest, err)
		}
		err = attach(t)
		unix.Close(t)
		if err != nil {
			return fmt.Errorf("mount %s: %w", dest, err)
		}
		return nil
	}
	if binds != nil {
		for _, b := range binds {
			err := sub(b.dir, func(t int) error {
				if err := attachMount(b.fd, t, mountOpts{}); err != nil || legacy == nil {
					return err
				}
				return setMountAttrs(b.fd, b.attrs)
			})
			if err != nil {
				return err
			}
		}
	} else {
		hier, err := tree.Hierarchies()
		if err != nil {
			return err
		}
		for _, h := range hier {
			err := sub(h.Dir, func(t int) error {
				fd, err := mnt(t, h.FSType, h.Opts, o)
				if err == nil {
					unix.Close(fd)
				}
				return err
			})
			if err != nil {
				return err
			}
		}
	}
	return setMountAttrs(tmpfs, o)
}

// cgroupMountBinds prepares, in the executor, the binds of each cgroup mount
// of a container in a user namespace, unless the init makes a cgroup
// namespace of its own (owned by the container's user namespace, so the init
// may mount cgroup v1 or cgroup2 itself). The binds show pid's cgroup
// directories (it is in its cgroup already): of each hierarchy on v1, its
// one cgroup2 directory on v2.
func cgroupMountBinds(pid int, cfg *initConfig) ([]int, error) {
	if cfg.UnshareCgroupNS {
		return nil, nil
	}
	tree := cgroups.Tree{Root: cfg.CgroupRoot, Unified: cfg.CgroupV2}
	var fds []int
	for i, m := range cfg.Spec.Mounts {
		if !isCgroupMount(m) {
			continue
		}
		var binds []cgroupBind
		var err error
		if tree.Unified {
			binds, err = cgroupV2BindOf(tree, cfg.Spec.Linux.CgroupsPath, m)
		} else {
			binds, err = cgroupV1BindsOf(tree, fmt.Sprintf("/proc/%d/cgroup", pid), m)
		}
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, err
		}
		var dirs []string
		for _, b := range binds {
			dirs = append(dirs, b.dir)
			fds = append(fds, b.fd)
		}
		// The same process and hierarchies for every cgroup mount: one list.
		cfg.CgroupMounts, cfg.CgroupDirs = append(cfg.CgroupMounts, i), dirs
	}
	return fds, nil
}

// cgroupV1BindsOf clones the cgroup directory, in every hierarchy mounted
// below the tree's root, of the process whose cgroup file is procFile
// ("/proc/self/cgroup" from an init in a new pid namespace, whose own pid
// means nothing to the host's procfs), as detached read-only (unless the
// spec's mount says rw) nosuid, nodev, noexec binds. It is for a container
// without a cgroup namespace of its own: in a user namespace the kernel lets
// only the cgroup namespace's owner mount cgroup v1, and a view of the
// hierarchy roots would be the host's whole tree anyway. For a container in
// a user namespace the executor makes them, like the other premade binds: it
// is still in the host's user and mount namespaces, where these paths
// resolve and may be cloned; the init only attaches the fds.
func cgroupV1BindsOf(tree cgroups.Tree, procFile string, m specs.Mount) (binds []cgroupBind, err error) {
	hier, err := tree.Hierarchies()
	if err != nil {
		return nil, err
	}
	procCgroup, err := os.ReadFile(procFile)
	if err != nil {
		return nil, err
	}
	attrs := cgroupBindAttrs(m)
	defer func() {
		if err != nil {
			for _, b := range binds {
				unix.Close(b.fd)
			}
		}
	}()
	dirs, srcs := tree.BindSources(hier, string(procCgroup))
	for i, src := range srcs {
		fd, err := detachedMount(specs.Mount{Type: "bind", Source: src}, attrs)
		if err != nil {
			return binds, fmt.Errorf("mount %s/%s: %w", strings.TrimSuffix(m.Destination, "/"), dirs[i], err)
		}
		binds = append(binds, cgroupBind{dir: dirs[i], fd: fd, attrs: attrs})
	}
	return binds, nil
}

// cgroupV2BindOf clones the container's own cgroup2 directory (cgroupsPath,
// the spec's, below the tree's root) as one detached bind with
// cgroupBindAttrs, for the executor to premake. It is for a container in a
// user namespace without a cgroup namespace of its own: the kernel lets only
// the cgroup namespace's owner mount cgroup2 (runc falls back to a bind too),
// and its /proc/self/cgroup and the bind's mount root name the same path.
func cgroupV2BindOf(tree cgroups.Tree, cgroupsPath string, m specs.Mount) ([]cgroupBind, error) {
	p, err := cgroups.ParsePath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	attrs := cgroupBindAttrs(m)
	fd, err := detachedMount(specs.Mount{Type: "bind", Source: filepath.Join(tree.Root, p)}, attrs)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", m.Destination, err)
	}
	return []cgroupBind{{dir: "", fd: fd, attrs: attrs}}, nil
}

// cgroupBindAttrs are the flags of a bind of a container's cgroup directory:
// read-only unless the spec's cgroup mount says rw; nosuid, nodev, noexec.
func cgroupBindAttrs(m specs.Mount) mountOpts {
	attrs := mountOpts{attrSet: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if parseMountOptions(m.Options).attrClr&unix.MOUNT_ATTR_RDONLY != 0 {
		attrs.attrSet &^= unix.MOUNT_ATTR_RDONLY
	}
	return attrs
}
