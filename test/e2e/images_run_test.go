package e2e

import (
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/hack/testimages"
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

// TestImageConfigDefaults: a container without command runs the image's Cmd with the
// image's environment (hack/testimages' httpd image serves /var/www on port 80).
func TestImageConfigDefaults(t *testing.T) {
	d := sharedDaemon(t)
	img := push(t, reg.open, "e2e/httpd", build(t, testimages.Httpd))
	d.pull(t, img.Tag, nil)
	pod := d.podConfig(t, "imgdefaults")
	podID := d.runPod(t, pod)
	cfg := containerConfig("httpd", img.Tag)
	id := d.runContainer(t, podID, pod, cfg)
	waitListening(t, d, podID, id, 80)
	if got := d.mustExec(t, id, "cat", "/proc/1/cmdline"); got != "httpd\x00-f\x00-v\x00-p\x0080\x00-h\x00/var/www\x00" {
		t.Errorf("pid 1 runs %q, want the image's Cmd", got)
	}
	if env := d.mustExec(t, id, "cat", "/proc/1/environ"); !strings.Contains(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("pid 1 environment %q lacks the image's PATH", env)
	}
	if body, err := httpGet("http://" + d.podIP(t, podID) + ":80/"); err != nil || !strings.Contains(body, "hello from crid") {
		t.Errorf("the image's web page: %q %v", body, err)
	}
}
