package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
	"github.com/crid-dev/crid/internal/testenv"
)

// fuzzLimit bounds what one fuzzed layer may unpack to (holes aside).
const fuzzLimit = 1 << 20

// sandboxDir is a temp dir holding root (where the code under test writes) next to
// outside/sentinel, which nothing may reach.
type sandboxDir struct{ parent, root, sentinel string }

func newSandboxDir(t testing.TB) sandboxDir {
	t.Helper()
	parent := t.TempDir()
	s := sandboxDir{parent: parent, root: filepath.Join(parent, "root"), sentinel: filepath.Join(parent, "outside", "sentinel")}
	for _, d := range []string{s.root, filepath.Dir(s.sentinel)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.sentinel, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// check fails unless outside/ still holds only the unchanged sentinel and nothing
// appeared next to root.
func (s sandboxDir) check(t testing.TB) {
	t.Helper()
	if got := entries(t, s.parent); !slices.Equal(got, []string{"outside", "root"}) {
		t.Fatalf("entries next to the root: %v", got)
	}
	if got := entries(t, filepath.Dir(s.sentinel)); !slices.Equal(got, []string{"sentinel"}) {
		t.Fatalf("entries next to the sentinel: %v", got)
	}
	var st syscall.Stat_t
	b, err := os.ReadFile(s.sentinel)
	if err != nil || string(b) != "original\n" || syscall.Lstat(s.sentinel, &st) != nil || st.Nlink != 1 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Fatalf("sentinel changed: %q %v nlink %d mode %o", b, err, st.Nlink, st.Mode)
	}
}

func tarOf(t testing.TB, files []testimages.File) []byte {
	t.Helper()
	b, err := testimages.TarBytes(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func blobOf(t testing.TB, raw []byte, c testimages.Compression) []byte {
	t.Helper()
	l, err := testimages.LayerFromTar(raw, c)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// FuzzUnpackLayer: any layer blob (tar, gzip or zstd) unpacks inside its directory or
// fails, never panics, and never writes, links or changes anything outside it.
func FuzzUnpackLayer(f *testing.F) {
	up := "../../../../../../"
	seeds := [][]testimages.File{
		{{Name: "etc/", Type: tar.TypeDir}, {Name: "etc/passwd", Body: []byte("root:x:0:0::/root:/bin/sh\n")}, {Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"}},
		{{Name: "../outside/sentinel", Body: []byte("pwned\n")}, {Name: up + "outside/x", Body: []byte("pwned\n")}},
		{{Name: "evil", Type: tar.TypeSymlink, Linkname: "../outside"}, {Name: "evil/sentinel", Body: []byte("pwned\n")}, {Name: "evil/new", Body: []byte("pwned\n")}},
		{{Name: "sub/", Type: tar.TypeDir}, {Name: "sub/evil", Type: tar.TypeSymlink, Linkname: up + "outside"}, {Name: "sub/evil/sentinel", Type: tar.TypeLink, Linkname: "sub/evil/sentinel"}},
		{{Name: "hl", Type: tar.TypeLink, Linkname: "../outside/sentinel"}, {Name: "hl", Body: []byte("pwned\n")}},
		{{Name: "a/", Type: tar.TypeDir}, {Name: "a/.wh.gone"}, {Name: "a/.wh..wh..opq"}, {Name: "dev/null", Type: tar.TypeChar, Devmajor: 1, Devminor: 3}, {Name: "fifo", Type: tar.TypeFifo}},
		{{Name: "x", Body: []byte("data"), Mode: 0o4755, UID: 1000, GID: 1000, Xattrs: map[string]string{"user.k": "v", "security.capability": "\x01\x00\x00\x02"}}},
		{{Name: "d", Type: tar.TypeDir}, {Name: "d", Body: []byte("file over dir")}, {Name: "d/", Type: tar.TypeDir}},
	}
	for _, files := range seeds {
		raw := tarOf(f, files)
		f.Add(raw)
		f.Add(blobOf(f, raw, testimages.Gzip))
		f.Add(blobOf(f, raw, testimages.Zstd))
	}
	f.Add([]byte{0x1f, 0x8b})             // a gzip header and nothing
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd}) // a zstd magic and nothing
	f.Fuzz(func(t *testing.T, blob []byte) {
		s := newSandboxDir(t)
		_ = unpackStream(bytes.NewReader(blob), s.root, layerRecord{DiffID: "sha256:" + strings.Repeat("0", 64)}, fuzzLimit)
		s.check(t)
	})
}

// fuzzCore is an image made of fuzzed manifest and config bytes; layer blobs come from a
// fixed set, found by digest.
type fuzzCore struct {
	manifest, config []byte
	layers           map[v1.Hash]v1.Layer
}

func (c *fuzzCore) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *fuzzCore) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *fuzzCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *fuzzCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("no blob %s", h)
}

// fuzzStore is one image store per fuzzing process (opening bbolt per input would
// dominate the run); checkStore verifies and then empties it after each input.
func fuzzStore(f *testing.F) (*Service, sandboxDir) {
	s := newSandboxDir(f)
	svc, err := Open(Config{Root: filepath.Join(s.root, "images"), ContainersDir: filepath.Join(s.root, "containers"), MaxLayerSize: fuzzLimit})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	return svc, s
}

// checkStore: every stored image names only valid digests and real snapshots; then
// everything is removed so inputs stay independent.
func checkStore(t *testing.T, svc *Service, s sandboxDir) {
	t.Helper()
	for _, img := range svc.List() {
		svc.mu.RLock()
		rec := svc.images[img.ID].clone()
		svc.mu.RUnlock()
		if err := rec.checkDigests(); err != nil {
			t.Fatalf("stored image %s: %v", img.ID, err)
		}
		for _, c := range rec.ChainIDs {
			if !svc.hasSnapshot(c) {
				t.Fatalf("stored image %s: snapshot %s missing", img.ID, c)
			}
		}
		if err := svc.Remove(context.Background(), img.ID); err != nil {
			t.Fatal(err)
		}
	}
	s.check(t)
}

// FuzzIngestManifestConfig: an image manifest and config as a registry would serve them.
// Ingestion stores a valid image or fails; it never panics and nothing it stores names
// an invalid digest or a path outside the store.
func FuzzIngestManifestConfig(f *testing.F) {
	layer, err := testimages.Layer([]testimages.File{{Name: "f", Body: []byte("x\n")}, {Name: "l", Type: tar.TypeSymlink, Linkname: "../../.."}}, testimages.Gzip)
	if err != nil {
		f.Fatal(err)
	}
	good, err := testimages.Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, layer)
	if err != nil {
		f.Fatal(err)
	}
	_, escape, err := testimages.SnapshotEscape("/etc")
	if err != nil {
		f.Fatal(err)
	}
	for _, img := range []v1.Image{good, escape} {
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		f.Add(m, c)
	}
	digest, _ := layer.Digest()
	layers := map[v1.Hash]v1.Layer{digest: layer}
	svc, s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		img, err := partial.CompressedToImage(&fuzzCore{manifest: manifest, config: config, layers: layers})
		if err != nil {
			return
		}
		_, _ = svc.ingest(context.Background(), img, source{tags: []string{"docker.io/library/fuzz:1"}})
		checkStore(t, svc, s)
	})
}

