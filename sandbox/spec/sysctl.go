package spec

import (
	"fmt"
	"sort"
	"strings"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Sysctls are written by the executor into /proc/sys of the pod's
// namespaces. Only sysctls that the kernel scopes to a namespace the pod
// owns may be set, or one pod would tune the whole node (CVE-2022-0811).

// ipcSysctl reports a sysctl scoped to the IPC namespace: kernel.shm*,
// kernel.msg*, kernel.sem, kernel.sem_next_id and fs.mqueue.* (the same
// rule as kubelet's).
func ipcSysctl(name string) bool {
	return strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") ||
		name == "kernel.sem" || name == "kernel.sem_next_id" || strings.HasPrefix(name, "fs.mqueue.")
}

// globalNetSysctls live under /proc/sys/net but are node-wide (or read-only
// outside the initial network namespace) on current kernels.
var globalNetSysctls = map[string]bool{
	"net.core.rmem_default":          true,
	"net.core.rmem_max":              true,
	"net.core.wmem_default":          true,
	"net.core.wmem_max":              true,
	"net.core.netdev_max_backlog":    true,
	"net.core.netdev_budget":         true,
	"net.core.netdev_budget_usecs":   true,
	"net.core.dev_weight":            true,
	"net.core.bpf_jit_enable":        true,
	"net.core.bpf_jit_harden":        true,
	"net.core.bpf_jit_kallsyms":      true,
	"net.core.bpf_jit_limit":         true,
	"net.core.message_burst":         true,
	"net.core.message_cost":          true,
	"net.core.flow_limit_cpu_bitmap": true,
	"net.core.flow_limit_table_len":  true,
	"net.ipv4.tcp_mem":               true,
	"net.ipv4.udp_mem":               true,
	"net.netfilter.nf_conntrack_max": true,
	"net.nf_conntrack_max":           true,
}

// normalizeSysctl accepts kubelet's slash form ("net/ipv4/conf/eth0.100/rp_filter")
// and returns the dotted form, where dots inside a segment become slashes.
func normalizeSysctl(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '/':
			return '.'
		case '.':
			return '/'
		}
		return r
	}, name)
}

// ValidateSysctls checks every sysctl against the namespaces the pod owns
// (ns may be nil: all POD) and returns them in dotted form for
// Spec.Linux.Sysctl. A sysctl that is not namespaced, or whose namespace is
// the host's, is InvalidArgument naming it.
func ValidateSysctls(sysctls map[string]string, ns *runtime.NamespaceOption) (map[string]string, error) {
	if len(sysctls) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(sysctls))
	for k := range sysctls {
		names = append(names, k)
	}
	sort.Strings(names) // the first error is stable
	out := make(map[string]string, len(sysctls))
	for _, raw := range names {
		field := fmt.Sprintf("linux.sysctls[%q]", raw)
		name := normalizeSysctl(raw)
		if err := checkSysctlName(name); err != nil {
			return nil, invalidf(field, "%v", err)
		}
		value, err := sysctlValue(name, sysctls[raw])
		if err != nil {
			return nil, invalidf(field, "%v", err)
		}
		if err := checkSysctlNamespace(name, ns); err != nil {
			return nil, invalidf(field, "%v", err)
		}
		out[name] = value
	}
	return out, nil
}

// sysctlFields are the namespaced sysctls that take more than one value
// (space separated); every other one takes exactly one.
var sysctlFields = map[string]int{
	"kernel.sem":                   4,
	"net.ipv4.ip_local_port_range": 2,
	"net.ipv4.ping_group_range":    2,
	"net.ipv4.tcp_rmem":            3,
	"net.ipv4.tcp_wmem":            3,
}

// maxSysctlValue is what the kernel reads in one write (a page, less the NUL).
const maxSysctlValue = 4095

// sysctlValue checks that value is what the kernel takes whole for that one
// key: the right number of fields, each made only of characters some
// namespaced sysctl value uses (digits, names, lists and ranges: "8080,9000-9010",
// IPv6 for stable_secret). A second assignment ("1+kernel.core_pattern=|/x",
// CVE-2022-0811), a newline, or a value the kernel would only partly consume
// ("1 2" for a single int) is refused. Fields may be separated by spaces or
// tabs (as /proc prints them); the value returned separates them by one space.
func sysctlValue(name, value string) (string, error) {
	if len(value) > maxSysctlValue {
		return "", fmt.Errorf("value longer than %d bytes", maxSysctlValue)
	}
	fields := strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == '\t' })
	want := sysctlFields[name]
	if want == 0 {
		want = 1
	}
	if len(fields) != want {
		return "", fmt.Errorf("value %q: want %d value(s), got %d", value, want, len(fields))
	}
	for _, f := range fields {
		for _, r := range f {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
				r == '-' || r == '_' || r == '.' || r == ',' || r == ':'
			if !ok {
				return "", fmt.Errorf("value %q: character %q is not part of a sysctl value", value, r)
			}
		}
	}
	return strings.Join(fields, " "), nil
}

func checkSysctlName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for _, seg := range strings.Split(name, ".") {
		if seg == "" || strings.Trim(seg, "/") != seg || strings.Contains(seg, "//") || seg == ".." {
			return fmt.Errorf("malformed name")
		}
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || r == '-' || r == '.' || r == '/'
		if !ok {
			return fmt.Errorf("malformed name")
		}
	}
	return nil
}

func checkSysctlNamespace(name string, ns *runtime.NamespaceOption) error {
	switch {
	case ipcSysctl(name):
		if ns.GetIpc() == runtime.NamespaceMode_NODE {
			return fmt.Errorf("IPC sysctl not allowed with host IPC")
		}
	case strings.HasPrefix(name, "net."):
		if globalNetSysctls[name] {
			return fmt.Errorf("not namespaced: it would change the node")
		}
		if ns.GetNetwork() == runtime.NamespaceMode_NODE {
			return fmt.Errorf("network sysctl not allowed with host network")
		}
	case name == "kernel.hostname" || name == "kernel.domainname":
		// UTS follows the network namespace in a pod.
		if ns.GetNetwork() == runtime.NamespaceMode_NODE {
			return fmt.Errorf("UTS sysctl not allowed with host network")
		}
	default:
		return fmt.Errorf("not namespaced: it would change the node")
	}
	return nil
}
