package images

import (
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/crid-dev/crid/errdefs"
)

// checkDigest refuses anything but "sha256:<64 lowercase hex>". Digests from a registry
// or an imported tar name blobs and snapshot directories: one carrying "/" or ".." would
// address a path of the attacker's choosing (an image config whose first diff ID was
// "sha256:<an earlier layer's diff ID>/fs" stacked a host directory, reached through a
// symlink in that earlier layer, under its containers). The content store and chain IDs
// are sha256 only, so other algorithms are refused too.
func checkDigest(what, d string) error {
	if err := digest.Digest(d).Validate(); err != nil {
		return fmt.Errorf("%s %q: %v: %w", what, d, err, errdefs.ErrInvalidArgument)
	}
	if digest.Digest(d).Algorithm() != digest.SHA256 {
		return fmt.Errorf("%s %q: only sha256 digests are supported: %w", what, d, errdefs.ErrInvalidArgument)
	}
	return nil
}

// checkDigests checks every digest a record names: config, manifests, layers, diff IDs
// and chain IDs.
func (r *record) checkDigests() error {
	if err := checkDigest("image config digest", r.ConfigDigest); err != nil {
		return err
	}
	for _, d := range r.ManifestDigests {
		if err := checkDigest("manifest digest", d); err != nil {
			return err
		}
	}
	for i, l := range r.Layers {
		if err := checkDigest(fmt.Sprintf("layer %d digest", i), l.Digest); err != nil {
			return err
		}
		if err := checkDigest(fmt.Sprintf("rootfs.diff_ids[%d]", i), l.DiffID); err != nil {
			return err
		}
	}
	for _, c := range r.ChainIDs {
		if err := checkDigest("chain ID", c); err != nil {
			return err
		}
	}
	return nil
}
