package images

import (
	"context"
	"errors"
	"fmt"

	"github.com/crid-dev/crid/errdefs"
)

// Tag gives the image source names (a tag, digest reference, ID or short ID, as Resolve
// takes) the name target too. Only the image record changes: no blob is read or written,
// so an image whose layer blobs were not kept (discard_unpacked_layers) is tagged as any
// other. target is normalised as a pull's reference is ("busybox" is
// "docker.io/library/busybox:latest") and must be a tag, not a digest. A tag another image
// had moves to this one, and that image is removed when it has no name left, as a pull
// moving the tag would do.
func (s *Service) Tag(ctx context.Context, source, target string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, err := parseRef(target)
	if err != nil {
		return fmt.Errorf("tag %s: target: %w", source, err)
	}
	if ref.Digest != "" {
		return fmt.Errorf("tag %s: target %q is a digest reference, not a tag: %w", source, target, errdefs.ErrInvalidArgument)
	}
	tag := ref.String()

	s.mu.RLock()
	r, _, err := s.resolveLocked(source)
	if err != nil {
		s.mu.RUnlock()
		return fmt.Errorf("tag: %w", err)
	}
	rec := r.clone()
	tagged := s.refs[tag] == rec.ID
	s.mu.RUnlock()
	if tagged {
		return nil
	}
	if s.tagResolved != nil {
		s.tagResolved(rec.ID)
	}
	// addNames merges the tag into the stored record (the image's other names stay), under
	// the lock it finds the record with: an image removed since the lookup above stays
	// removed; one still there is whole, as every stored image is.
	rec.RepoTags = []string{tag}
	rec.RepoDigests = nil
	if err := s.addNames(rec); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return fmt.Errorf("tag: image %q: removed while being tagged: %w", source, errdefs.ErrNotFound)
		}
		return fmt.Errorf("tag %s as %s: %w", source, tag, err)
	}
	return nil
}
