package images

import (
	"errors"
	"strings"
	"testing"

	"github.com/crid-dev/crid/errdefs"
)

// A short image ID is an unambiguous prefix of at least 12 hex characters: "sha256:78"
// must not run whatever local image starts with "78".
func TestResolveShortIDs(t *testing.T) {
	const (
		a = "sha256:7812345678901aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b = "sha256:7812345678901bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		c = "sha256:78cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	)
	s := &Service{images: map[string]*record{}, refs: map[string]string{}}
	for _, id := range []string{a, b, c} {
		s.images[id] = &record{ID: id}
	}
	for _, ref := range []string{"sha256:78", "78", "sha256:78ccccccccc", "78ccccccccc", "sha256:", ""} {
		if img, err := s.Resolve(ref); !errdefs.IsNotFound(err) {
			t.Errorf("Resolve(%q) = %v, %v; want NotFound (shorter than 12 hex characters)", ref, img, err)
		}
	}
	for ref, want := range map[string]string{
		"sha256:78cccccccccc": c, "78cccccccccc": c,
		"sha256:7812345678901a": a, "7812345678901b": b,
		a: a, strings.TrimPrefix(b, "sha256:"): b,
	} {
		if img, err := s.Resolve(ref); err != nil || img.ID != want {
			t.Errorf("Resolve(%q) = %v, %v; want %s", ref, img, err, want)
		}
	}
	for _, ref := range []string{"sha256:781234567890", "7812345678901"} {
		_, err := s.Resolve(ref)
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "2 images") {
			t.Errorf("Resolve(%q) = %v; want InvalidArgument naming 2 candidates", ref, err)
		}
	}
}
