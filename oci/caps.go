package oci

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// capMask turns capability names into a bit mask. Unknown names are an error;
// names the running kernel does not know (above cap_last_cap) are dropped.
func capMask(names []string, last int) (uint64, error) {
	var m uint64
	for _, n := range names {
		i := -1
		for j, c := range capNames {
			if strings.EqualFold(c, n) {
				i = j
				break
			}
		}
		if i < 0 {
			return 0, invalidSpec(fmt.Errorf("unknown capability %q", n))
		}
		if i <= last {
			m |= 1 << uint(i)
		}
	}
	return m, nil
}

// lastCap is the kernel's last capability, asked of the kernel itself:
// PR_CAPBSET_READ fails with EINVAL past it. /proc/sys/kernel/cap_last_cap is
// read in the container's /proc by then, where a volume mounted through a
// symlink in the image could claim 0 and keep every capability in the
// bounding set.
func lastCap() int {
	n := 0
	for n < 63 {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(n+1), 0, 0, 0); err != nil {
			break
		}
		n++
	}
	return n
}

type capSets struct {
	bounding, effective, permitted, inheritable, ambient uint64
}

func parseCaps(c *specs.LinuxCapabilities, last int) (capSets, error) {
	var s capSets
	if c == nil {
		return s, nil
	}
	var err error
	for _, x := range []struct {
		dst   *uint64
		names []string
	}{{&s.bounding, c.Bounding}, {&s.effective, c.Effective}, {&s.permitted, c.Permitted},
		{&s.inheritable, c.Inheritable}, {&s.ambient, c.Ambient}} {
		if *x.dst, err = capMask(x.names, last); err != nil {
			return s, err
		}
		// A process can never gain a capability outside its bounding set (this node's
		// root lacks CAP_SYS_RESOURCE, for one): "ALL" and privileged mean all we hold,
		// as containerd's privileged containers get the caps of the runtime itself.
		*x.dst &= heldBounding(last)
	}
	return s, nil
}

// heldBounding is this process's bounding set as a mask.
func heldBounding(last int) uint64 {
	var held uint64
	for i := 0; i <= last; i++ {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); err == nil && r == 1 {
			held |= 1 << uint(i)
		}
	}
	return held
}

// dropBounding removes from the bounding set every capability not in keep.
// It needs CAP_SETPCAP, so it runs before the user change.
func dropBounding(keep uint64, last int) error {
	for i := 0; i <= last; i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop bounding capability %s: %w", capNames[i], err)
		}
	}
	return nil
}

// applyCaps sets effective, permitted and inheritable (capset on this thread,
// the one that will execve) and then the ambient set.
func applyCaps(s capSets, last int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i, set := range []uint64{s.effective, s.permitted, s.inheritable} {
		lo, hi := uint32(set), uint32(set>>32)
		switch i {
		case 0:
			data[0].Effective, data[1].Effective = lo, hi
		case 1:
			data[0].Permitted, data[1].Permitted = lo, hi
		case 2:
			data[0].Inheritable, data[1].Inheritable = lo, hi
		}
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && err != unix.EINVAL {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for i := 0; i <= last; i++ {
		if s.ambient&(1<<uint(i)) == 0 {
			continue
		}
		// Ambient needs the cap in permitted and inheritable; like runc, skip
		// (instead of failing) what the kernel refuses.
		_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0)
	}
	return nil
}