// FuzzImport: any tar given to `crid image import` (docker save or OCI layout: index,
// manifests, configs, layers) is imported as valid images or refused, never panics and
// never writes outside the store.
func FuzzImport(f *testing.F) {
	if !testenv.Privileged() {
		f.Skip("needs root (layer ownership)")
	}
	layer, err := testimages.Layer([]testimages.File{{Name: "f", Body: []byte("x\n")}}, testimages.Gzip)
	if err != nil {
		f.Fatal(err)
	}
	small, err := testimages.Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, layer)
	if err != nil {
		f.Fatal(err)
	}
	_, escape, err := testimages.SnapshotEscape("/etc")
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	for i, w := range []func(string, map[string]v1.Image) error{testimages.WriteDockerSave, testimages.WriteOCILayout} {
		for j, img := range []v1.Image{small, escape} {
			p := filepath.Join(dir, fmt.Sprintf("seed-%d-%d.tar", i, j))
			if err := w(p, map[string]v1.Image{"docker.io/library/seed:1": img}); err != nil {
				f.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	svc, s := fuzzStore(f)
	f.Fuzz(func(t *testing.T, archive []byte) {
		_, _ = svc.Import(context.Background(), bytes.NewReader(archive))
		checkStore(t, svc, s)
	})
}

// FuzzHostsToml: a hosts.toml parses into http(s) endpoints with a host, or is refused;
// it never panics, and relative ca/client paths stay under the registry's own dir.
func FuzzHostsToml(f *testing.F) {
	for _, s := range []string{
		"server = \"https://registry-1.docker.io\"\n[host.\"http://127.0.0.1:5000/v2/docker.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n  override_path = true\n",
		"server = \"https://upstream.example.com\"\ncapabilities = [\"pull\", \"resolve\"]\n[host.\"http://mirror-b:5000\"]\n  capabilities = [\"pull\"]\n[host.\"https://mirror-a/prefix\"]\n  skip_verify = true\n  ca = [\"ca.crt\", \"/abs/ca.pem\"]\n  client = [[\"c.cert\", \"c.key\"]]\n  [host.\"https://mirror-a/prefix\".header]\n    x-custom = [\"a\", \"b\"]\n",
		"[host.\"a\"]\n[host.\"a\"]\n", "[host.'x']]]\n", "server = \"ftp://x\"\n", "ca = \"../../../etc/shadow\"\n",
	} {
		f.Add([]byte(s))
	}
	const dir = "/etc/crid/certs.d/registry.example"
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := parseHostsFile("registry.example", dir, data)
		if err != nil {
			return
		}
		if len(eps) == 0 {
			t.Fatal("no endpoint and no error")
		}
		for _, e := range eps {
			if (e.URL.Scheme != "http" && e.URL.Scheme != "https") || e.URL.Host == "" {
				t.Fatalf("endpoint %v", e.URL)
			}
			for _, p := range append(slices.Clone(e.CAs), clientPaths(e)...) {
				if !filepath.IsAbs(p) {
					t.Fatalf("relative path %q left relative", p)
				}
			}
		}
	})
}

func clientPaths(e *endpoint) []string {
	var out []string
	for _, c := range e.ClientCerts {
		out = append(out, c[0], c[1])
	}
	return out
}

// FuzzNormalizeRef: an image reference from a CRI request normalises to a reference that
// normalises to itself, or is InvalidArgument; it never panics.
func FuzzNormalizeRef(f *testing.F) {
	for _, s := range []string{"busybox", "docker.io/library/busybox:latest", "127.0.0.1:5000/a/b@sha256:" + strings.Repeat("ab", 32),
		"localhost/x:y", "UPPER/case", "sha256:78", "a:b:c", "registry.k8s.io/pause:3.10", "x@sha256:../../etc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		n, err := NormalizeRef(ref)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("%q: error of the wrong kind: %v", ref, err)
			}
			return
		}
		again, err := NormalizeRef(n)
		if err != nil || again != n {
			t.Fatalf("%q normalises to %q, which normalises to %q, %v", ref, n, again, err)
		}
		if r, err := parseRef(n); err == nil && r.Digest != "" {
			if err := checkDigest("digest", r.Digest); err != nil {
				t.Fatalf("%q: accepted digest %q: %v", ref, r.Digest, err)
			}
		}
	})
}
