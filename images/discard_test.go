package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/klauspost/compress/gzip"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

func discardLayers(c *Config) { c.DiscardUnpackedLayers = true }

// layerDigests lists img's compressed layer digests.
func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	var out []string
	for _, l := range must[[]v1.Layer](t)(img.Layers()) {
		out = append(out, must[v1.Hash](t)(l.Digest()).String())
	}
	return out
}

// With discard_unpacked_layers a pull stores the manifest and config but no layer blob, the
// image runs from its snapshots, survives Open and GC, and a second pull fetches nothing.
// It cannot be exported (refused before a byte is written) until a pull with the setting off
// brings its blobs back.
func TestDiscardUnpackedLayers(t *testing.T) {
	requireRoot(t)
	var c blobCounter
	reg := newRegistry(t, testimages.WithMiddleware(c.middleware))
	src := must[v1.Image](t)(testimages.Variant("discard"))
	push(t, reg, "discard/img:1", src)
	push(t, reg, "discard/img:2", src)
	ref := reg.Ref("discard/img:1")
	e := newEnv(t, discardLayers)
	img := e.pull(t, ref)

	layers := layerDigests(t, src)
	stored := entries(t, e.svc.blobDir())
	for _, d := range layers {
		if slices.Contains(stored, strings.TrimPrefix(d, "sha256:")) {
			t.Errorf("layer blob %s stored", d)
		}
	}
	if len(stored) != 2 {
		t.Errorf("blobs %v, want the manifest and the config only", stored)
	}
	if got := entries(t, e.svc.ingestDir()); len(got) != 0 {
		t.Errorf("ingest leftovers: %v", got)
	}
	if hasTmpSnapshot(t, e.svc.snapshotsDir()) {
		t.Error("temp snapshot left")
	}
	for _, f := range []string{"bin/busybox", "variant"} {
		found := false
		for _, chain := range must[[]string](t)(chainIDsOf(src)) {
			if _, err := os.Lstat(filepath.Join(e.svc.snapshotFS(chain), f)); err == nil {
				found = true
			}
		}
		if !found {
			t.Errorf("/%s in no snapshot", f)
		}
	}

	// Present as it is: neither a pull of the same tag nor of another tag of it fetches a blob.
	c.reset()
	for _, r := range []string{ref, reg.Ref("discard/img:2")} {
		if again := e.pull(t, r); again.ID != img.ID {
			t.Errorf("pull %s: %s, want %s", r, again.ID, img.ID)
		}
	}
	c.mu.Lock()
	if len(c.n) != 0 {
		t.Errorf("pull of a present image fetched blobs: %v", c.n)
	}
	c.mu.Unlock()

	// Open (dropUnrunnable, gc) and a collection keep it whole.
	e.reopen(t)
	if err := e.svc.gc(); err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.Resolve(ref); err != nil || got.ID != img.ID {
		t.Fatalf("after reopen and gc: %v %v", got, err)
	}
	for _, chain := range must[[]string](t)(chainIDsOf(src)) {
		if !e.svc.hasSnapshot(chain) {
			t.Errorf("snapshot %s collected", chain)
		}
	}
	rootfs, err := e.svc.PrepareRootfs(context.Background(), "c1", img.ID)
	if err != nil || len(rootfs.LowerDirs) != len(layers) {
		t.Fatalf("rootfs: %+v %v", rootfs, err)
	}
	if err := e.svc.RemoveRootfs(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}

	// Export is refused up front, naming the image, the layer and the way out.
	var out bytes.Buffer
	err = e.svc.Export(context.Background(), &out, []string{ref})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !containsAll(err.Error(), []string{ref, img.ID, layers[0], "was not kept after unpacking (discard_unpacked_layers)", "discard_unpacked_layers = false"}) {
		t.Fatalf("export: %v, want FailedPrecondition naming the image and the layer", err)
	}
	t.Logf("export: %v", err)
	if out.Len() != 0 {
		t.Errorf("refused export wrote %d bytes", out.Len())
	}

	// With the setting off, a pull fetches the layer blobs again and export works.
	e.cfg.DiscardUnpackedLayers = false
	e.reopen(t)
	c.reset()
	e.pull(t, ref)
	for _, d := range layers {
		if !e.svc.hasBlob(d) || c.get(d) != 1 {
			t.Errorf("layer %s: stored %v, fetched %d times; want stored, fetched once", d, e.svc.hasBlob(d), c.get(d))
		}
	}
	if err := e.svc.Export(context.Background(), &out, []string{ref}); err != nil {
		t.Fatalf("export after a pull that kept the blobs: %v", err)
	}
	imported, err := newEnv(t, nil).svc.Import(context.Background(), &out)
	if err != nil || len(imported) != 1 || imported[0].ID != img.ID {
		t.Fatalf("re-import of the export: %v %v", imported, err)
	}
}

