package images

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/crid-dev/crid/errdefs"
)

// Pull fetches ref (normalised first) from its registry, through the endpoints hosts.toml
// configures, and unpacks it. Concurrent pulls of one reference share one pull; the image
// is only visible once all its blobs and snapshots are committed.
func (s *Service) Pull(ctx context.Context, ref string, auth *Auth) (*Image, error) {
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	key := r.String()
	if auth != nil {
		key += "\x00" + auth.Username + "\x00" + auth.Password + "\x00" + auth.Auth + "\x00" + auth.IdentityToken + "\x00" + auth.RegistryToken
	}
	// The shared pull runs detached from any one caller, so a kubelet that times out and
	// retries finds it still running; the progress watchdog bounds it.
	ch := s.pulls.DoChan(key, func() (_ any, err error) {
		defer observePull(time.Now(), &err)
		return s.pull(context.WithoutCancel(ctx), r, auth)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return s.Resolve(res.Val.(string))
	}
}

// pull returns the image ID. As containerd does, a tag is resolved to a digest on the
// hosts with the "resolve" capability, and the content is then fetched by digest from the
// hosts with "pull", each list tried in hosts.toml order.
func (s *Service) pull(ctx context.Context, r imageRef, auth *Auth) (string, error) {
	wd := newWatchdog(ctx, s.cfg.PullProgressTimeout)
	defer wd.stop()
	ctx = wd.ctx

	digest := r.Digest
	if digest == "" {
		var err error
		if digest, err = tryEndpoints(ctx, s, r, capResolve, func(ep *endpoint) (string, error) {
			return s.resolveTag(ctx, ep, r, auth, wd)
		}); err != nil {
			return "", err
		}
	}
	if err := checkDigest("manifest digest", digest); err != nil {
		return "", fmt.Errorf("pull %s: %w", r, err)
	}
	if id, ok := s.haveManifest(digest, r); ok {
		return id, nil
	}
	return tryEndpoints(ctx, s, r, capPull, func(ep *endpoint) (string, error) {
		return s.pullFrom(ctx, ep, r, digest, auth, wd)
	})
}

// haveManifest short-cuts a pull whose manifest (or index) digest is already stored with
// all its content: the image only gains r's names, without fetching anything.
func (s *Service) haveManifest(digest string, r imageRef) (string, bool) {
	s.mu.RLock()
	var rec *record
	for _, cand := range s.images {
		if slices.Contains(cand.ManifestDigests, digest) {
			rec = cand.clone()
			break
		}
	}
	s.mu.RUnlock()
	if rec == nil {
		return "", false
	}
	keys := s.refKeys(rec)
	s.hold(keys)
	defer s.release(keys)
	for _, d := range append([]string{rec.ConfigDigest}, rec.ManifestDigests...) {
		if !s.hasBlob(d) {
			return "", false
		}
	}
	for _, c := range rec.ChainIDs {
		if !s.hasSnapshot(c) {
			return "", false
		}
	}
	// Layer blobs count only while they are kept: an image pulled without them is fetched
	// again for them once discard_unpacked_layers is off.
	if !s.cfg.DiscardUnpackedLayers {
		for _, l := range rec.Layers {
			if !s.hasBlob(l.Digest) {
				return "", false
			}
		}
	}
	rec.RepoTags, rec.RepoDigests = nil, []string{r.Repository() + "@" + digest}
	if r.Tag != "" {
		rec.RepoTags = []string{r.String()}
	}
	if err := s.syncContentDirs(); err != nil {
		return "", false
	}
	if err := s.addImage(rec); err != nil {
		return "", false
	}
	return rec.ID, true
}

// tryEndpoints calls fn on each endpoint of r's registry that has capability caps until one
// succeeds. A stalled pull stops at once: the next host would share the deadline.
func tryEndpoints(ctx context.Context, s *Service, r imageRef, caps int, fn func(*endpoint) (string, error)) (string, error) {
	eps, err := s.hosts.Load().endpoints(r.Registry, caps)
	if err != nil {
		return "", fmt.Errorf("pull %s: %v: %w", r, err, errdefs.ErrFailedPrecondition)
	}
	var errs []error
	for i, ep := range eps {
		v, err := fn(ep)
		if err == nil {
			return v, nil
		}
		if cause := context.Cause(ctx); cause != nil && errors.Is(cause, errNoProgress) {
			return "", fmt.Errorf("pull %s from %s: %w", r, ep, cause)
		}
		errs = append(errs, fmt.Errorf("%s: %w", ep, classify(err, ep.URL.Host)))
		if ctx.Err() != nil {
			break
		}
		if i < len(eps)-1 {
			slog.Warn("image pull: registry host failed, trying the next one", "ref", r.String(), "host", ep.String(), "err", err)
		}
	}
	return "", fmt.Errorf("pull %s: %w", r, pickError(errs))
}

// pickError keeps every endpoint's message but the most telling kind: a registry that
// answered (auth refused, image unknown) says more than one that could not be reached.
func pickError(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	kind := errdefs.ErrUnavailable
	for _, k := range []error{errdefs.ErrResourceExhausted, errdefs.ErrFailedPrecondition, errdefs.ErrNotFound, errdefs.ErrInvalidArgument} {
		for _, e := range errs {
			if errors.Is(e, k) {
				kind = k
				goto found
			}
		}
	}
found:
	return fmt.Errorf("%s: %w", strings.Join(msgs, "; "), kind)
}

// remoteFor names r's repository on endpoint ep for go-containerregistry, with the options
// to reach it. go-containerregistry then talks to the endpoint's host; the rewriter maps
// its "/v2/<repo>" paths onto the endpoint's prefix, so the repository stays the one the
// user named.
func (s *Service) remoteFor(ctx context.Context, ep *endpoint, r imageRef, auth *Auth, wd *watchdog) (name.Repository, []remote.Option, error) {
	var nopts []name.Option
	if ep.URL.Scheme == "http" {
		nopts = append(nopts, name.Insecure)
	}
	repo, err := name.NewRepository(ep.URL.Host+"/"+r.Repo, nopts...)
	if err != nil {
		return repo, nil, fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
	}
	rt, err := s.hosts.Load().transport(ep)
	if err != nil {
		return repo, nil, err
	}
	return repo, []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(wd.wrap(rt)),
		remote.WithAuth(authenticator(auth, r.Registry, ep.URL.Host)),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}),
		remote.WithUserAgent("crid"),
	}, nil
}

