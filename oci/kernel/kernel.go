// Package kernel probes, once, which of the kernel interfaces crid's executor
// uses this kernel has, and decides the fallbacks: crid runs on kernels from
// 5.10 up, while some interfaces it prefers are much newer (overlayfs's
// "lowerdir+" key is 6.8, layers as fds 6.13). The raw probes are in
// probe.go; Decide turns their results into Features and is pure, so the
// decisions are unit-tested with fake results.
package kernel

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ProbeArg (os.Args[1]) makes the monitor binary print this kernel's
// Features as JSON and exit: the daemon asks the executor's binary, which can
// make the user namespace some probes need.
const ProbeArg = "probe-kernel"

// OverlayMount is how the executor mounts an overlay rootfs.
type OverlayMount string

const (
	// OverlayLowerdirPlus means fsopen/fsconfig with one "lowerdir+" key per
	// layer (Linux 6.8): no length limit.
	OverlayLowerdirPlus OverlayMount = "lowerdir+"
	// OverlayLowerdirString means the classic mount(2) "lowerdir=a:b:c" option,
	// whose whole option string must fit in one page. The executor names each
	// layer by an fd it holds ("12:13:14", resolved from /proc/self/fd), so
	// the string stays short whatever the layers' paths.
	OverlayLowerdirString OverlayMount = "lowerdir="
)

// IDMappedOverlay is how the executor builds an overlay on idmapped layers
// (user-namespaced containers).
type IDMappedOverlay string

const (
	// IDMappedLayerFds means the idmapped layers stay detached and are given to
	// overlayfs as fds ("lowerdir+" with FSCONFIG_SET_FD, Linux 6.13).
	IDMappedLayerFds IDMappedOverlay = "layer-fds"
	// IDMappedLayerPaths means overlayfs takes layers by path only, in the
	// mounter's mount namespace (5.19-6.12): the idmapped layers are attached
	// in a throwaway private mount namespace and named by path there.
	IDMappedLayerPaths IDMappedOverlay = "layer-paths"
	// IDMappedNone means overlayfs cannot sit on idmapped layers (before 5.19).
	IDMappedNone IDMappedOverlay = "none"
)

// Results are the raw probe outcomes: nil means the interface works, an error
// says how it failed. A missing entry counts as not probed (unsupported).
type Results struct {
	Release string
	Errs    map[Probe]error
}

// Probe names one probe.
type Probe string

// The probes.
const (
	ProbeOpenat2             Probe = "openat2"
	ProbeMountSetattr        Probe = "mount_setattr"
	ProbeOpenTree            Probe = "open_tree+move_mount"
	ProbeFsopenOverlay       Probe = "fsopen(overlay)"
	ProbeClone3IntoCgroup    Probe = "clone3(CLONE_INTO_CGROUP)"
	ProbePidfd               Probe = "pidfd_open+pidfd_send_signal"
	ProbeCloseRangeCloexec   Probe = "close_range(CLOSE_RANGE_CLOEXEC)"
	ProbeUserNamespaces      Probe = "user namespaces"
	ProbeIDMappedMounts      Probe = "idmapped mounts"
	ProbeOverlayLowerdirPlus Probe = "overlay lowerdir+"
	ProbeOverlayString       Probe = "overlay lowerdir= (mount(2))"
	ProbeOverlayIDMapFds     Probe = "overlay on idmapped layer fds"
	ProbeOverlayIDMapPaths   Probe = "overlay on idmapped layer paths"
)

// AllProbes in the order they are reported.
var AllProbes = []Probe{
	ProbeOpenat2, ProbeMountSetattr, ProbeOpenTree, ProbeFsopenOverlay, ProbeClone3IntoCgroup,
	ProbePidfd, ProbeCloseRangeCloexec, ProbeUserNamespaces, ProbeIDMappedMounts,
	ProbeOverlayLowerdirPlus, ProbeOverlayString, ProbeOverlayIDMapFds, ProbeOverlayIDMapPaths,
}

