package spec

import (
	"slices"
	"strings"

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

// apparmorProfile returns Process.ApparmorProfile. Without AppArmor on the
// node nothing is set. RuntimeDefault is the node's default profile (or,
// for privileged containers, unconfined, as privileged promises); a
// Localhost profile is applied even to privileged containers because it was
// asked for by name.
func apparmorProfile(h Host, p *runtime.SecurityProfile, legacy, field string, privileged bool) (string, error) {
	if !h.AppArmorEnabled {
		return "", nil
	}
	prof, err := securityProfile(p, legacy, field)
	if err != nil {
		return "", err
	}
	switch prof.GetProfileType() {
	case runtime.SecurityProfile_Unconfined:
		return profileUnconfined, nil
	case runtime.SecurityProfile_RuntimeDefault:
		if privileged {
			return profileUnconfined, nil
		}
		return h.DefaultAppArmorProfile, nil
	case runtime.SecurityProfile_Localhost:
		name := strings.TrimPrefix(prof.GetLocalhostRef(), profileLocalhost)
		if name == "" {
			return "", invalidf(field, "localhost profile needs a name")
		}
		return name, nil
	}
	return "", invalidf(field, "unknown profile type %d", prof.GetProfileType())
}
