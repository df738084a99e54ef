package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func u32(v uint32) *uint32 { return &v }

func fileMode(m os.FileMode) *os.FileMode { return &m }

// defaultDevices are the nodes every container gets (the OCI runtime spec's list).
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0, FileMode: fileMode(0o666), UID: u32(0), GID: u32(0)},
}

// devPlan is what setupDev does, computed without touching the system so that
// the sequencing is unit-tested without root.
type devPlan struct {
	mounts  []specs.Mount       // /dev/pts and /dev/shm when the spec lacks them
	devices []specs.LinuxDevice // spec devices first, then the defaults they do not override
	links   [][2]string         // {target, name below /dev}
}

func planDev(spec *specs.Spec, userns bool, mounted map[string]bool, haveKcore bool) devPlan {
	var p devPlan
	if !mounted["/dev/pts"] {
		m := specs.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}
		if !userns {
			m.Options = append(m.Options, "gid=5") // tty; maybe unmapped in a user namespace
		}
		p.mounts = append(p.mounts, m)
	}
	if !mounted["/dev/shm"] {
		p.mounts = append(p.mounts, specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
			Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}})
	}
	seen := map[string]bool{}
	for _, d := range append(append([]specs.LinuxDevice{}, spec.Linux.Devices...), defaultDevices...) {
		if path := cleanDest(d.Path); !seen[path] {
			seen[path] = true
			p.devices = append(p.devices, d)
		}
	}
	p.links = [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"}}
	if haveKcore {
		p.links = append(p.links, [2]string{"/proc/kcore", "core"})
	}
	return p
}

// setupDev fills the container's /dev (already a fresh tmpfs): pts and shm if
// the spec did not mount them, device nodes, and the standard symlinks.
func setupDev(rootfd int, spec *specs.Spec, userns bool, mounted map[string]bool) error {
	_, kerr := os.Stat("/proc/kcore")
	p := planDev(spec, userns, mounted, kerr == nil)
	for _, m := range p.mounts {
		if err := mountInRoot(rootfd, m, userns); err != nil {
			return err
		}
	}
	// The nodes keep exactly the modes asked for.
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range p.devices {
		if err := makeDevice(rootfd, d, userns); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
	}
	devfd, err := openInRoot(rootfd, "/dev", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(devfd)
	for _, l := range p.links {
		if l[1] == "ptmx" {
			// Replace a ptmx node (e.g. a spec device) with the link to our devpts.
			_ = unix.Unlinkat(devfd, "ptmx", 0)
		}
		if err := unix.Symlinkat(l[0], devfd, l[1]); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// makeDevice creates a device node inside the rootfs. In a user namespace
// mknod is not allowed: the host's node is bind-mounted instead, as runc does.
func makeDevice(rootfd int, d specs.LinuxDevice, userns bool) error {
	p := cleanDest(d.Path)
	dir, base := filepath.Split(p)
	dfd, err := mkdirAllInRoot(rootfd, dir, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if userns {
		tfd, err := createFileInRoot(rootfd, p)
		if err != nil {
			return err
		}
		defer unix.Close(tfd)
		src, err := unix.OpenTree(unix.AT_FDCWD, p, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return fmt.Errorf("bind host node: %w", err)
		}
		defer unix.Close(src)
		return attachMount(src, tfd, mountOpts{})
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return invalidSpec(fmt.Errorf("device type %q not supported", d.Type))
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	_ = unix.Unlinkat(dfd, base, 0) // an image file or a default node in the way
	if err := unix.Mknodat(dfd, base, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(dfd, base, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}
