package e2e

import (
	"encoding/base64"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func (d *Daemon) pull(t *testing.T, ref string, auth *runtimeapi.AuthConfig) string {
	t.Helper()
	resp, err := d.IS.PullImage(ctxT(t, 2*time.Minute), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Auth: auth})
	if err != nil {
		t.Fatalf("PullImage %s: %v", ref, err)
	}
	if !strings.HasPrefix(resp.ImageRef, "sha256:") {
		t.Errorf("PullImage %s: image ref %q, want sha256:<config digest>", ref, resp.ImageRef)
	}
	return resp.ImageRef
}

func (d *Daemon) imageStatus(t *testing.T, ref string, verbose bool) *runtimeapi.ImageStatusResponse {
	t.Helper()
	resp, err := d.IS.ImageStatus(ctxT(t, criTimeout), &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Verbose: verbose})
	if err != nil {
		t.Fatalf("ImageStatus %s: %v", ref, err)
	}
	return resp
}

// TestPullByTagAndDigest: pull by tag and by digest give the same image; ImageStatus and
// ListImages describe it.
func TestPullByTagAndDigest(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "tagdigest")
	id := d.pull(t, img.Tag, nil)
	if id != img.ConfigDigest {
		t.Errorf("image id %s, want the config digest %s", id, img.ConfigDigest)
	}
	st := d.imageStatus(t, img.Tag, true).Image
	if st == nil {
		t.Fatalf("ImageStatus %s: no image after pull", img.Tag)
	}
	if st.Id != id || !slices.Contains(st.RepoTags, img.Tag) || !slices.Contains(st.RepoDigests, img.Repo+"@"+img.ManifestDigest) || st.Size == 0 {
		t.Errorf("ImageStatus: id %s tags %v digests %v size %d; want %s, %s, %s@%s, >0", st.Id, st.RepoTags, st.RepoDigests, st.Size, id, img.Tag, img.Repo, img.ManifestDigest)
	}
	if byDigest := d.pull(t, img.Repo+"@"+img.ManifestDigest, nil); byDigest != id {
		t.Errorf("pull by digest: %s, want %s", byDigest, id)
	}
	// Status by id and by digest reference find the same image.
	for _, ref := range []string{id, img.Repo + "@" + img.ManifestDigest} {
		if s := d.imageStatus(t, ref, false).Image; s == nil || s.Id != id {
			t.Errorf("ImageStatus %s: %v, want %s", ref, s, id)
		}
	}
	verbose := d.imageStatus(t, img.Tag, true)
	if len(verbose.Info) == 0 {
		t.Errorf("ImageStatus verbose: no info")
	}
	list, err := d.IS.ListImages(ctxT(t, criTimeout), &runtimeapi.ListImagesRequest{Filter: &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: img.Tag}}})
	if err != nil {
		t.Fatalf("ListImages: %v", err)
	}
	if len(list.Images) != 1 || list.Images[0].Id != id {
		t.Errorf("ListImages filtered by %s: %v, want only %s", img.Tag, list.Images, id)
	}
	all, err := d.IS.ListImages(ctxT(t, criTimeout), &runtimeapi.ListImagesRequest{})
	if err != nil || len(all.Images) < 1 {
		t.Errorf("ListImages: %v %v", all.GetImages(), err)
	}
	// An unknown image: status is empty, not an error (kubelet relies on that).
	if s := d.imageStatus(t, reg.Host+"/e2e/never-pulled:1", false); s.Image != nil {
		t.Errorf("ImageStatus of an unknown image: %v, want nil", s.Image)
	}
}

// TestPullIndex: a multi-arch index resolves to this machine's platform.
func TestPullIndex(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.index(t, "index")
	id := d.pull(t, img.Tag, nil)
	if id != img.ConfigDigest {
		t.Errorf("index pull: image id %s, want the linux/amd64 config %s", id, img.ConfigDigest)
	}
}

// TestPullZstd: zstd-compressed layers.
func TestPullZstd(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.zstd(t, "zstd")
	if id := d.pull(t, img.Tag, nil); id != img.ConfigDigest {
		t.Errorf("zstd image id %s, want %s", id, img.ConfigDigest)
	}
}

// TestPullAuth: registries with Basic and Bearer-token auth need PullImageRequest.auth.
func TestPullAuth(t *testing.T) {
	d := sharedDaemon(t)
	for _, kind := range []string{"basic", "token"} {
		t.Run(kind, func(t *testing.T) {
			img, user, pass := reg.authImage(t, kind)
			_, err := d.IS.PullImage(ctxT(t, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}})
			if err == nil {
				t.Errorf("pull from the %s-auth registry without credentials succeeded", kind)
			}
			_, err = d.IS.PullImage(ctxT(t, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag},
				Auth: &runtimeapi.AuthConfig{Username: user, Password: "wrong"}})
			if err == nil {
				t.Errorf("pull with a wrong password succeeded")
			}
			id := d.pull(t, img.Tag, &runtimeapi.AuthConfig{Username: user, Password: pass})
			if id != img.ConfigDigest {
				t.Errorf("image id %s, want %s", id, img.ConfigDigest)
			}
			// kubelet may send the credentials as the docker config "auth" field instead.
			if _, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}}); err != nil {
				t.Fatalf("RemoveImage: %v", err)
			}
			encoded := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
			if id := d.pull(t, img.Tag, &runtimeapi.AuthConfig{Auth: encoded}); id != img.ConfigDigest {
				t.Errorf("pull with the auth field: image id %s, want %s", id, img.ConfigDigest)
			}
		})
	}
}

