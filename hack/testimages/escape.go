package testimages

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SnapshotEscape returns the image pair of a snapshot-path attack (crid issue 10, finding
// 1). first has one layer holding only the symlink "fs" -> dir (a host directory). second
// reuses that layer's blob, but its config names as the first diff ID
// "sha256:<first's diff ID>/fs", then busybox. A runtime that joins diff IDs into snapshot
// paths and trusts a path that exists finds <snapshots>/<D>/fs/fs, the symlink, skips the
// download and its checks, and stacks the host's dir under the second image's containers.
// A safe runtime refuses second; dir must stay unchanged and unread.
func SnapshotEscape(dir string) (first, second v1.Image, err error) {
	link, err := Layer([]File{{Name: "fs", Type: tar.TypeSymlink, Linkname: dir}}, Gzip)
	if err != nil {
		return nil, nil, err
	}
	if first, err = Image(runtime.GOARCH, v1.Config{Cmd: []string{"sh"}}, link); err != nil {
		return nil, nil, err
	}
	bb, err := Busybox()
	if err != nil {
		return nil, nil, err
	}
	bbLayers, err := bb.Layers()
	if err != nil {
		return nil, nil, err
	}
	linkDiff, _ := link.DiffID()
	bbDiff, err := bbLayers[0].DiffID()
	if err != nil {
		return nil, nil, err
	}
	cfg := v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: Epoch},
		Config:       v1.Config{Cmd: []string{"sh"}, Env: DefaultEnv},
		// v1.Hash marshals as Algorithm:Hex without checking Hex.
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{{Algorithm: "sha256", Hex: linkDiff.Hex + "/fs"}, bbDiff}},
	}
	second, err = rawImage(cfg, link, bbLayers[0])
	return first, second, err
}

// rawImage assembles an OCI image from a config taken as given (go-containerregistry's
// mutate would recompute the diff IDs) and layers, bottom first.
func rawImage(cfg v1.ConfigFile, layers ...v1.Layer) (v1.Image, error) {
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawCfg)), Digest: hashOf(rawCfg)},
	}
	core := &rawCore{config: rawCfg, layers: map[v1.Hash]v1.Layer{}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		size, err := l.Size()
		if err != nil {
			return nil, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: size, Digest: d})
		core.layers[d] = l
	}
	if core.manifest, err = json.Marshal(m); err != nil {
		return nil, err
	}
	return partial.CompressedToImage(core)
}

type rawCore struct {
	manifest, config []byte
	layers           map[v1.Hash]v1.Layer
}

func (c *rawCore) RawConfigFile() ([]byte, error)      { return c.config, nil }
func (c *rawCore) RawManifest() ([]byte, error)        { return c.manifest, nil }
func (c *rawCore) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *rawCore) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := c.layers[h]; ok {
		return l, nil
	}
	if h == hashOf(c.config) {
		return partial.ConfigLayer(c)
	}
	return nil, fmt.Errorf("no layer %s", h)
}
