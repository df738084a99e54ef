package main

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec"
)

// Node facts are probed once at start so that Status advertises only what really works.

// cgroupV2 tells whether /sys/fs/cgroup is the unified hierarchy (not v1 or hybrid).
func cgroupV2() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// hasMountSetattr probes mount_setattr(2): EBADF on a bad fd means the syscall exists,
// ENOSYS means the kernel predates it (5.12). Recursive read-only and idmapped mounts need it.
func hasMountSetattr() bool {
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

func userNamespacesEnabled() bool {
	b, err := os.ReadFile("/proc/sys/user/max_user_namespaces")
	return err == nil && strings.TrimSpace(string(b)) != "0"
}

func appArmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

func seccompEnabled() bool {
	_, err := os.Stat("/proc/sys/kernel/seccomp/actions_avail")
	return err == nil
}

func probeFeatures() sandbox.Features {
	setattr := hasMountSetattr()
	return sandbox.Features{
		RecursiveReadOnlyMounts:  setattr,
		UserNamespaces:           setattr && userNamespacesEnabled(),
		SupplementalGroupsPolicy: true, // resolved by crid itself from the image's /etc/group
	}
}

func specHost(driver string) spec.Host {
	h := spec.Host{
		CgroupV2:        cgroupV2(),
		SeccompDisabled: !seccompEnabled(),
		AppArmorEnabled: appArmorEnabled(),
	}
	if driver == "systemd" {
		h.CgroupDriver = spec.SystemdDriver
	}
	return h
}
