package testimages

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteDockerSave writes images as one `docker save` tar (manifest.json with RepoTags),
// e.g. {"docker.io/library/busybox:latest": img}.
func WriteDockerSave(path string, tags map[string]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for t, img := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	if err := tarball.MultiRefWriteToFile(path, refs); err != nil {
		return fmt.Errorf("testimages: %w", err)
	}
	return nil
}

// WriteOCILayout writes images as a tar of an OCI image layout; each image is named in
// index.json by the "org.opencontainers.image.ref.name" and "io.containerd.image.name"
// annotations (the full reference), as `ctr export` does.
func WriteOCILayout(path string, tags map[string]v1.Image) error {
	dir, err := os.MkdirTemp("", "testimages-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for t, img := range tags {
		ann := map[string]string{"org.opencontainers.image.ref.name": t, "io.containerd.image.name": t}
		if err := p.AppendImage(img, layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("testimages: %w", err)
		}
	}
	return tarDir(dir, path)
}

func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			src, err := os.Open(p) //nolint:gosec // G122: a host directory of packaged files the test chose
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(tw, src); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
