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
