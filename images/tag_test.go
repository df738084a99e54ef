package images

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

// names lists every image's ID with its tags and repo digests, to compare the store's
// names before and after.
func names(s *Service) []string {
	var out []string
	for _, img := range s.List() {
		out = append(out, img.ID+" "+strings.Join(img.RepoTags, ",")+" "+strings.Join(img.RepoDigests, ","))
	}
	return out
}

func wantTagged(t *testing.T, s *Service, ref, id string) {
	t.Helper()
	got, err := s.Resolve(ref)
	if err != nil || got.ID != id {
		t.Fatalf("resolve %s: %v %v, want %s", ref, got, err, id)
	}
}

// Tag adds a normalised name to an image found by name or short ID, keeps its other
// names, moves a tag from another image (removing it once nameless) and persists.
func TestTag(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	reg := newRegistry(t)
	push(t, reg, "tag/a:1", must[v1.Image](t)(testimages.Variant("tag-a")))
	push(t, reg, "tag/b:1", must[v1.Image](t)(testimages.Variant("tag-b")))
	e := newEnv(t, nil)
	a := e.pull(t, reg.Ref("tag/a:1"))
	b := e.pull(t, reg.Ref("tag/b:1"))

	if err := e.svc.Tag(ctx, reg.Ref("tag/a:1"), "mine"); err != nil {
		t.Fatal(err)
	}
	wantTagged(t, e.svc, "docker.io/library/mine:latest", a.ID)
	short := strings.TrimPrefix(a.ID, "sha256:")[:minShortID]
	if err := e.svc.Tag(ctx, short, "example.com/team/app:2"); err != nil {
		t.Fatalf("tag by short ID: %v", err)
	}
	got := must[*Image](t)(e.svc.Resolve(a.ID))
	want := []string{a.RepoTags[0], "docker.io/library/mine:latest", "example.com/team/app:2"}
	if !slices.Equal(got.RepoTags, want) || !slices.Equal(got.RepoDigests, a.RepoDigests) {
		t.Fatalf("names %v %v, want %v %v", got.RepoTags, got.RepoDigests, want, a.RepoDigests)
	}
	// Tagging again with a name the image has changes nothing.
	if err := e.svc.Tag(ctx, a.ID, "example.com/team/app:2"); err != nil {
		t.Fatal(err)
	}
	if again := must[*Image](t)(e.svc.Resolve(a.ID)); !slices.Equal(again.RepoTags, want) {
		t.Fatalf("tags after a repeated tag: %v, want %v", again.RepoTags, want)
	}

	// b's tag moves to a. b keeps its repo digest, so stays; without it, b goes.
	if err := e.svc.Tag(ctx, a.ID, reg.Ref("tag/b:1")); err != nil {
		t.Fatal(err)
	}
	wantTagged(t, e.svc, reg.Ref("tag/b:1"), a.ID)
	if got := must[*Image](t)(e.svc.Resolve(b.ID)); len(got.RepoTags) != 0 || !slices.Equal(got.RepoDigests, b.RepoDigests) {
		t.Fatalf("b after its tag moved: %v %v, want no tag and its repo digest", got.RepoTags, got.RepoDigests)
	}
	if err := e.svc.Tag(ctx, b.ID, "example.com/only/b:1"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Remove(ctx, b.RepoDigests[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Tag(ctx, a.ID, "example.com/only/b:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Resolve(b.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("b, left nameless: %v, want it removed", err)
	}

	before := names(e.svc)
	e.reopen(t)
	if after := names(e.svc); !slices.Equal(after, before) {
		t.Fatalf("names after reopen %v, want %v", after, before)
	}
	wantTagged(t, e.svc, "example.com/only/b:1", a.ID)
}

// An unknown source is NotFound, a target that is no tag InvalidArgument, and neither
// changes a name.
func TestTagRefused(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	reg := newRegistry(t)
	push(t, reg, "refused/a:1", must[v1.Image](t)(testimages.Variant("tag-refused")))
	e := newEnv(t, nil)
	a := e.pull(t, reg.Ref("refused/a:1"))
	before := names(e.svc)

	for _, src := range []string{"no/such:image", "sha256:" + strings.Repeat("0", 64), strings.Repeat("f", minShortID)} {
		if err := e.svc.Tag(ctx, src, "fine:1"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), src) {
			t.Errorf("tag of %s: %v, want NotFound naming it", src, err)
		}
	}
	for _, target := range []string{"", "Upper/case:1", "a/-x:1", "a:bad tag", "busybox@sha256:" + strings.Repeat("a", 64), "busybox:1@sha256:" + strings.Repeat("a", 64), " busybox"} {
		if err := e.svc.Tag(ctx, a.ID, target); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), target) {
			t.Errorf("tag as %q: %v, want InvalidArgument naming it", target, err)
		}
	}
	if after := names(e.svc); !slices.Equal(after, before) {
		t.Fatalf("refused tags changed names: %v, want %v", after, before)
	}
}

// A tag needs no layer bytes: an image whose layer blobs were not kept
// (discard_unpacked_layers), which cannot be exported, is tagged, and nothing is written to
// the content store.
func TestTagDiscardedLayers(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	src := must[v1.Image](t)(testimages.Variant("tag-discard"))
	push(t, reg, "discard/tag:1", src)
	e := newEnv(t, discardLayers)
	img := e.pull(t, reg.Ref("discard/tag:1"))
	blobs := entries(t, e.svc.blobDir())
	if err := e.svc.Tag(context.Background(), reg.Ref("discard/tag:1"), "example.com/kept/not:1"); err != nil {
		t.Fatalf("tag of an image whose layers were not kept: %v", err)
	}
	wantTagged(t, e.svc, "example.com/kept/not:1", img.ID)
	if got := entries(t, e.svc.blobDir()); !slices.Equal(got, blobs) {
		t.Errorf("blobs after the tag %v, want %v", got, blobs)
	}
	for _, d := range layerDigests(t, src) {
		if e.svc.hasBlob(d) {
			t.Errorf("layer blob %s stored by the tag", d)
		}
	}
}

// An image removed between Tag's lookup and its commit stays removed: Tag is NotFound and
// the new name is nowhere, also after a reopen.
func TestTagRemovedMeanwhile(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	p := pullKeepingBlobs(t, "tag-gone")
	e, img := p.env, p.img
	e.svc.tagResolved = func(id string) {
		if err := e.svc.Remove(ctx, id); err != nil {
			t.Errorf("remove during the tag: %v", err)
		}
	}
	err := e.svc.Tag(ctx, p.ref, "example.com/late/tag:1")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "removed while being tagged") {
		t.Fatalf("tag of an image removed meanwhile: %v, want NotFound", err)
	}
	e.reopen(t)
	for _, ref := range []string{img.ID, "example.com/late/tag:1"} {
		if got, err := e.svc.Resolve(ref); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("resolve %s: %v %v, want the image gone", ref, got, err)
		}
	}
}
