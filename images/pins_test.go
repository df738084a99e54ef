package images

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

func TestPinMatching(t *testing.T) {
	ps, err := compilePins("registry.k8s.io/pause:3.10", []string{"busybox", "registry.example/team/*:v1*", "quay.io/x@sha256:*"})
	if err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{
		"registry.k8s.io/pause:3.10":                  "registry.k8s.io/pause:3.10",
		"registry.k8s.io/pause:3.9":                   "",
		"docker.io/library/busybox:latest":            "busybox",
		"docker.io/library/busybox:1.36":              "",
		"registry.example/team/app:v1.2":              "registry.example/team/*:v1*",
		"registry.example/team/sub/app:v1.2":          "", // * never crosses a /
		"registry.example/team/app:v2":                "",
		"quay.io/x@sha256:" + strings.Repeat("a", 64): "quay.io/x@sha256:*",
	} {
		if got := ps.match(ref); got != want {
			t.Errorf("match(%q) = %q, want %q", ref, got, want)
		}
	}
	if _, err := compilePins("", []string{"reg/[a"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad glob accepted: %v", err)
	}
	if _, err := compilePins("", []string{"Not A/Ref"}); err == nil {
		t.Errorf("bad reference accepted")
	}
}

// TestPinnedImagesNeverRemoved: a pinned image is reported Pinned, RemoveImage of it (by ID,
// by the pinned tag) is refused naming the pin, garbage collection keeps its blobs and
// snapshots, an unpinned second tag can still go, and a reload that drops the pin frees it.
func TestPinnedImagesNeverRemoved(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "team/app:v1", bb)
	push(t, reg, "other/app:latest", bb)
	glob := strings.SplitN(reg.Ref("team/app:v1"), "/", 2)[0] + "/team/*:v*"
	e := newEnv(t, func(c *Config) { c.PinnedImages = []string{glob} })
	img := e.pull(t, reg.Ref("team/app:v1"))
	e.pull(t, reg.Ref("other/app:latest"))
	if got := must[*Image](t)(e.svc.Resolve(img.ID)); !got.Pinned {
		t.Fatalf("not reported pinned: %+v", got)
	}
	ctx := context.Background()
	for _, ref := range []string{img.ID, reg.Ref("team/app:v1")} {
		err := e.svc.Remove(ctx, ref)
		if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), glob) {
			t.Errorf("Remove(%s) = %v, want FailedPrecondition naming %q", ref, err, glob)
		}
	}
	// The unpinned tag may go; the image stays with its pinned tag.
	if err := e.svc.Remove(ctx, reg.Ref("other/app:latest")); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.gc(); err != nil {
		t.Fatal(err)
	}
	e.reopen(t) // Open runs a GC pass too
	got := must[*Image](t)(e.svc.Resolve(img.ID))
	if !got.Pinned || len(got.RepoTags) != 1 {
		t.Fatalf("after GC and reopen: %+v", got)
	}
	if _, err := e.svc.PrepareRootfs(ctx, "pinned-c", img.ID); err != nil {
		t.Fatalf("pinned image's snapshots collected: %v", err)
	}
	if err := e.svc.RemoveRootfs(ctx, "pinned-c"); err != nil {
		t.Fatal(err)
	}
	// Dropping the pin (what a SIGHUP reload does) makes it removable.
	if err := e.svc.SetPinned(nil); err != nil {
		t.Fatal(err)
	}
	if got := must[*Image](t)(e.svc.Resolve(img.ID)); got.Pinned {
		t.Fatal("still pinned after SetPinned(nil)")
	}
	if err := e.svc.Remove(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(e.svc.blobDir()); len(ents) != 0 {
		t.Errorf("blobs left after the last image went: %d", len(ents))
	}
}