// Turned on for a store whose images kept their layer blobs, discard_unpacked_layers frees
// them at Open: manifest and config stay, the image resolves, runs, is present to a pull
// (nothing fetched) and is no longer exported. With the setting off nothing is freed.
func TestDiscardFreesStoredLayerBlobs(t *testing.T) {
	requireRoot(t)
	p := pullKeepingBlobs(t, "discard-gc")
	e, c, ref, img := p.env, p.fetches, p.ref, p.img
	layers := layerDigests(t, p.src)
	kept := entries(t, e.svc.blobDir())
	if len(kept) != 2+len(layers) {
		t.Fatalf("blobs %v, want manifest, config and %d layers", kept, len(layers))
	}

	// Off: neither a collection nor Open frees a blob.
	if err := e.svc.gc(); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	if got := entries(t, e.svc.blobDir()); !slices.Equal(got, kept) {
		t.Fatalf("blobs with the setting off %v, want %v", got, kept)
	}

	e.cfg.DiscardUnpackedLayers = true
	e.reopen(t)
	want := []string{strings.TrimPrefix(img.ID, "sha256:"), strings.TrimPrefix(p.manifest, "sha256:")}
	slices.Sort(want)
	if got := entries(t, e.svc.blobDir()); !slices.Equal(got, want) {
		t.Fatalf("blobs after Open with the setting on %v, want the manifest and config %v", got, want)
	}
	if got, err := e.svc.Resolve(ref); err != nil || got.ID != img.ID {
		t.Fatalf("resolve: %v %v", got, err)
	}
	rootfs, err := e.svc.PrepareRootfs(context.Background(), "c1", img.ID)
	if err != nil || len(rootfs.LowerDirs) != len(layers) {
		t.Fatalf("rootfs: %+v %v", rootfs, err)
	}
	if err := e.svc.RemoveRootfs(context.Background(), "c1"); err != nil {
		t.Fatal(err)
	}
	c.reset()
	e.pull(t, ref)
	c.mu.Lock()
	if len(c.n) != 0 {
		t.Errorf("pull of the image fetched blobs: %v", c.n)
	}
	c.mu.Unlock()
	var out bytes.Buffer
	if err := e.svc.Export(context.Background(), &out, []string{ref}); !errors.Is(err, errdefs.ErrFailedPrecondition) || out.Len() != 0 {
		t.Fatalf("export: %v (%d bytes), want FailedPrecondition before any byte", err, out.Len())
	}
}

