package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CVE-2019-16884 class: a volume mounted, through a symlink in the image, over
// the init's own /proc/<pid>/task/<tid>/attr takes the write that asks for the
// AppArmor profile, and the process runs unconfined. The write must land in
// procfs or fail the start.
func TestAppArmorWriteNotRedirected(t *testing.T) {
	requireRoot(t)
	// As on an AppArmor host (this one may have none): the init then writes.
	was := appArmorEnabled()
	appArmorOn = true
	t.Cleanup(func() { appArmorOn = was })

	spec, rootfs := testSpec(t, "true")
	spec.Process.ApparmorProfile = "crid-test-profile"
	upper := strings.TrimPrefix(rootfs[0].Options[1], "upperdir=")
	// The image's /x leads to the thread's attr dir; the volume mounted at /x
	// lands there (it may hold an apparmor/ dir: the pod writes to it).
	if err := os.Symlink("/proc/thread-self/attr", filepath.Join(upper, "x")); err != nil {
		t.Fatal(err)
	}
	vol := tmpDir(t)
	if err := os.Mkdir(filepath.Join(vol, "apparmor"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/x", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}})

	c := create(t, spec, rootfs)
	startErr := c.Start()
	if startErr == nil {
		waitExit(t, c.Pid)
	}
	for _, f := range []string{"apparmor/exec", "exec"} {
		if b, err := os.ReadFile(filepath.Join(vol, f)); err == nil {
			t.Errorf("the AppArmor request went into the volume (%s: %q): the container runs unconfined", f, b)
		}
	}
	if startErr == nil {
		t.Error("the container started although its AppArmor profile could not be set")
	}
	t.Logf("start: %v", startErr)
}
