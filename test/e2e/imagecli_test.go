package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// crid runs the crid CLI against the daemon's root and state.
func (d *Daemon) crid(t *testing.T, args ...string) string {
	t.Helper()
	full := append(append([]string{}, args[:2]...), "--root", d.Root, "--state", d.State, "--config", filepath.Join(d.Dir, "crid.toml"))
	full = append(full, args[2:]...)
	out, err := exec.Command(filepath.Join(binDir, "crid"), full...).CombinedOutput()
	if err != nil {
		t.Fatalf("crid %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestImageCLI: `crid image export` writes an archive that `crid image import` brings back
// as the same image after it was removed, and `crid image ls` lists it, all next to a
// running daemon.
func TestImageCLI(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "cli")
	id := d.pull(t, img.Tag, nil)
	if ls := d.crid(t, "image", "ls"); !strings.Contains(ls, img.Tag) {
		t.Errorf("crid image ls does not list %s:\n%s", img.Tag, ls)
	}
	arc := filepath.Join(d.Dir, "cli-export.tar")
	d.crid(t, "image", "export", "-o", arc, img.Tag)
	if _, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}}); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if st := d.imageStatus(t, img.Tag, false).Image; st != nil {
		t.Fatalf("image still there after RemoveImage: %v", st)
	}
	if out := d.crid(t, "image", "import", arc); !strings.Contains(out, id) {
		t.Errorf("crid image import output %q does not name %s", out, id)
	}
	if st := d.imageStatus(t, img.Tag, false).Image; st == nil || st.Id != id {
		t.Errorf("after export and import: %v, want image %s", st, id)
	}
	d.runsFrom(t, img.Tag)
}