// With discard_unpacked_layers a layer blob stays while its layer's snapshot is missing (a
// pull unpacks it from the blob, fetching nothing, and GC during that pull keeps it), and
// while a pull holds it; once the snapshot is back and nothing holds it, GC frees it.
func TestDiscardKeepsBlobNotUnpacked(t *testing.T) {
	requireRoot(t)
	p := pullKeepingBlobs(t, "discard-missing")
	e, c, ref := p.env, p.fetches, p.ref
	layers := layerDigests(t, p.src)
	chains := must[[]string](t)(chainIDsOf(p.src))
	top, base := layers[len(layers)-1], layers[0]

	// Turned on in place: Open would forget the image whose snapshot is gone.
	if err := os.RemoveAll(e.svc.snapshotDir(chains[len(chains)-1])); err != nil {
		t.Fatal(err)
	}
	e.svc.cfg.DiscardUnpackedLayers = true
	if err := e.svc.gc(); err != nil {
		t.Fatal(err)
	}
	if !e.svc.hasBlob(top) || e.svc.hasBlob(base) {
		t.Fatalf("after gc: top layer blob stored %v (snapshot missing: want kept), base %v (unpacked: want freed)", e.svc.hasBlob(top), e.svc.hasBlob(base))
	}

	streamed := false
	e.svc.layerStreamed = func(d string) {
		if d != top {
			return
		}
		streamed = true
		if err := e.svc.gc(); err != nil {
			t.Error(err)
		}
		if !e.svc.hasBlob(top) {
			t.Error("gc during the pull freed the blob it unpacks from")
		}
	}
	c.reset()
	e.pull(t, ref)
	e.svc.layerStreamed = nil
	if !streamed || !e.svc.hasSnapshot(chains[len(chains)-1]) {
		t.Fatalf("snapshot not unpacked again (layer streamed: %v)", streamed)
	}
	if n := c.get(top); n != 0 {
		t.Errorf("top layer fetched %d times, want unpacked from its stored blob", n)
	}

	s := e.svc
	held := []string{blobKey(top)}
	s.hold(held)
	if err := s.gc(); err != nil {
		t.Fatal(err)
	}
	if !s.hasBlob(top) {
		t.Fatal("gc freed a held blob")
	}
	s.release(held)
	if err := s.gc(); err != nil {
		t.Fatal(err)
	}
	if s.hasBlob(top) {
		t.Fatal("blob of an unpacked layer kept once nothing holds it")
	}
}

// pulledVariant is a variant image pulled, layer blobs kept, from a registry counting
// blob fetches.
type pulledVariant struct {
	env      *testEnv
	fetches  *blobCounter
	src      v1.Image
	ref      string
	manifest string // digest
	img      *Image
}

func pullKeepingBlobs(t *testing.T, label string) *pulledVariant {
	t.Helper()
	p := &pulledVariant{fetches: &blobCounter{}, src: must[v1.Image](t)(testimages.Variant(label))}
	reg := newRegistry(t, testimages.WithMiddleware(p.fetches.middleware))
	p.manifest = push(t, reg, label+"/img:1", p.src)
	p.ref = reg.Ref(label + "/img:1")
	p.env = newEnv(t, nil)
	p.img = p.env.pull(t, p.ref)
	return p
}

// An import verifies a layer it does not keep as the content store would have: an archive
// whose layer blob is not what its manifest names is refused and leaves nothing, even when
// the blob unpacks to the right diff ID. The archive's blobs are read as they are: nothing
// but crid checks them.
func TestImportCorruptLayerFailsCleanly(t *testing.T) {
	requireRoot(t)
	src := must[v1.Image](t)(testimages.Busybox())
	ld := layerDigests(t, src)[0]
	good := must[[]byte](t)(readAll(must[[]v1.Layer](t)(src.Layers())[0]))
	dir := t.TempDir()
	layoutTar := filepath.Join(dir, "oci.tar")
	if err := testimages.WriteOCILayout(layoutTar, map[string]v1.Image{"example.com/bad/img:1": src}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body []byte
		want []string // in the error
	}{
		// Unpacks to the right diff ID: only the digest tells.
		{"same size, other digest", flipGzipOS(good), []string{ld, "content has digest"}},
		// Read one byte past the manifest's size, which cuts the next gzip member short.
		{"longer", withEmptyGzipMember(t, good), []string{ld}},
	} {
		for _, discard := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/discard=%v", tc.name, discard), func(t *testing.T) {
				bad := filepath.Join(t.TempDir(), "bad.tar")
				replaceInTar(t, layoutTar, bad, "blobs/sha256/"+strings.TrimPrefix(ld, "sha256:"), tc.body)
				e := newEnv(t, func(c *Config) { c.DiscardUnpackedLayers = discard })
				f := must[*os.File](t)(os.Open(bad))
				defer f.Close()
				_, err := e.svc.Import(context.Background(), f)
				if !errors.Is(err, errdefs.ErrFailedPrecondition) || !containsAll(err.Error(), tc.want) {
					t.Fatalf("import: %v, want FailedPrecondition naming %q", err, tc.want)
				}
				assertClean(t, e)
			})
		}
	}
}

