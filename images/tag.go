package images

import (
	"context"
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
	s.mu.RUnlock()

	// addImage takes the lock itself, so the image could be removed, and its content
	// collected, between the lookup above and the commit, which would then bring back a
	// record of missing snapshots. Held against GC, and seen still present once held, its
	// content stays whatever happens to the record.
	keys := s.refKeys(rec)
	s.hold(keys)
	defer s.release(keys)
	s.mu.RLock()
	_, present := s.images[rec.ID]
	tagged := s.refs[tag] == rec.ID
	s.mu.RUnlock()
	switch {
	case !present:
		return fmt.Errorf("tag: image %q: removed while being tagged: %w", source, errdefs.ErrNotFound)
	case tagged:
		return nil
	}
	// addImage merges the tag into the stored record (the image's other names stay).
	rec.RepoTags = []string{tag}
	rec.RepoDigests = nil
	if err := s.addImage(rec); err != nil {
		return fmt.Errorf("tag %s as %s: %w", source, tag, err)
	}
	return nil
}
