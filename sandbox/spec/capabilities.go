package spec

import (
	"fmt"
	"slices"
	"strings"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// allCapabilities are the capabilities Linux knows (through 5.9,
// CAP_CHECKPOINT_RESTORE), in number order. Privileged containers and
// "ALL" get these; the executor drops any the running kernel lacks.
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP",
	"CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
	"CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// defaultCapabilities is the set containers get unless they add or drop:
// the same list containerd and Docker use, which images and kubelet's
// conformance tests assume.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultCapabilities returns a copy of the default capability set.
func DefaultCapabilities() []string { return slices.Clone(defaultCapabilities) }

// normalizeCap accepts "net_admin", "NET_ADMIN" or "CAP_NET_ADMIN".
func normalizeCap(name string) (string, bool) {
	c := strings.ToUpper(strings.TrimSpace(name))
	if !strings.HasPrefix(c, "CAP_") {
		c = "CAP_" + c
	}
	return c, slices.Contains(allCapabilities, c)
}

func isAll(name string) bool { return strings.EqualFold(strings.TrimSpace(name), "ALL") }

// capabilitySet computes the bounding/effective/permitted set: "ALL" in add
// starts from every capability, "ALL" in drop from none; then the named adds
// and drops apply, drops last so that drop wins over add (as in containerd).
func capabilitySet(c *runtime.Capability, privileged bool) ([]string, error) {
	if privileged {
		return slices.Clone(allCapabilities), nil
	}
	set := slices.Clone(defaultCapabilities)
	if slices.ContainsFunc(c.GetAddCapabilities(), isAll) {
		set = slices.Clone(allCapabilities)
	}
	if slices.ContainsFunc(c.GetDropCapabilities(), isAll) {
		set = nil
	}
	for i, name := range c.GetAddCapabilities() {
		if isAll(name) {
			continue
		}
		cp, ok := normalizeCap(name)
		if !ok {
			return nil, invalidf(fmt.Sprintf("security_context.capabilities.add_capabilities[%d]", i), "unknown capability %q", name)
		}
		if !slices.Contains(set, cp) {
			set = append(set, cp)
		}
	}
	for i, name := range c.GetDropCapabilities() {
		if isAll(name) {
			continue
		}
		cp, ok := normalizeCap(name)
		if !ok {
			return nil, invalidf(fmt.Sprintf("security_context.capabilities.drop_capabilities[%d]", i), "unknown capability %q", name)
		}
		set = slices.DeleteFunc(set, func(s string) bool { return s == cp })
	}
	return set, nil
}

// ambientSet validates add_ambient_capabilities: an ambient capability must
// also be permitted and inheritable, so it is added to set as well.
func ambientSet(c *runtime.Capability) ([]string, error) {
	var out []string
	for i, name := range c.GetAddAmbientCapabilities() {
		cp, ok := normalizeCap(name)
		if !ok {
			return nil, invalidf(fmt.Sprintf("security_context.capabilities.add_ambient_capabilities[%d]", i), "unknown capability %q", name)
		}
		if !slices.Contains(out, cp) {
			out = append(out, cp)
		}
	}
	return out, nil
}