// resolveTag returns the manifest (or index) digest r's tag names on ep.
func (s *Service) resolveTag(ctx context.Context, ep *endpoint, r imageRef, auth *Auth, wd *watchdog) (string, error) {
	repo, opts, err := s.remoteFor(ctx, ep, r, auth, wd)
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(repo.Tag(r.Tag), opts...)
	if err != nil {
		return "", err
	}
	return desc.Digest.String(), nil
}

// pullFrom fetches r's content, by digest, from ep and ingests it.
func (s *Service) pullFrom(ctx context.Context, ep *endpoint, r imageRef, digest string, auth *Auth, wd *watchdog) (string, error) {
	repo, opts, err := s.remoteFor(ctx, ep, r, auth, wd)
	if err != nil {
		return "", err
	}
	desc, err := remote.Get(repo.Digest(digest), opts...)
	if err != nil {
		return "", err
	}
	img, err := desc.Image()
	if err != nil {
		if strings.Contains(err.Error(), "no child with platform") {
			return "", fmt.Errorf("no image for linux/%s in %s: %w", runtime.GOARCH, r, errdefs.ErrNotFound)
		}
		if errors.Is(err, remote.ErrSchema1) {
			return "", fmt.Errorf("%s is a Docker schema 1 image, which is not supported (push it again with a current client): %w", r, errdefs.ErrFailedPrecondition)
		}
		return "", err
	}
	// go-containerregistry hashes every blob it returns and fails the read reaching its
	// end on a digest or size mismatch (TestCorruptBlobFailsCleanly): a second hash of the
	// same bytes would cost a third of a pull's CPU.
	src := source{digests: []string{r.Repository() + "@" + digest}, layersVerified: true}
	if r.Tag != "" {
		src.tags = []string{r.String()}
	}
	if desc.MediaType.IsIndex() {
		src.extraBlobs = map[string][]byte{digest: desc.Manifest}
	}
	return s.ingest(ctx, img, src)
}

// authenticator turns CRI credentials into go-containerregistry's. Credentials whose
// ServerAddress names another registry are not sent (kubelet passes one per image).
func authenticator(a *Auth, registry, host string) authn.Authenticator {
	if a == nil {
		return authn.Anonymous
	}
	if a.ServerAddress != "" {
		srv := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(a.ServerAddress, "https://"), "http://"), "/")
		srv, _, _ = strings.Cut(srv, "/")
		if srv != registry && srv != host && (registry != dockerHub || (srv != "index.docker.io" && srv != "registry-1.docker.io")) {
			return authn.Anonymous
		}
	}
	cfg := authn.AuthConfig{
		Username:      a.Username,
		Password:      a.Password,
		IdentityToken: a.IdentityToken,
		RegistryToken: a.RegistryToken,
	}
	if a.Auth != "" && cfg.Username == "" {
		if dec, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			cfg.Username, cfg.Password, _ = strings.Cut(string(dec), ":")
		}
	}
	if cfg == (authn.AuthConfig{}) {
		return authn.Anonymous
	}
	return authn.FromConfig(cfg)
}
