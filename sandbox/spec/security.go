package spec

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crid-dev/crid/errdefs"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Paths hidden from (masked) or read-only in containers that do not ask
// otherwise: they expose host kernel state or let a process change it.
var (
	defaultMaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
	}
	defaultReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// maskedPaths: privileged containers get none; otherwise the CRI's list
// (kubelet sends the defaults or, for procMount Unmasked, its own), falling
// back to crid's defaults when the list is empty.
func maskedPaths(sc *runtime.LinuxContainerSecurityContext) (masked, readonly []string) {
	if sc.GetPrivileged() {
		return nil, nil
	}
	masked, readonly = sc.GetMaskedPaths(), sc.GetReadonlyPaths()
	if len(masked) == 0 {
		masked = defaultMaskedPaths
	}
	if len(readonly) == 0 {
		readonly = defaultReadonlyPaths
	}
	return slices.Clone(masked), slices.Clone(readonly)
}

// apparmorProfile returns Process.ApparmorProfile. A container that names
// no profile gets RuntimeDefault, as with containerd and CRI-O (kubelet sends
// nothing for pods without one). RuntimeDefault is the node's default profile
// (or, for privileged containers, unconfined, as privileged promises); a
// Localhost profile is applied even to privileged containers because it was
// asked for by name, and must be loaded. Without AppArmor on the node nothing
// is set: RuntimeDefault runs unconfined (and is reported through
// AppArmorSkipped), a Localhost profile is refused.
func apparmorProfile(h Host, p *runtime.SecurityProfile, legacy, field string, privileged bool) (string, error) {
	implicit := p == nil && legacy == ""
	prof, err := securityProfile(p, legacy, field)
	if err != nil {
		return "", err
	}
	if implicit {
		prof = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	}
	if !h.AppArmorEnabled {
		switch prof.GetProfileType() {
		case runtime.SecurityProfile_Localhost:
			return "", fmt.Errorf("%s: localhost profile %q: this node has no AppArmor: %w", field, prof.GetLocalhostRef(), errdefs.ErrFailedPrecondition)
		case runtime.SecurityProfile_RuntimeDefault:
			if !implicit && h.AppArmorSkipped != nil {
				h.AppArmorSkipped(profileRuntimeDefault)
			}
		}
		return "", nil
	}
	switch prof.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return profileUnconfined, nil
	case runtime.SecurityProfile_RuntimeDefault:
		if privileged {
			return profileUnconfined, nil
		}
		if h.DefaultAppArmorProfile == "" {
			return "", fmt.Errorf("%s: RuntimeDefault: crid's default AppArmor profile is not loaded on this node (see crid's log): %w", field, errdefs.ErrFailedPrecondition)
		}
		return h.DefaultAppArmorProfile, nil
	case runtime.SecurityProfile_Localhost:
		name := strings.TrimPrefix(prof.GetLocalhostRef(), profileLocalhost)
		if name == "" {
			return "", invalidf(field, "localhost profile needs a name")
		}
		if h.AppArmorLoaded != nil {
			if err := h.AppArmorLoaded(name); err != nil {
				return "", fmt.Errorf("%s: %w", field, err)
			}
		}
		return name, nil
	}
	return "", invalidf(field, "unknown profile type %d", prof.GetProfileType())
}
