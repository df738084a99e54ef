package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The init lists the fds it closes from its procfs: a volume mounted over
// its /proc/<pid>/fd through a symlink in the image must not make it see an
// empty list and keep them while it waits for Start.
func TestFdListNotRedirected(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "true")
	upper := strings.TrimPrefix(rootfs[0].Options[1], "upperdir=")
	if err := os.Symlink("/proc/self/fd", filepath.Join(upper, "y")); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/y", Type: "bind", Source: tmpDir(t), Options: []string{"rbind", "rw"}})
	c := create(t, spec, rootfs)
	stdioOnly(t, "the waiting init", fdsOf(t, c.Pid), true)
}

// The kernel's last capability bounds the bounding-set drop: read from the
// container's /proc, a volume mounted over /proc/sys/kernel through a symlink
// in the image could claim 0 and keep every capability in the bounding set
// (a setuid or file-capability binary would then get them back).
func TestLastCapNotRedirected(t *testing.T) {
	requireRoot(t)
	spec, rootfs := testSpec(t, "sh", "-c", "grep ^CapBnd: /proc/self/status")
	upper := strings.TrimPrefix(rootfs[0].Options[1], "upperdir=")
	if err := os.Symlink("/proc/sys/kernel", filepath.Join(upper, "z")); err != nil {
		t.Fatal(err)
	}
	vol := tmpDir(t)
	if err := os.WriteFile(filepath.Join(vol, "cap_last_cap"), []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/z", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}})
	_, out := run(t, spec, rootfs)
	if !strings.Contains(out, "CapBnd:\t00000000a80425fb") {
		t.Fatalf("bounding set %q, want exactly the spec's (00000000a80425fb)", strings.TrimSpace(out))
	}
}
