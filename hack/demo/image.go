package main

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// buildImageTar writes a docker-save tar of the busybox image (built from the host's
// Debian busybox by hack/testimages, nothing downloaded) tagged ref.
func buildImageTar(path, ref string) error {
	img, err := testimages.Busybox()
	if err != nil {
		return err
	}
	return testimages.WriteDockerSave(path, map[string]v1.Image{ref: img})
}
