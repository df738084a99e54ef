// Package testimages builds container images locally, never from the internet, for crid's
// tests, e2e suite, benchmarks and demo: busybox images from the host's Debian busybox,
// a large multi-layer image, multi-arch indexes, zstd, whiteout and malicious layers; and
// it serves them from an in-process registry on 127.0.0.1 (optionally behind Basic or
// Bearer-token auth) or writes them as docker-save / OCI-layout tars.
//
// Every builder is deterministic (fixed times, seeded data), so the same call yields the
// same digests in every process.
package testimages

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Epoch is the mtime of every entry and the creation time of every image built here.
var Epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one tar entry of a layer. Type is a tar type flag (tar.TypeReg when zero).
type File struct {
	Name     string
	Type     byte
	Mode     int64 // permission bits incl. setuid/setgid/sticky; 0644/0755 when zero
	Body     []byte
	Linkname string // symlink target or hard link target
	UID, GID int
	Xattrs   map[string]string
	Devmajor int64
	Devminor int64
}

// Compression of a layer blob.
type Compression int

// The compressions a test layer can have.
const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

// TarBytes serialises files as an uncompressed tar, in the given order.
func TarBytes(files []File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:     f.Name,
			Typeflag: f.Type,
			Mode:     f.Mode,
			Linkname: f.Linkname,
			Uid:      f.UID,
			Gid:      f.GID,
			ModTime:  Epoch,
			Devmajor: f.Devmajor,
			Devminor: f.Devminor,
			Format:   tar.FormatPAX,
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Body))
		}
		if len(f.Xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			keys := make([]string, 0, len(f.Xattrs))
			for k := range f.Xattrs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				h.PAXRecords["SCHILY.xattr."+k] = f.Xattrs[k]
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Layer builds a layer from files with the given compression (OCI media types).
func Layer(files []File, c Compression) (v1.Layer, error) {
	raw, err := TarBytes(files)
	if err != nil {
		return nil, err
	}
	return LayerFromTar(raw, c)
}

// LayerFromTar compresses an uncompressed tar into a layer.
func LayerFromTar(raw []byte, c Compression) (v1.Layer, error) {
	var blob []byte
	var mt types.MediaType
	switch c {
	case Gzip:
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if err != nil {
			return nil, err
		}
		_, _ = zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, err
		}
		blob, mt = buf.Bytes(), types.OCILayer
	case Zstd:
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		blob, mt = zw.EncodeAll(raw, nil), types.OCILayerZStd
		zw.Close()
	case Uncompressed:
		blob, mt = raw, types.OCIUncompressedLayer
	default:
		return nil, fmt.Errorf("unknown compression %d", c)
	}
	return &rawLayer{blob: blob, raw: raw, mt: mt, digest: hashOf(blob), diffID: hashOf(raw)}, nil
}

// rawLayer is a layer held in memory with both forms, so nothing is recompressed and
// digests are stable.
type rawLayer struct {
	blob, raw      []byte
	mt             types.MediaType
	digest, diffID v1.Hash
}

func (l *rawLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *rawLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *rawLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}
func (l *rawLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
func (l *rawLayer) Size() (int64, error)                { return int64(len(l.blob)), nil }
func (l *rawLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

func hashOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// Image assembles an OCI image from layers (bottom first) and a runtime config.
func Image(arch string, cfg v1.Config, layers ...v1.Layer) (v1.Image, error) {
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      v1.Time{Time: Epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		img, err = mutate.Append(img, mutate.Addendum{Layer: l, History: v1.History{Created: v1.Time{Time: Epoch}, CreatedBy: "crid testimages"}})
		if err != nil {
			return nil, err
		}
	}
	return img, nil
}

// AsDocker re-labels img with Docker schema 2 media types (manifest, config, gzip layers),
// to test the Docker manifest path. Layers must be gzip-compressed.
func AsDocker(img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	base := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	base = mutate.ConfigMediaType(base, types.DockerConfigJSON)
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs = nil
	cf.History = nil
	out, err := mutate.ConfigFile(base, cf)
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		rl, ok := l.(*rawLayer)
		if !ok {
			return nil, fmt.Errorf("AsDocker: layer not built by testimages")
		}
		dl := *rl
		dl.mt = types.DockerLayer
		if out, err = mutate.Append(out, mutate.Addendum{Layer: &dl, MediaType: types.DockerLayer}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
