package e2e

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// runsFrom checks that a container from image ref runs and prints what busybox echo says.
func (d *Daemon) runsFrom(t *testing.T, ref string) {
	t.Helper()
	pod := d.podConfig(t, "img")
	podID := d.runPod(t, pod)
	cfg := containerConfig("echo", ref, "echo", "image-works")
	id := d.runContainer(t, podID, pod, cfg)
	st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if st.ExitCode != 0 {
		t.Errorf("container from %s: exit %d", ref, st.ExitCode)
	}
	d.removePod(t, podID)
}

// TestRunFromEveryImageKind: containers run from images pulled by digest, through an index,
// with zstd layers, and imported from docker-save and OCI archives.
func TestRunFromEveryImageKind(t *testing.T) {
	d := sharedDaemon(t)
	byDigest := reg.image(t, "run-digest")
	d.pull(t, byDigest.Repo+"@"+byDigest.ManifestDigest, nil)
	idx := reg.index(t, "run-index")
	d.pull(t, idx.Tag, nil)
	z := reg.zstd(t, "run-zstd")
	d.pull(t, z.Tag, nil)
	refs := []string{byDigest.Repo + "@" + byDigest.ManifestDigest, idx.Tag, z.Tag}
	for _, format := range []string{"docker", "oci"} {
		arc := reg.archive(t, format, d.Dir)
		d.importArchive(t, arc.Path)
		refs = append(refs, arc.Tag)
	}
	for _, ref := range refs {
		d.runsFrom(t, ref)
	}
}
