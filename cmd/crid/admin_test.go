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

// An export the store refuses before the archive begins (an image whose layers were not
// kept, discard_unpacked_layers) reaches `crid image export` and `crid save` as the store's
// reason, not as an archive cut short.
func TestAdminExportRefusalSaysWhy(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root (unpacking a layer)")
	}
	reg, err := testimages.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	bb, err := testimages.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Push("lib/bb:1", bb); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	store, err := images.Open(images.Config{Root: filepath.Join(dir, "images"), ContainersDir: filepath.Join(dir, "containers"), DiscardUnpackedLayers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Pull(context.Background(), reg.Ref("lib/bb:1"), nil); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	adminHandler(store).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/images/export?"+url.Values{"ref": {reg.Ref("lib/bb:1")}}.Encode(), nil))
	if body := rec.Body.String(); rec.Code != http.StatusConflict || !strings.Contains(body, "was not kept after unpacking (discard_unpacked_layers)") {
		t.Fatalf("export: %d %q, want 409 saying the layer was not kept", rec.Code, body)
	}
}
