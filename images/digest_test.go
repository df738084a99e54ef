package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

func TestCheckDigest(t *testing.T) {
	good := "sha256:" + strings.Repeat("ab", 32)
	if err := checkDigest("d", good); err != nil {
		t.Errorf("%s: %v", good, err)
	}
	for _, d := range []string{
		"", "sha256:", "sha256", good + "/fs", good[:len(good)-2] + "/.", "sha256:../../etc",
		strings.ToUpper(good), good + "0", good[:len(good)-1], "sha256:" + strings.Repeat("g", 64),
		"sha512:" + strings.Repeat("ab", 64), "md5:" + strings.Repeat("a", 32), good + "\n", " " + good,
	} {
		if err := checkDigest("d", d); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("checkDigest(%q) = %v, want InvalidArgument", d, err)
		}
	}
}

// The snapshot-path attack: a first image's layer holds the symlink fs -> a host dir; a
// second image names "sha256:<that layer's diff ID>/fs" as its first diff ID over the same
// blob. crid used to find <snapshots>/<D>/fs/fs (following the symlink), skip the layer's
// download and checks, and stack the host dir under the second image. The second pull is
// refused, nothing of it is stored, and the host dir is neither a lower dir nor changed.
func TestSnapshotEscapeRefused(t *testing.T) {
	requireRoot(t)
	victim := t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "secret"), []byte("host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, second, err := testimages.SnapshotEscape(victim)
	if err != nil {
		t.Fatal(err)
	}
	reg := newRegistry(t)
	push(t, reg, "escape/first:1", first)
	push(t, reg, "escape/second:1", second)
	e := newEnv(t, nil)
	e.pull(t, reg.Ref("escape/first:1"))
	blobsBefore := entries(t, e.svc.blobDir())
	snapsBefore := entries(t, e.svc.snapshotsDir())

	img, err := e.svc.Pull(context.Background(), reg.Ref("escape/second:1"), nil)
	if err == nil {
		rfs, perr := e.svc.PrepareRootfs(context.Background(), "escape", img.ID)
		if perr == nil {
			defer func() { _ = e.svc.RemoveRootfs(context.Background(), "escape") }()
			if slices.ContainsFunc(rfs.LowerDirs, func(d string) bool { r, _ := filepath.EvalSymlinks(d); return r == victim }) {
				t.Errorf("the host dir %s is a lower dir of the second image: %v", victim, rfs.LowerDirs)
			}
		}
		t.Fatalf("second image pulled (%s), want it refused", img.ID)
	}
	if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "diff_ids[0]") {
		t.Errorf("pull: %v, want InvalidArgument naming rootfs.diff_ids[0]", err)
	}
	if _, err := e.svc.Resolve(reg.Ref("escape/second:1")); !errdefs.IsNotFound(err) {
		t.Errorf("second image listed after a refused pull: %v", err)
	}
	if got := entries(t, e.svc.blobDir()); !slices.Equal(got, blobsBefore) {
		t.Errorf("blobs %v after the refused pull, want %v", got, blobsBefore)
	}
	if got := entries(t, e.svc.snapshotsDir()); !slices.Equal(got, snapsBefore) {
		t.Errorf("snapshots %v after the refused pull, want %v", got, snapsBefore)
	}
	if got := entries(t, victim); !slices.Equal(got, []string{"secret"}) {
		t.Errorf("host dir now holds %v", got)
	}
}

// A snapshot is only trusted when both of its levels are real directories: a symlink in
// their place (planted, or reached through a layer's own symlink) is not a snapshot.
func TestSnapshotMustBeRealDirectory(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	push(t, reg, "real/img:1", must[v1.Image](t)(testimages.Variant("real")))
	e := newEnv(t, nil)
	img := e.pull(t, reg.Ref("real/img:1"))
	chain := img.ChainID
	if !e.svc.hasSnapshot(chain) {
		t.Fatal("pulled snapshot not found")
	}
	elsewhere := t.TempDir()
	if err := os.Mkdir(filepath.Join(elsewhere, "fs"), 0o755); err != nil {
		t.Fatal(err)
	}
	fs := e.svc.snapshotFS(chain)
	// fs as a symlink to a real directory.
	if err := os.Rename(fs, fs+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(elsewhere, "fs"), fs); err != nil {
		t.Fatal(err)
	}
	if e.svc.hasSnapshot(chain) {
		t.Error("a snapshot whose fs is a symlink was trusted")
	}
	if _, err := e.svc.PrepareRootfs(context.Background(), "c-link", img.ID); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("PrepareRootfs over a symlinked snapshot: %v, want FailedPrecondition", err)
	}
	// The snapshot dir itself as a symlink.
	dir := e.svc.snapshotDir(chain)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, dir); err != nil {
		t.Fatal(err)
	}
	if e.svc.hasSnapshot(chain) {
		t.Error("a snapshot dir that is a symlink was trusted")
	}
	// Re-pulling repairs it: the layer is fetched and checked again.
	os.Remove(dir)
	if again := e.pull(t, reg.Ref("real/img:1")); again.ID != img.ID || !e.svc.hasSnapshot(chain) {
		t.Errorf("re-pull: %v, snapshot %v", again.ID, e.svc.hasSnapshot(chain))
	}
}

// An image an older crid stored without checking its digests is forgotten at Open, so no
// path is ever built from its diff IDs.
func TestOpenForgetsRecordWithInvalidDigest(t *testing.T) {
	e := newEnv(t, nil)
	good := "sha256:" + strings.Repeat("ab", 32)
	bad := &record{ID: good, ConfigDigest: good, RepoTags: []string{"docker.io/library/bad:1"},
		Layers:   []layerRecord{{Digest: good, DiffID: good + "/fs"}},
		ChainIDs: []string{good + "/fs"}}
	if err := e.svc.addImage(bad); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	if _, err := e.svc.Resolve("bad:1"); !errdefs.IsNotFound(err) {
		t.Fatalf("record with diff ID %q still listed: %v", bad.Layers[0].DiffID, err)
	}
}
