package images

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/crid-dev/crid/errdefs"
)

// dockerHub is the name kubelet and containerd use for Docker Hub; go-containerregistry
// spells it "index.docker.io", which must never leak into reported references.
const dockerHub = "docker.io"

// imageRef is a parsed, normalised image reference.
type imageRef struct {
	Registry string // "docker.io", "localhost:5000"
	Repo     string // "library/busybox"
	Tag      string // "" when pulled by digest
	Digest   string // "sha256:..." or ""
}

// Repository is "<registry>/<repo>", the part RepoDigests and RepoTags share.
func (r imageRef) Repository() string { return r.Registry + "/" + r.Repo }

// String is the normalised form: a digest wins over a tag, as containerd stores it.
func (r imageRef) String() string {
	if r.Digest != "" {
		return r.Repository() + "@" + r.Digest
	}
	return r.Repository() + ":" + r.Tag
}

// pathComponentRe is the distribution spec's grammar for one repository path component,
// stricter than go-containerregistry's check (which lets "-x" through).
var pathComponentRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// maxNameLength is the distribution spec's limit on "<registry>/<repository>".
const maxNameLength = 255

var digestRe = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

// parseRef normalises ref the way kubelet expects: "busybox" is
// "docker.io/library/busybox:latest", "localhost:5000/x" keeps its registry.
// "repo:tag@sha256:..." keeps only the digest, which is what identifies the content.
func parseRef(ref string) (imageRef, error) {
	if ref == "" || strings.TrimSpace(ref) != ref {
		return imageRef{}, fmt.Errorf("image reference %q: %w", ref, errdefs.ErrInvalidArgument)
	}
	s := ref
	var dgst string
	if i := strings.Index(s, "@"); i >= 0 {
		dgst = s[i+1:]
		s = s[:i]
		if !digestRe.MatchString(dgst) {
			return imageRef{}, fmt.Errorf("image reference %q: unsupported digest %q: %w", ref, dgst, errdefs.ErrInvalidArgument)
		}
		// Drop a tag in front of the digest: the digest alone names the content.
		if j := strings.LastIndex(s, ":"); j > strings.LastIndex(s, "/") {
			s = s[:j]
		}
	}
	var parsed name.Reference
	var err error
	if dgst != "" {
		parsed, err = name.NewDigest(s + "@" + dgst)
	} else {
		parsed, err = name.ParseReference(s)
	}
	if err != nil {
		return imageRef{}, fmt.Errorf("image reference %q: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	r := imageRef{Registry: parsed.Context().RegistryStr(), Repo: parsed.Context().RepositoryStr()}
	for _, c := range strings.Split(r.Repo, "/") {
		if !pathComponentRe.MatchString(c) {
			return imageRef{}, fmt.Errorf("image reference %q: bad repository component %q: %w", ref, c, errdefs.ErrInvalidArgument)
		}
	}
	if r.Registry == name.DefaultRegistry {
		r.Registry = dockerHub
	}
	// The distribution spec's limit is on the whole name; go-containerregistry checks the
	// path before it adds "library/", so a name it took could normalise to one it refuses.
	if len(r.Repository()) > maxNameLength {
		return imageRef{}, fmt.Errorf("image reference %q: name %q is longer than %d characters: %w", ref, r.Repository(), maxNameLength, errdefs.ErrInvalidArgument)
	}
	switch p := parsed.(type) {
	case name.Tag:
		r.Tag = p.TagStr()
	case name.Digest:
		r.Digest = p.DigestStr()
	}
	return r, nil
}

// NormalizeRef returns the fully qualified form of ref ("busybox" ->
// "docker.io/library/busybox:latest"); ErrInvalidArgument when ref is malformed.
func NormalizeRef(ref string) (string, error) {
	r, err := parseRef(ref)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}
