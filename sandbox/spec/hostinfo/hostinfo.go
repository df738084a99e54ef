// Package hostinfo finds out the node facts package spec takes as
// arguments (spec.Host): cgroup version, AppArmor and seccomp support, and
// the device nodes CRI devices and privileged containers ask for. It is the
// only place on the spec side that touches the node, so that package spec
// stays pure.
package hostinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/crid-dev/crid/apparmor"
	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options are the daemon's settings that go into spec.Host unchanged.
type Options struct {
	CgroupDriver           spec.CgroupDriver
	DefaultCgroupParent    string
	DefaultAppArmorProfile string               // the profile crid loaded for RuntimeDefault
	AppArmorSkipped        func(profile string) // see spec.Host
}

// Probe returns the spec.Host for this node, with os.ReadFile for
// Localhost seccomp profiles and the device functions of this package.
func Probe(o Options) spec.Host {
	return spec.Host{
		CgroupDriver:           o.CgroupDriver,
		CgroupV2:               CgroupV2(),
		DefaultCgroupParent:    o.DefaultCgroupParent,
		SeccompDisabled:        !SeccompSupported(),
		AppArmorEnabled:        apparmor.Enabled(),
		DefaultAppArmorProfile: o.DefaultAppArmorProfile,
		AppArmorLoaded:         appArmorLoaded,
		AppArmorSkipped:        o.AppArmorSkipped,
		ReadFile:               os.ReadFile,
		DeviceInfo:             DeviceInfo,
		HostDevices:            HostDevices,
	}
}

// CgroupV2 reports a unified hierarchy at /sys/fs/cgroup. A hybrid host
// (v1 controllers plus a unified mount elsewhere) is v1, as for the executor.
func CgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// appArmorLoaded: a Localhost profile that is not loaded is a precondition
// the node fails (the profile must be loaded first), as critest expects.
func appArmorLoaded(name string) error {
	if err := apparmor.CheckLoaded(name); err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// SeccompSupported reports whether the kernel has seccomp filters: the
// Seccomp field exists in /proc/self/status only then.
func SeccompSupported() bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "Seccomp:") {
			return true
		}
	}
	return false
}

// DeviceInfo resolves a CRI device's host_path: the device itself, or every
// device below a directory (symlinks are not followed below it). A path that
// is neither is InvalidArgument; a missing one is NotFound.
func DeviceInfo(hostPath string) ([]specs.LinuxDevice, error) {
	st, err := os.Stat(hostPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("device %s: %w", hostPath, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		d, ok, err := device(hostPath, true)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s is not a device: %w", hostPath, errdefs.ErrInvalidArgument)
		}
		return []specs.LinuxDevice{d}, nil
	}
	return walkDevices(hostPath, nil)
}

// skipDirs under /dev hold no devices a privileged container should get
// from the host: its own pts, shm and mqueue are mounted fresh.
var skipDirs = map[string]bool{"pts": true, "shm": true, "fd": true, "mqueue": true, ".lxc": true, ".lxd-mounts": true, ".udev": true}

// HostDevices lists the host's /dev for privileged containers. /dev/console
// is left out: the container's console is its own terminal.
func HostDevices() ([]specs.LinuxDevice, error) {
	return walkDevices("/dev", func(rel string, de fs.DirEntry) bool {
		return (de.IsDir() && skipDirs[rel]) || rel == "console"
	})
}

func walkDevices(root string, skip func(rel string, de fs.DirEntry) bool) ([]specs.LinuxDevice, error) {
	var out []specs.LinuxDevice
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return nil // a node that went away or a dir we may not read
			}
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if skip != nil && rel != "." && skip(rel, de) {
			if de.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if de.IsDir() || de.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		d, ok, err := device(p, false)
		if err != nil || !ok {
			return err
		}
		out = append(out, d)
		return nil
	})
	return out, err
}

// device describes the node at p; ok is false for anything but a char,
// block or fifo node.
func device(p string, follow bool) (specs.LinuxDevice, bool, error) {
	var st unix.Stat_t
	stat := unix.Lstat
	if follow {
		stat = unix.Stat
	}
	if err := stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) && !follow {
			return specs.LinuxDevice{}, false, nil
		}
		return specs.LinuxDevice{}, false, fmt.Errorf("stat %s: %w", p, err)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	case unix.S_IFIFO:
		typ = "p"
	default:
		return specs.LinuxDevice{}, false, nil
	}
	mode := os.FileMode(st.Mode & 0o777)
	// Rdev is uint32 on some architectures, uint64 on others.
	rdev := uint64(st.Rdev)
	uid, gid := st.Uid, st.Gid
	return specs.LinuxDevice{
		Path:     p,
		Type:     typ,
		Major:    int64(unix.Major(rdev)),
		Minor:    int64(unix.Minor(rdev)),
		FileMode: &mode,
		UID:      &uid,
		GID:      &gid,
	}, true, nil
}
