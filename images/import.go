package images

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/crid-dev/crid/errdefs"
)

// Import reads a docker-save tar (manifest.json) or an OCI image-layout tar (index.json)
// and stores every image in it, named by the tar's tags (docker-save RepoTags; OCI
// "io.containerd.image.name" or a full "org.opencontainers.image.ref.name" annotation).
// The tar is spooled to Root/tmp first because both formats need random access.
func (s *Service) Import(ctx context.Context, r io.Reader) ([]*Image, error) {
	spool, err := os.CreateTemp(s.tmpDir(), "import-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	if _, err := io.Copy(spool, r); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	hasManifest, hasIndex, err := tarKind(spool.Name())
	if err != nil {
		return nil, err
	}
	var ids []string
	switch {
	case hasManifest:
		ids, err = s.importDockerSave(ctx, spool.Name())
	case hasIndex:
		ids, err = s.importOCILayout(ctx, spool.Name())
	default:
		return nil, fmt.Errorf("import: neither manifest.json (docker save) nor index.json (OCI layout) in the tar: %w", errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	out := make([]*Image, 0, len(ids))
	for _, id := range ids {
		img, err := s.Resolve(id)
		if err != nil {
			return nil, err
		}
		out = append(out, img)
	}
	return out, nil
}

func tarKind(p string) (manifest, index bool, err error) {
	f, err := os.Open(p)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return manifest, index, nil
		}
		if err != nil {
			return false, false, fmt.Errorf("import: not a tar: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		switch cleanRel(h.Name) {
		case "manifest.json":
			manifest = true
		case "index.json":
			index = true
		}
	}
}

func (s *Service) importDockerSave(ctx context.Context, p string) ([]string, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(p) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var ids []string
	for _, d := range m {
		var tag *name.Tag
		var tags []string
		for _, t := range d.RepoTags {
			n, err := NormalizeRef(t)
			if err != nil {
				return nil, err
			}
			tags = append(tags, n)
			if tag == nil {
				gt, err := name.NewTag(t)
				if err != nil {
					return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
				}
				tag = &gt
			}
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		id, err := s.ingest(ctx, img, source{tags: tags})
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Service) importOCILayout(ctx context.Context, p string) ([]string, error) {
	dir, err := os.MkdirTemp(s.tmpDir(), "layout-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := extractPlain(p, dir); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, desc := range im.Manifests {
		var tags []string
		for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
			if v := desc.Annotations[k]; strings.Contains(v, "/") || strings.Contains(v, ":") {
				if n, err := NormalizeRef(v); err == nil {
					tags = []string{n}
					break
				}
			}
		}
		var img v1.Image
		switch {
		case desc.MediaType.IsIndex():
			child, err := idx.ImageIndex(desc.Digest)
			if err != nil {
				return nil, err
			}
			if img, err = pickPlatform(child); err != nil {
				return nil, err
			}
		case desc.MediaType.IsImage():
			if img, err = idx.Image(desc.Digest); err != nil {
				return nil, err
			}
		default:
			continue
		}
		id, err := s.ingest(ctx, img, source{tags: tags})
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func pickPlatform(idx v1.ImageIndex) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform == nil || d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for linux/%s: %w", runtime.GOARCH, errdefs.ErrNotFound)
}

// extractPlain unpacks only directories and regular files, with names cleaned to stay in
// dir: an OCI layout needs nothing else, so links cannot be used to escape.
func extractPlain(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := cleanRel(h.Name)
		if rel == "" {
			continue
		}
		dst := filepath.Join(dir, rel)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg: // the reader reports the old TypeRegA as TypeReg
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr) //nolint:gosec // G110: an archive the admin imports; its layers are checked against their digests after
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
