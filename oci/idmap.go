package oci

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// With a user namespace, files owned by host root must appear owned by the
// container's root. The executor (still in the host user namespace, the only
// place allowed to make idmapped mounts of host filesystems) builds those
// mounts detached — idmapped through the container's user namespace — and
// passes their fds to the init, which attaches them in its own mount
// namespace. Nothing is ever attached to the host's mount tree.

// idmapTree clones path as a detached mount idmapped through userns.
func idmapTree(path string, userns int, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	attrFlags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
		attrFlags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, flags)
	if err != nil {
		return -1, fmt.Errorf("open_tree %s: %w", path, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	if err := unix.MountSetattr(fd, "", attrFlags, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmap %s: %w", path, err)
	}
	return fd, nil
}

// idmappedRootfs builds the rootfs in the executor as one detached mount: an
// idmapped bind of a directory, or an overlay whose lower layers are idmapped
// (how: the kernel's way, see package kernel). The upper layer is not
// idmapped: overlayfs works on it with the mounter's (host root's)
// credentials, which no idmapping through the container's namespace can
// represent (EOVERFLOW). As in containers/storage, the upper layer's root is
// owned by the container's root instead, and what the container writes lands
// with its host ids.
func idmappedRootfs(mounts []specs.Mount, spec *specs.Spec, userns int, how kernel.IDMappedOverlay) (int, error) {
	if len(mounts) != 1 {
		return -1, fmt.Errorf("user namespace: rootfs must be one overlay or bind mount, got %d", len(mounts))
	}
	m := mounts[0]
	o := parseMountOptions(m.Options)
	if o.bind || m.Type == "bind" {
		fd, err := idmapTree(m.Source, userns, o.recursive)
		if err != nil {
			return -1, err
		}
		// A clone of a shared mount (a systemd host's /) joins its peer
		// group; pivot_root refuses a shared new root (EINVAL).
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &unix.MountAttr{Propagation: unix.MS_PRIVATE}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("rootfs private: %w", err)
		}
		if err := setMountAttrs(fd, o); err != nil {
			unix.Close(fd)
			return -1, err
		}
		return fd, nil
	}
	if m.Type != "overlay" {
		return -1, fmt.Errorf("user namespace: rootfs type %q not supported", m.Type)
	}
	var lowers, opts []string
	for _, d := range o.data {
		k, v, _ := strings.Cut(d, "=")
		switch k {
		case "lowerdir":
			lowers = strings.Split(v, ":")
			continue
		case "upperdir":
			uid, gid := hostRoot(spec)
			if err := os.Lchown(v, uid, gid); err != nil {
				return -1, fmt.Errorf("overlay upper: %w", err)
			}
		}
		opts = append(opts, d)
	}
	switch how {
	case kernel.IDMappedLayerFds:
		return overlayOnLayerFds(lowers, opts, o, userns)
	case kernel.IDMappedLayerPaths:
		return overlayOnLayerPaths(lowers, opts, o, userns, filepath.Dir(filepath.Clean(spec.Root.Path)))
	}
	return -1, fmt.Errorf("user namespace: this kernel's overlayfs cannot sit on idmapped layers (Linux 5.19 or later needed)")
}

