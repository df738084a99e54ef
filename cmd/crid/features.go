package main

import (
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec"
	"github.com/crid-dev/crid/sandbox/spec/hostinfo"
)

// Node facts are probed once at start so that Status advertises only what really works.

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

func probeFeatures() sandbox.Features {
	setattr := hasMountSetattr()
	return sandbox.Features{
		RecursiveReadOnlyMounts:  setattr,
		UserNamespaces:           setattr && userNamespacesEnabled(),
		SupplementalGroupsPolicy: true, // resolved by crid itself from the image's /etc/group
	}
}

func specHost(driver string) spec.Host {
	d := spec.CgroupfsDriver
	if driver == "systemd" {
		d = spec.SystemdDriver
	}
	return hostinfo.Probe(hostinfo.Options{CgroupDriver: d})
}
