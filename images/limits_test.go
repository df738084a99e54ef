package images

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

// max_layer_size bounds what one layer may put on the node: a layer over it fails the pull
// with ResourceExhausted, and nothing of it stays (no image, blob, snapshot, temp file).
func TestLayerOverMaxSizeFailsCleanly(t *testing.T) {
	requireRoot(t)
	for _, tt := range []struct {
		name  string
		img   func() (v1.Image, error)
		limit int64
		// fetched: whether the layer's blob may be downloaded at all before the refusal.
		fetched bool
	}{
		// 400 bytes of blob, a 512 MiB file: refused from the tar header alone.
		{"sparse file", func() (v1.Image, error) { return testimages.Sparse(512 << 20) }, 64 << 20, true},
		// 96 MiB of zeros in a ~100 KiB gzip blob.
		{"gzip bomb", func() (v1.Image, error) { return testimages.Zeros(96 << 20) }, 64 << 20, true},
		// A 2 MiB incompressible blob: refused from the manifest's size, never downloaded.
		{"big blob", func() (v1.Image, error) { return testimages.Large(1, 2<<20) }, 1 << 20, false},
	} {
		for _, discard := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/discard=%v", tt.name, discard), func(t *testing.T) {
				var c blobCounter
				reg := newRegistry(t, testimages.WithMiddleware(c.middleware))
				img := must[v1.Image](t)(tt.img())
				push(t, reg, "limit/img:1", img)
				e := newEnv(t, func(cfg *Config) { cfg.MaxLayerSize, cfg.DiscardUnpackedLayers = tt.limit, discard })
				_, err := e.svc.Pull(context.Background(), reg.Ref("limit/img:1"), nil)
				if !errors.Is(err, errdefs.ErrResourceExhausted) || !strings.Contains(err.Error(), "max_layer_size") {
					t.Fatalf("pull: %v, want ResourceExhausted naming max_layer_size", err)
				}
				assertClean(t, e)
				layers := must[[]v1.Layer](t)(img.Layers())
				d := must[v1.Hash](t)(layers[0].Digest())
				if !tt.fetched && c.get(d.String()) != 0 {
					t.Errorf("the oversized blob was downloaded %d times", c.get(d.String()))
				}
			})
		}
	}
}

// A sparse file within the limit unpacks with its full length, as holes: a few hundred
// bytes of blob never become hundreds of MiB of zeros on disk, and the daemon streams it.
func TestSparseFileUnpacksAsHoles(t *testing.T) {
	requireRoot(t)
	const size = 768 << 20
	reg := newRegistry(t)
	push(t, reg, "sparse/img:1", must[v1.Image](t)(testimages.Sparse(size)))
	e := newEnv(t, func(cfg *Config) { cfg.MaxLayerSize = 1 << 30 })
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	img := e.pull(t, reg.Ref("sparse/img:1"))
	runtime.ReadMemStats(&after)
	p := filepath.Join(e.svc.snapshotFS(img.ChainID), "sparse")
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != size {
		t.Fatalf("/sparse: %v %v, want %d bytes", fi, err, size)
	}
	if blocks := fi.Sys().(*syscall.Stat_t).Blocks; blocks*512 > 1<<20 {
		t.Errorf("/sparse takes %d bytes of disk, want holes", blocks*512)
	}
	// The pull allocates buffers, not the file: far below its 768 MiB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("pulling a %d-byte sparse file allocated %d bytes", size, alloc)
	}
}

// cappedReader lets exactly limit bytes through and fails past them.
func TestCappedReader(t *testing.T) {
	for n, wantErr := range map[int]bool{99: false, 100: false, 101: true} {
		c := &cappedReader{r: strings.NewReader(strings.Repeat("x", n)), left: 100, limit: 100}
		buf := make([]byte, 7)
		total, err := 0, error(nil)
		for err == nil {
			var m int
			m, err = c.Read(buf)
			total += m
		}
		if got := errors.Is(err, errdefs.ErrResourceExhausted); got != wantErr || total > 100 {
			t.Errorf("%d bytes: read %d, err %v; want error %v", n, total, err, wantErr)
		}
	}
}

// configCore is an image whose manifest declares a config of any size; reading the config
// itself fails the test.
type configCore struct {
	t        *testing.T
	manifest []byte
}

func (c *configCore) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *configCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *configCore) LayerByDigest(v1.Hash) (partial.CompressedLayer, error) {
	return nil, errors.New("no layers")
}
func (c *configCore) RawConfigFile() ([]byte, error) {
	c.t.Error("the config of an oversized manifest entry was read")
	return nil, errors.New("read")
}

// A manifest naming a config bigger than any real one is refused before the config is
// fetched: crid reads configs whole, so the daemon's memory would follow the claim.
func TestHugeConfigRefusedUnread(t *testing.T) {
	e := newEnv(t, nil)
	m, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: 4 << 30, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}}})
	if err != nil {
		t.Fatal(err)
	}
	img, err := partial.CompressedToImage(&configCore{t: t, manifest: m})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.ingest(context.Background(), img, source{})
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("ingest: %v, want ResourceExhausted", err)
	}
	assertClean(t, e)
}

// unknownSizeCore is an image whose manifest gives its config or its layer the size -1
// (go-containerregistry's "unknown", which reads a blob without bound); reading either
// blob fails the test.
type unknownSizeCore struct {
	configCore
	config []byte
}

func (c *unknownSizeCore) RawConfigFile() ([]byte, error) {
	if c.config == nil {
		return c.configCore.RawConfigFile() // fails the test
	}
	return c.config, nil
}
func (c *unknownSizeCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	return &unreadLayer{t: c.t, digest: h}, nil
}

type unreadLayer struct {
	t      *testing.T
	digest v1.Hash
}

func (l *unreadLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *unreadLayer) Size() (int64, error)                { return -1, nil }
func (l *unreadLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *unreadLayer) Compressed() (io.ReadCloser, error) {
	l.t.Error("the blob of a layer of unknown size was read")
	return nil, errors.New("read")
}

// A manifest giving its config or a layer the size -1 is refused before either is
// fetched: the registry client takes -1 for "unknown" and reads such a blob without a
// bound, into memory for the config (past the 8 MiB cap) and onto disk for a layer.
func TestUnknownBlobSizeRefusedUnread(t *testing.T) {
	hash := func(b byte) v1.Hash {
		return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(fmt.Sprintf("%02x", b), 32)}
	}
	layer := v1.Descriptor{MediaType: types.OCILayer, Size: -1, Digest: hash(0xcd)}
	config, err := json.Marshal(v1.ConfigFile{Architecture: "amd64", OS: "linux",
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{hash(0xef)}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		config v1.Descriptor
	}{
		{"config", v1.Descriptor{MediaType: types.OCIConfigJSON, Size: -1, Digest: hash(0xab)}},
		{"layer", v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(config)), Digest: v1.Hash{Algorithm: "sha256", Hex: sha256Digest(config)[len("sha256:"):]}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			m, err := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
				Config: tt.config, Layers: []v1.Descriptor{layer}})
			if err != nil {
				t.Fatal(err)
			}
			core := &unknownSizeCore{configCore: configCore{t: t, manifest: m}, config: config}
			if tt.config.Size < 0 {
				core.config = nil // the config of unknown size must not be read
			}
			img, err := partial.CompressedToImage(core)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.ingest(context.Background(), img, source{})
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ingest: %v, want InvalidArgument", err)
			}
			assertClean(t, e)
		})
	}
}