// overlayOnLayerFds hands overlayfs the detached idmapped layers as fds
// ("lowerdir+" with FSCONFIG_SET_FD, Linux 6.13): nothing is attached anywhere.
func overlayOnLayerFds(lowers, opts []string, o mountOpts, userns int) (int, error) {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen overlay: %w", err)
	}
	fds = append(fds, fsfd)
	_ = unix.FsconfigSetString(fsfd, "source", "overlay")
	for _, l := range lowers {
		tree, err := idmapTree(l, userns, false)
		if err != nil {
			return -1, err
		}
		fds = append(fds, tree)
		dfd, err := unix.Openat(tree, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("overlay lower %s: %w", l, err)
		}
		fds = append(fds, dfd)
		if err := unix.FsconfigSetFd(fsfd, "lowerdir+", dfd); err != nil {
			return -1, fmt.Errorf("overlay lower %s: %w", l, err)
		}
	}
	for _, d := range opts {
		k, v, hasValue := strings.Cut(d, "=")
		if hasValue {
			err = unix.FsconfigSetString(fsfd, k, v)
		} else {
			err = unix.FsconfigSetFlag(fsfd, k)
		}
		if err != nil {
			return -1, fmt.Errorf("overlay option %q: %w", d, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("create overlay: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, int(o.attrSet))
	if err != nil {
		return -1, fmt.Errorf("fsmount overlay: %w", err)
	}
	return fd, nil
}

// overlayOnLayerPaths is the way before 6.13: overlayfs takes layers by path
// only, and only on mounts of the mounter's own mount namespace (it refuses
// detached ones). So, as containerd does, the idmapped layers are attached
// and named by path — but in a throwaway private mount namespace of one
// thread, never in the host's: the overlay is mounted there, cloned out as a
// detached mount, and everything else goes with the thread. The stage
// directories are made under parent (the container's state dir) and removed.
func overlayOnLayerPaths(lowers, opts []string, o mountOpts, userns int, parent string) (int, error) {
	stage, err := os.MkdirTemp(parent, ".idmapped-layers-")
	if err != nil {
		return -1, fmt.Errorf("overlay on idmapped layers: %w", err)
	}
	defer os.RemoveAll(stage)
	fd := -1
	err = kernel.InPrivateMountNS(func() error {
		names, err := kernel.AttachIDMapped(lowers, userns, filepath.Join(stage, "l"))
		if err != nil {
			return err
		}
		data := strings.Join(append([]string{"lowerdir=" + names}, opts...), ",")
		if len(data) >= os.Getpagesize() {
			return fmt.Errorf("%d bytes of options exceed the kernel's one page (%d layers)", len(data), len(lowers))
		}
		target := filepath.Join(stage, "rootfs")
		if err := os.Mkdir(target, 0o700); err != nil {
			return err
		}
		if err := unix.Mount("overlay", target, "overlay", o.flags, data); err != nil {
			return fmt.Errorf("mount: %w", err)
		}
		fd, err = unix.OpenTree(unix.AT_FDCWD, target, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		return err
	})
	if err != nil {
		return -1, fmt.Errorf("overlay on idmapped layers: %w", err)
	}
	return fd, nil
}

// hostRoot is the host uid and gid of the container's root.
func hostRoot(spec *specs.Spec) (int, int) {
	find := func(m []specs.LinuxIDMapping) int {
		for _, e := range m {
			if e.ContainerID == 0 && e.Size > 0 {
				return int(e.HostID)
			}
		}
		return 0
	}
	return find(spec.Linux.UIDMappings), find(spec.Linux.GIDMappings)
}

// commonDir is the deepest directory containing both a and b.
func commonDir(a, b string) string {
	a, b = filepath.Clean(a), filepath.Clean(b)
	if b == "" || b == "." {
		return filepath.Dir(a)
	}
	d := filepath.Dir(a)
	for d != "/" && !strings.HasPrefix(b+"/", d+"/") {
		d = filepath.Dir(d)
	}
	return d
}

// wantsIdmap tells whether a spec mount asks for an idmapped bind.
func wantsIdmap(m specs.Mount) bool {
	if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
		return true
	}
	for _, o := range m.Options {
		if o == "idmap" || o == "ridmap" {
			return true
		}
	}
	return false
}

// premadeBinds makes every bind mount of the spec as a detached mount in the
// executor, idmapped when the mount asks for it: the init, root of a user
// namespace only, could not even look up a host path below a 0700 directory.
// Their fds go to the init in the order of the returned indexes. A mount with
// mappings of its own (Mount.UIDMappings other than the container's) gets a
// user namespace made for them.
func premadeBinds(spec *specs.Spec, userns int) (idx []int, fds []int, err error) {
	for i, m := range spec.Mounts {
		if !isBindMount(m) {
			continue
		}
		o := parseMountOptions(m.Options)
		recursive := o.recursive
		for _, opt := range m.Options {
			if opt == "ridmap" {
				recursive = true
			}
		}
		var fd int
		if wantsIdmap(m) {
			ns := userns
			if len(m.UIDMappings) > 0 && !sameMaps(m, spec.Linux) {
				ns, err = userNSFor(m.UIDMappings, m.GIDMappings)
				if err == nil {
					defer unix.Close(ns)
				}
			}
			if err == nil {
				fd, err = idmapTree(m.Source, ns, recursive)
			}
		} else {
			fd, err = detachedMount(m, o)
		}
		if err == nil {
			err = setMountAttrs(fd, o)
		}
		if err != nil {
			for _, f := range fds {
				unix.Close(f)
			}
			return nil, nil, fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		idx, fds = append(idx, i), append(fds, fd)
	}
	return idx, fds, nil
}

func sameMaps(m specs.Mount, l *specs.Linux) bool {
	return reflect.DeepEqual(m.UIDMappings, l.UIDMappings) && reflect.DeepEqual(m.GIDMappings, l.GIDMappings)
}

// userNSFor makes a user namespace with the given mappings and returns an fd
// of it. A namespace needs a process: the pause mode is started in a new user
// namespace, its namespace opened, and the process killed. Like the exec
// intermediate, the monitor's reaper sees the exit of a pid it does not know.
func userNSFor(uids, gids []specs.LinuxIDMapping) (int, error) {
	exe, err := selfPath()
	if err != nil {
		return -1, err
	}
	if len(gids) == 0 {
		gids = uids
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return -1, err
	}
	defer null.Close()
	p, err := os.StartProcess(exe, []string{"crid-userns", PauseArg}, &os.ProcAttr{
		Dir: "/", Files: []*os.File{null, null, null}, Env: []string{"_CRID_PAUSE=1"},
		Sys: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER, UidMappings: idMaps(uids), GidMappings: idMaps(gids)},
	})
	if err != nil {
		return -1, fmt.Errorf("user namespace for a mount: %w", err)
	}
	defer func() {
		_ = p.Kill()
		_ = p.Release()
	}()
	// StartProcess returns after the maps are written and the exec happened.
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", p.Pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("user namespace for a mount: %w", err)
	}
	return fd, nil
}