// A source that verifies its own digest (a registry's) but sends more than the manifest's
// size fails a layer that is not kept, leaving nothing: the stream stops one byte past the
// size, which fails the layer (in the decompressor, or else at the size check).
func TestDiscardedLayerOverrunFailsCleanly(t *testing.T) {
	requireRoot(t)
	src := must[v1.Image](t)(testimages.Busybox())
	l := must[[]v1.Layer](t)(src.Layers())[0]
	good := must[[]byte](t)(readAll(l))
	img := &servedImage{Image: src, layer: servedLayer{Layer: l, body: withEmptyGzipMember(t, good)}}
	e := newEnv(t, discardLayers)
	_, err := e.svc.ingest(context.Background(), img, source{layersVerified: true})
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), layerDigests(t, src)[0]) {
		t.Fatalf("ingest: %v, want FailedPrecondition naming the layer", err)
	}
	assertClean(t, e)
}

// contentSum checks the digest when it hashes, and the size when it is known.
func TestContentSum(t *testing.T) {
	data := []byte("layer bytes")
	d := sha256Digest(data)
	for _, tc := range []struct {
		name           string
		sourceVerifies bool
		digest         string
		size           int64
		want           string // in the error; "" for none
	}{
		{"match", false, d, int64(len(data)), ""},
		{"unknown size", false, d, -1, ""},
		{"other digest", false, sha256Digest([]byte("x")), int64(len(data)), "content has digest " + d},
		{"short", false, d, int64(len(data)) + 1, fmt.Sprintf("size %d, manifest says %d", len(data), len(data)+1)},
		{"verified source, size only", true, sha256Digest([]byte("x")), int64(len(data)), ""},
		{"verified source, long", true, d, int64(len(data)) - 1, fmt.Sprintf("size %d, manifest says %d", len(data), len(data)-1)},
	} {
		c := newContentSum(tc.sourceVerifies)
		_, _ = io.Copy(c, bytes.NewReader(data))
		err := c.check(tc.digest, tc.size)
		if tc.want == "" && err != nil || tc.want != "" && (!errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A layer whose content is not what the config's diff ID says fails, kept or not.
func TestDiscardedLayerDiffIDChecked(t *testing.T) {
	requireRoot(t)
	src := must[v1.Image](t)(testimages.Busybox())
	cf := must[*v1.ConfigFile](t)(src.ConfigFile()).DeepCopy()
	cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	bad := must[v1.Image](t)(mutate.ConfigFile(src, cf))
	reg := newRegistry(t)
	push(t, reg, "bad/diffid:1", bad)
	e := newEnv(t, discardLayers)
	_, err := e.svc.Pull(context.Background(), reg.Ref("bad/diffid:1"), nil)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), "config says "+cf.RootFS.DiffIDs[0].String()) {
		t.Fatalf("pull: %v, want FailedPrecondition naming the config's diff ID", err)
	}
	assertClean(t, e)
}

// servedImage is an image one layer of which serves other bytes than its digest names,
// unchecked.
type servedImage struct {
	v1.Image
	layer servedLayer
}

func (i *servedImage) Layers() ([]v1.Layer, error) { return []v1.Layer{i.layer}, nil }

type servedLayer struct {
	v1.Layer
	body []byte
}

func (l servedLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.body)), nil
}

// flipGzipOS changes a gzip stream's header OS byte: another digest, the same content.
func flipGzipOS(gz []byte) []byte {
	b := bytes.Clone(gz)
	b[9] ^= 0xff
	return b
}

// withEmptyGzipMember appends an empty gzip member: more bytes, the same content.
func withEmptyGzipMember(t *testing.T, gz []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.Write(gz)
	zw := gzip.NewWriter(&buf)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// replaceInTar copies the tar src to dst with the body of the entry name replaced.
func replaceInTar(t *testing.T, src, dst, name string, body []byte) {
	t.Helper()
	in := must[*os.File](t)(os.Open(src))
	defer in.Close()
	out := must[*os.File](t)(os.Create(dst))
	defer out.Close()
	tr, tw := tar.NewReader(in), tar.NewWriter(out)
	replaced := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data := must[[]byte](t)(io.ReadAll(tr))
		if h.Name == name {
			data, replaced = body, true
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if !replaced {
		t.Fatalf("%s: no entry %s", src, name)
	}
}