// TestPullMirror: a hosts.toml for a registry name sends its pulls to the test registry;
// the image keeps the name it was asked for.
func TestPullMirror(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "mirrored")
	name := "mirror-e2e.example.com"
	if err := writeHostsToml(d.HostsDir, name, "server = \"http://"+reg.Host+"/v2\"\noverride_path = true\ncapabilities = [\"pull\", \"resolve\"]\n"); err != nil {
		t.Fatal(err)
	}
	ref := name + strings.TrimPrefix(img.Tag, reg.Host)
	id := d.pull(t, ref, nil)
	if id != img.ConfigDigest {
		t.Errorf("mirrored pull: %s, want %s", id, img.ConfigDigest)
	}
	if st := d.imageStatus(t, ref, false).Image; st == nil || !slices.Contains(st.RepoTags, ref) {
		t.Errorf("mirrored image status %v, want tag %s", st, ref)
	}
}

// TestRemoveImage: a removed image is gone from status and list; removing again is fine.
func TestRemoveImage(t *testing.T) {
	d := sharedDaemon(t)
	img := reg.image(t, "remove")
	id := d.pull(t, img.Tag, nil)
	if _, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}}); err != nil {
		t.Fatalf("RemoveImage: %v", err)
	}
	if st := d.imageStatus(t, img.Tag, false).Image; st != nil {
		t.Errorf("ImageStatus after remove: %v", st)
	}
	if st := d.imageStatus(t, id, false).Image; st != nil {
		t.Errorf("ImageStatus by id after remove: %v", st)
	}
	list, err := d.IS.ListImages(ctxT(t, criTimeout), &runtimeapi.ListImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list.Images {
		if i.Id == id {
			t.Errorf("ListImages still has %s", id)
		}
	}
	if _, err := d.IS.RemoveImage(ctxT(t, criTimeout), &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.Tag}}); err != nil {
		t.Errorf("second RemoveImage: %v, want success", err)
	}
	// And it can come back.
	if again := d.pull(t, img.Tag, nil); again != id {
		t.Errorf("re-pull: %s, want %s", again, id)
	}
}

// TestImageFsInfo: the image filesystem reports its mountpoint and nonzero usage.
func TestImageFsInfo(t *testing.T) {
	d := sharedDaemon(t)
	testImage(t, d)
	resp, err := d.IS.ImageFsInfo(ctxT(t, criTimeout), &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		t.Fatalf("ImageFsInfo: %v", err)
	}
	if len(resp.ImageFilesystems) == 0 {
		t.Fatalf("ImageFsInfo: no image filesystems")
	}
	fs := resp.ImageFilesystems[0]
	if fs.GetFsId().GetMountpoint() == "" || fs.GetUsedBytes().GetValue() == 0 || fs.GetInodesUsed().GetValue() == 0 || fs.Timestamp == 0 {
		t.Errorf("image filesystem %v: want a mountpoint, used bytes, inodes and a timestamp", fs)
	}
}

// TestImageImport: `crid image import FILE` next to a running daemon makes the archive's
// image usable through CRI, for docker-save and OCI-layout tars.
func TestImageImport(t *testing.T) {
	d := sharedDaemon(t)
	for _, format := range []string{"docker", "oci"} {
		t.Run(format, func(t *testing.T) {
			arc := reg.archive(t, format, d.Dir)
			d.importArchive(t, arc.Path)
			st := d.imageStatus(t, arc.Tag, false).Image
			if st == nil {
				t.Fatalf("imported %s: ImageStatus finds nothing", arc.Tag)
			}
			if st.Id != arc.ConfigDigest {
				t.Errorf("imported image id %s, want %s", st.Id, arc.ConfigDigest)
			}
		})
	}
}

// importArchive runs `crid image import` against the daemon's root/state.
func (d *Daemon) importArchive(t *testing.T, path string) {
	t.Helper()
	d.crid(t, "image", "import", path)
}

// TestImagesSurviveRestart: every image (pulled by tag, by digest, from an index, imported)
// is still there, with the same status, after crid restarts.
func TestImagesSurviveRestart(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	a := reg.image(t, "survive")
	d.pull(t, a.Tag, nil)
	b := reg.image(t, "survive-digest")
	d.pull(t, b.Repo+"@"+b.ManifestDigest, nil)
	c := reg.index(t, "survive-index")
	d.pull(t, c.Tag, nil)
	arc := reg.archive(t, "docker", d.Dir)
	d.importArchive(t, arc.Path)
	before := d.snapshot(t)
	if len(before.images) < 4 {
		t.Fatalf("ListImages before restart: %d images, want 4", len(before.images))
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		if err := d.Restart(sig); err != nil {
			t.Fatalf("restart (%v): %v", sig, err)
		}
		after := d.snapshot(t)
		compareSnapshots(t, before, after, cmpAll)
	}
}