// Features are the decisions the executor and the daemon act on.
type Features struct {
	Release string `json:"release"`
	// Overlay is how an overlay rootfs is mounted; "" when no way works.
	Overlay OverlayMount `json:"overlay"`
	// IDMappedOverlay is how an overlay on idmapped layers is built.
	IDMappedOverlay IDMappedOverlay `json:"idmappedOverlay"`
	// MountSetattr: mount_setattr(2) (5.12): recursive read-only mounts and
	// idmapped mounts need it. Without it the executor attaches each mount
	// first and sets its flags with mount(2) through the mount's own fd.
	MountSetattr bool `json:"mountSetattr"`
	// CloseRangeCloexec: close_range(2) takes CLOSE_RANGE_CLOEXEC (5.11).
	// Without it the init marks each fd it lists from procfs.
	CloseRangeCloexec bool `json:"closeRangeCloexec"`
	// UserNamespaces: a pod can get its own user namespace (idmapped mounts
	// work and overlayfs can sit on idmapped layers).
	UserNamespaces bool `json:"userNamespaces"`
	// Clone3IntoCgroup: processes start inside their cgroup (5.7).
	Clone3IntoCgroup bool `json:"clone3IntoCgroup"`
	// Missing lists the probes that failed, with why, for logs and verbose status.
	Missing map[Probe]string `json:"missing,omitempty"`
}

// Decide turns raw probe results into Features.
func Decide(r Results) Features {
	ok := func(p Probe) bool {
		err, probed := r.Errs[p]
		return probed && err == nil
	}
	f := Features{Release: r.Release, MountSetattr: ok(ProbeMountSetattr), CloseRangeCloexec: ok(ProbeCloseRangeCloexec),
		Clone3IntoCgroup: ok(ProbeClone3IntoCgroup)}
	switch {
	case ok(ProbeOverlayLowerdirPlus):
		f.Overlay = OverlayLowerdirPlus
	case ok(ProbeOverlayString):
		f.Overlay = OverlayLowerdirString
	}
	idmapped := ok(ProbeMountSetattr) && ok(ProbeIDMappedMounts) && ok(ProbeUserNamespaces)
	switch {
	case idmapped && ok(ProbeOverlayIDMapFds):
		f.IDMappedOverlay = IDMappedLayerFds
	case idmapped && ok(ProbeOverlayIDMapPaths):
		f.IDMappedOverlay = IDMappedLayerPaths
	default:
		f.IDMappedOverlay = IDMappedNone
	}
	f.UserNamespaces = f.IDMappedOverlay != IDMappedNone
	for _, p := range AllProbes {
		if err := r.Errs[p]; err != nil || !ok(p) {
			if f.Missing == nil {
				f.Missing = map[Probe]string{}
			}
			if err == nil {
				err = errors.New("not probed")
			}
			f.Missing[p] = err.Error()
		}
	}
	return f
}

// Required are the interfaces the executor has no fallback for: it resolves
// every path inside a rootfs with openat2 (5.6), clones and attaches mounts
// by fd with open_tree/move_mount (5.2), so that a rename cannot redirect
// them, and watches processes through pidfds (5.3). mount_setattr (5.12) and
// close_range's CLOEXEC flag (5.11) have fallbacks (MountSetattr,
// CloseRangeCloexec): Linux 5.10 is enough.
var Required = []Probe{ProbeOpenat2, ProbeOpenTree, ProbePidfd}

// Usable reports whether crid can run containers at all: the required
// interfaces work and an overlay rootfs mounts one way or the other.
func (f Features) Usable() error {
	var missing []string
	for _, p := range Required {
		if why, ok := f.Missing[p]; ok {
			missing = append(missing, fmt.Sprintf("%s: %s", p, why))
		}
	}
	if f.Overlay == "" {
		missing = append(missing, fmt.Sprintf("overlayfs: %s", f.Missing[ProbeOverlayString]))
	}
	if len(missing) > 0 {
		return fmt.Errorf("kernel %s cannot run crid's containers (Linux 5.10 or later needed): %s", f.Release, strings.Join(missing, "; "))
	}
	return nil
}

// String is a one-line summary for the start log.
func (f Features) String() string {
	var missing []string
	for p := range f.Missing {
		missing = append(missing, string(p))
	}
	sort.Strings(missing)
	return fmt.Sprintf("kernel %s: overlay %s, idmapped overlay %s, user namespaces %v, mount_setattr %v, close_range CLOEXEC %v, missing [%s]",
		f.Release, f.Overlay, f.IDMappedOverlay, f.UserNamespaces, f.MountSetattr, f.CloseRangeCloexec, strings.Join(missing, ", "))
}

// Release is uname -r.
func Release() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
