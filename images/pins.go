package images

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/crid-dev/crid/errdefs"
)

// Pinned images (the pause image and Config.PinnedImages) are reported Pinned, so kubelet's
// image GC skips them, and Remove refuses to take a pinned reference or a pinned image away.
// Garbage collection only frees blobs and snapshots no image uses, so a pinned image's never go.

// IsPinGlob reports whether a pinned_images entry is a glob rather than an exact reference.
func IsPinGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// pinSet is the compiled pin list; replaced whole by SetPinned.
type pinSet struct {
	exact map[string]string // normalised reference -> the entry as configured
	globs []string          // matched with path.Match against normalised references
}

func compilePins(pause string, patterns []string) (*pinSet, error) {
	ps := &pinSet{exact: map[string]string{}}
	if pause != "" {
		ps.exact[pause] = pause
	}
	for _, p := range patterns {
		if IsPinGlob(p) {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("images: pinned image glob %q: %v: %w", p, err, errdefs.ErrInvalidArgument)
			}
			ps.globs = append(ps.globs, p)
			continue
		}
		n, err := NormalizeRef(p)
		if err != nil {
			return nil, fmt.Errorf("images: pinned image %q: %w", p, err)
		}
		ps.exact[n] = p
	}
	return ps, nil
}

// match returns the entry that pins ref, "" when none does.
func (ps *pinSet) match(ref string) string {
	if p, ok := ps.exact[ref]; ok {
		return p
	}
	for _, g := range ps.globs {
		if ok, _ := path.Match(g, ref); ok {
			return g
		}
	}
	return ""
}

// SetPinned replaces the pinned image list (the pause image stays pinned). Safe while
// the service runs: a config reload calls it.
func (s *Service) SetPinned(patterns []string) error {
	ps, err := compilePins(s.pause, patterns)
	if err != nil {
		return err
	}
	s.pins.Store(ps)
	return nil
}

// pinnedBy returns the entry that pins one of r's references, "" when none does.
func (s *Service) pinnedBy(r *record) string {
	ps := s.pins.Load()
	for _, ref := range slices.Concat(r.RepoTags, r.RepoDigests) {
		if p := ps.match(ref); p != "" {
			return p
		}
	}
	return ""
}

// checkRemovable refuses a Remove that would take away a pinned reference (ref, "" when the
// image was named by ID) or the pinned image r itself (whole).
func (s *Service) checkRemovable(r *record, ref string, whole bool) error {
	if ref != "" {
		if p := s.pins.Load().match(ref); p != "" {
			return fmt.Errorf("image %q is pinned by %q (pinned_images/pause_image): %w", ref, p, errdefs.ErrFailedPrecondition)
		}
	}
	if whole {
		if p := s.pinnedBy(r); p != "" {
			return fmt.Errorf("image %s is pinned by %q (pinned_images/pause_image): %w", r.ID, p, errdefs.ErrFailedPrecondition)
		}
	}
	return nil
}
