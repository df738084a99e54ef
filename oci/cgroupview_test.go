package oci

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCgroupV1OwnView: without a cgroup namespace on v1, a container sees its own cgroup
// at /sys/fs/cgroup/<controller> (limits readable where JVMs and others look), not the
// host's tree, and cannot write to it.
func TestCgroupV1OwnView(t *testing.T) {
	requireRoot(t)
	if hostTree.Unified {
		t.Skip("cgroup v1 host only")
	}
	const limit = 48 << 20
	spec, rootfs := testSpec(t, "sh", "-c",
		`cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids/pids.max; `+
			`ls /sys/fs/cgroup/memory | grep -c '^memory.limit_in_bytes$'; ls -d /sys/fs/cgroup/memory/*/ 2>/dev/null | wc -l; `+
			`(echo 1 > /sys/fs/cgroup/pids/pids.max) 2>&1 | grep -o 'Read-only file system'`)
	spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool {
		return n.Type == specs.CgroupNamespace
	})
	mem, pids := int64(limit), int64(77)
	spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem}, Pids: &specs.LinuxPids{Limit: &pids}}
	ws, out := run(t, spec, rootfs)
	if ws.ExitStatus() != 0 {
		t.Fatalf("status %v: %s", ws, out)
	}
	// The container's own cgroup has no child cgroups: a host view would list many dirs.
	want := itoa(limit) + "\n77\n1\n0\nRead-only file system"
	if got := strings.TrimSpace(out); got != want {
		t.Fatalf("container saw:\n%s\nwant:\n%s", got, want)
	}
}
