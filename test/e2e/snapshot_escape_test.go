package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// TestSnapshotPathEscape (issue 10, finding 1): a first image's layer holds the symlink
// fs -> a host directory; a second image's config names "sha256:<that layer's diff
// ID>/fs" as its first diff ID over the same blob. crid used to take the symlink for a
// committed snapshot and stack the host directory under the second image's containers.
// The second pull is InvalidArgument; the image is not listed, and the host directory is
// unchanged and was never read from a container.
func TestSnapshotPathEscape(t *testing.T) {
	d := sharedDaemon(t)
	victim := filepath.Join(d.Dir, "escape-victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(victim, "secret")
	if err := os.WriteFile(secret, []byte("host-only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, second, err := testimages.SnapshotEscape(victim)
	if err != nil {
		t.Fatal(err)
	}
	p1 := push(t, reg.open, "e2e/escape-first", first)
	p2 := push(t, reg.open, "e2e/escape-second", second)
	d.pull(t, p1.Tag, nil)

	_, err = d.IS.PullImage(ctxT(t, 2*time.Minute), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: p2.Tag}})
	if err == nil {
		// Show what the hole gives: a container of the second image reads the host file.
		pod := d.podConfig(t, "escape")
		podID := d.runPod(t, pod)
		cfg := containerConfig("reader", p2.Tag, "cat", "/secret")
		id := d.runContainer(t, podID, pod, cfg)
		d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
		t.Fatalf("second image pulled, want it refused; its container read %q from the host", readLog(t, pod, cfg))
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "diff_ids[0]") {
		t.Errorf("second pull: %v, want InvalidArgument naming rootfs.diff_ids[0]", err)
	}
	if st := d.imageStatus(t, p2.Tag, false); st.Image != nil {
		t.Errorf("refused image listed: %v", st.Image)
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "host-only\n" {
		t.Errorf("host file: %q %v, want it unchanged", b, err)
	}
	if ents, _ := os.ReadDir(victim); len(ents) != 1 {
		t.Errorf("host dir holds %d entries, want only the secret", len(ents))
	}
	// No snapshot of crid's is a symlink: the only one the attack could have made points
	// at the victim.
	snaps, _ := filepath.Glob(filepath.Join(d.Root, "images", "snapshots", "*"))
	if slices.ContainsFunc(snaps, func(p string) bool { fi, err := os.Lstat(p); return err == nil && fi.Mode()&os.ModeSymlink != 0 }) {
		t.Errorf("a snapshot is a symlink: %v", snaps)
	}
}

// TestLayerSizeLimit (issue 10, finding 9): with max_layer_size set in a config drop-in, a
// layer whose sparse file or gzip bomb unpacks past it fails the pull with
// ResourceExhausted, leaves no temp file, blob or snapshot, and an ordinary image still
// pulls.
func TestLayerSizeLimit(t *testing.T) {
	confDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(confDir, "50-limit.toml"), []byte("max_layer_size = \"8MiB\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, daemonOptions{extraFlags: []string{"--config-dir", confDir}})
	for name, img := range map[string]func() (v1.Image, error){
		"sparse": func() (v1.Image, error) { return testimages.Sparse(1 << 30) },
		"bomb":   func() (v1.Image, error) { return testimages.Zeros(64 << 20) },
	} {
		p := push(t, reg.open, "e2e/limit-"+name, build(t, img))
		_, err := d.IS.PullImage(ctxT(t, 2*time.Minute), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: p.Tag}})
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "max_layer_size") {
			t.Errorf("pull %s: %v, want ResourceExhausted naming max_layer_size", name, err)
		}
	}
	for _, sub := range []string{"blobs/ingest", "blobs/sha256", "snapshots", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(d.Root, "images", sub)); len(ents) != 0 {
			t.Errorf("images/%s holds %d entries after the refused pulls", sub, len(ents))
		}
	}
	d.pull(t, reg.image(t, "limit-ok").Tag, nil)
}
