package images

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/crid-dev/crid/errdefs"
)

// Export writes the images refs name as one docker-save compatible tar (manifest.json,
// config and layer blobs), which `docker load`, `ctr import` and Import read. A ref that is
// a tag or digest names the image by it; an image ID exports the image under all its tags.
func (s *Service) Export(ctx context.Context, w io.Writer, refs []string) error {
	if len(refs) == 0 {
		return fmt.Errorf("export: no images named: %w", errdefs.ErrInvalidArgument)
	}
	out := map[name.Reference]v1.Image{}
	s.mu.RLock()
	for _, ref := range refs {
		r, named, err := s.resolveLocked(ref)
		if err != nil {
			s.mu.RUnlock()
			return fmt.Errorf("export: %w", err)
		}
		if err := s.checkLayersKept(r); err != nil {
			s.mu.RUnlock()
			return fmt.Errorf("export %s: %w", ref, err)
		}
		img, err := partial.CompressedToImage(&localImage{s: s, rec: r.clone()})
		if err != nil {
			s.mu.RUnlock()
			return err
		}
		names := []string{named}
		if named == "" {
			names = r.RepoTags
			if len(names) == 0 {
				names = r.RepoDigests
			}
		}
		if len(names) == 0 {
			// Nameless: the tar still carries it, under a digest name that load ignores.
			names = []string{"localhost/crid-export@" + r.ManifestDigests[0]}
		}
		for _, n := range names {
			gn, err := name.ParseReference(n)
			if err != nil {
				s.mu.RUnlock()
				return fmt.Errorf("export %s: %v: %w", n, err, errdefs.ErrInvalidArgument)
			}
			out[gn] = img
		}
	}
	s.mu.RUnlock()
	// A removal racing the export fails it with a missing blob; nothing is corrupted.
	if err := tarball.MultiRefWrite(out, w); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return ctx.Err()
}

// checkLayersKept fails, before the archive is begun, for an image a layer blob of which
// was not stored (discard_unpacked_layers): the tar would stop half-written.
func (s *Service) checkLayersKept(r *record) error {
	for _, l := range r.Layers {
		if !s.hasBlob(l.Digest) {
			return fmt.Errorf("image %s: layer %s was not kept after unpacking (discard_unpacked_layers); pull the image again with discard_unpacked_layers = false to export it: %w", r.ID, l.Digest, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}

// localImage presents a stored image to go-containerregistry.
type localImage struct {
	s   *Service
	rec *record
}

func (l *localImage) RawConfigFile() ([]byte, error) { return l.s.readBlob(l.rec.ConfigDigest) }
func (l *localImage) RawManifest() ([]byte, error)   { return l.s.readBlob(l.rec.ManifestDigests[0]) }

func (l *localImage) MediaType() (types.MediaType, error) {
	raw, err := l.RawManifest()
	if err != nil {
		return "", err
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	if m.MediaType == "" {
		return types.OCIManifestSchema1, nil
	}
	return types.MediaType(m.MediaType), nil
}

func (l *localImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, lr := range l.rec.Layers {
		if lr.Digest == h.String() {
			return &localLayer{s: l.s, lr: lr}, nil
		}
	}
	return nil, fmt.Errorf("layer %s: %w", h, errdefs.ErrNotFound)
}

type localLayer struct {
	s  *Service
	lr layerRecord
}

func (l *localLayer) Digest() (v1.Hash, error)           { return v1.NewHash(l.lr.Digest) }
func (l *localLayer) Compressed() (io.ReadCloser, error) { return l.s.openBlob(l.lr.Digest) }
func (l *localLayer) Size() (int64, error)               { return l.lr.Size, nil }
func (l *localLayer) MediaType() (types.MediaType, error) {
	return types.MediaType(l.lr.MediaType), nil
}

// DiffID saves go-containerregistry decompressing the layer to compute what we know.
func (l *localLayer) DiffID() (v1.Hash, error) { return v1.NewHash(l.lr.DiffID) }
