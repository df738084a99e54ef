package oci

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// hostDevNull is the host's /dev/null as a detached read-only mount, made
// before pivot_root. After it "/dev/null" names the container's /dev, which
// may be a volume a neighbour writes to: a symlink there would make a mask
// bind the very file it should hide.
type hostDevNull struct {
	fd       int
	attached bool
}

// openHostDevNull clones the host's /dev/null after checking, on the opened
// file, that it is the null device (char 1:3).
func openHostDevNull() (*hostDevNull, error) {
	fd, err := unix.Open("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host /dev/null: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("host /dev/null: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		return nil, fmt.Errorf("host /dev/null is not the null device (char 1:3)")
	}
	mfd, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, fmt.Errorf("clone host /dev/null: %w", err)
	}
	if legacy == nil { // else read-only once attached (bindOnto)
		if err := setMountAttrs(mfd, mountOpts{attrSet: unix.MOUNT_ATTR_RDONLY}); err != nil {
			unix.Close(mfd)
			return nil, fmt.Errorf("clone host /dev/null: %w", err)
		}
	}
	return &hostDevNull{fd: mfd}, nil
}

// bindOnto attaches a mount of the null device onto target: the clone itself
// the first time, then clones of it, which is by then in our mount namespace
// (kernels before 6.15 clone only mounts of the caller's namespace).
func (n *hostDevNull) bindOnto(target int) error {
	if !n.attached {
		if err := attachMount(n.fd, target, mountOpts{}); err != nil {
			return err
		}
		n.attached = true
		if legacy != nil {
			// Its clones below inherit read-only from it.
			return setMountAttrs(n.fd, mountOpts{attrSet: unix.MOUNT_ATTR_RDONLY})
		}
		return nil
	}
	c, err := unix.OpenTree(n.fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("clone /dev/null: %w", err)
	}
	defer unix.Close(c)
	return attachMount(c, target, mountOpts{})
}

func (n *hostDevNull) Close() { unix.Close(n.fd) }

// maskPath hides p: the host's /dev/null over a file, an empty read-only
// tmpfs over a directory.
func maskPath(rootfd int, p, label string, null *hostDevNull) error {
	fd, err := openInRoot(rootfd, p, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		if err := null.bindOnto(fd); err != nil {
			return fmt.Errorf("masked path %s: %w", p, err)
		}
		return nil
	}
	m := specs.Mount{Type: "tmpfs", Source: "tmpfs", Options: []string{"ro", "nosuid", "nodev", "noexec"}}
	if label != "" {
		m.Options = append(m.Options, "context="+label)
	}
	mfd, err := detachedMount(m, parseMountOptions(m.Options))
	if err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	defer unix.Close(mfd)
	if err := attachMount(mfd, fd, mountOpts{}); err != nil {
		return fmt.Errorf("masked path %s: %w", p, err)
	}
	return nil
}
