package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crid-dev/crid/hack/testimages"
	"github.com/crid-dev/crid/images"
	"github.com/crid-dev/crid/internal/testenv"
)

// storeWithDiscardedLayers opens a store with discard_unpacked_layers and pulls busybox into
// it from a test registry; it returns the store and the image's reference.
func storeWithDiscardedLayers(t *testing.T) (*images.Service, string) {
	t.Helper()
	dir := t.TempDir()
	return storeWithBusybox(t, images.Config{Root: filepath.Join(dir, "images"), ContainersDir: filepath.Join(dir, "containers"), DiscardUnpackedLayers: true})
}

// storeWithBusybox opens a store of cfg and pulls busybox into it from a test registry; it
// returns the store and the image's reference.
func storeWithBusybox(t *testing.T, cfg images.Config) (*images.Service, string) {
	t.Helper()
	if !testenv.Privileged() {
		t.Skip("needs root (unpacking a layer)")
	}
	reg, err := testimages.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	bb, err := testimages.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("lib/bb:1", bb); err != nil {
		t.Fatal(err)
	}
	store, err := images.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ref := reg.Ref("lib/bb:1")
	if _, err := store.Pull(context.Background(), ref, nil); err != nil {
		t.Fatal(err)
	}
	return store, ref
}

// An export the store refuses before the archive begins (an image whose layers were not
// kept, discard_unpacked_layers) reaches `crid image export` and `crid save` as the store's
// reason, not as an archive cut short.
func TestAdminExportRefusalSaysWhy(t *testing.T) {
	store, ref := storeWithDiscardedLayers(t)
	rec := httptest.NewRecorder()
	adminHandler(store).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/images/export?"+url.Values{"ref": {ref}}.Encode(), nil))
	if body := rec.Body.String(); rec.Code != http.StatusConflict || !strings.Contains(body, "was not kept after unpacking (discard_unpacked_layers)") {
		t.Fatalf("export: %d %q, want 409 saying the layer was not kept", rec.Code, body)
	}
}

// POST /images/tag (`crid tag` with a daemon) names the image, even one that cannot be
// exported, and answers an unknown source 404 and a target that is no tag 400, naming them.
func TestAdminTag(t *testing.T) {
	store, ref := storeWithDiscardedLayers(t)
	img, err := store.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, target string
		code           int
		body           string
	}{
		{ref, "mine:1", http.StatusOK, ""},
		{strings.TrimPrefix(img.ID, "sha256:")[:12], "example.com/team/bb:2", http.StatusOK, ""},
		{"no/such:image", "other:1", http.StatusNotFound, "no/such:image"},
		{ref, "Bad/Name:1", http.StatusBadRequest, "Bad/Name:1"},
	} {
		rec := httptest.NewRecorder()
		q := url.Values{"source": {tc.source}, "target": {tc.target}}
		adminHandler(store).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/images/tag?"+q.Encode(), nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("tag %s %s: %d %q, want %d naming %q", tc.source, tc.target, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
	for _, name := range []string{"docker.io/library/mine:1", "example.com/team/bb:2"} {
		if got, err := store.Resolve(name); err != nil || got.ID != img.ID {
			t.Errorf("%s: %v %v, want %s", name, got, err, img.ID)
		}
	}
	if got, err := store.Resolve("docker.io/library/other:1"); err == nil {
		t.Errorf("a refused tag named %s", got.ID)
	}
}
