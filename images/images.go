// Package images pulls images from OCI registries, keeps their blobs in a content store
// (blobs/sha256/<hex>), unpacks their layers into overlay snapshots keyed by chain ID
// (snapshots/<hex>/fs) and records image metadata in bbolt. With DiscardUnpackedLayers a
// layer's compressed blob is verified as it streams but never stored: its snapshot alone
// makes the layer present, and GC frees the layer blobs stored before the setting was
// turned on (at Open, which collects). It knows nothing of pods: a
// container's rootfs is a lease on an image's snapshots plus a writable upper dir.
//
// On disk, under Config.Root:
//
//	meta.db                   bbolt: images (ID -> record), leases (container ID -> snapshots)
//	blobs/sha256/<hex>        manifests, indexes, configs, compressed layers; once per digest
//	                          (an unpacked layer's only while DiscardUnpackedLayers is off)
//	blobs/ingest/             blobs being downloaded (removed at Open)
//	snapshots/<chainid>/fs    one unpacked layer each, overlayfs lower dir form
//	snapshots/.tmp-*          layers being unpacked (removed at Open)
//	tmp/                      spooled imports (removed at Open)
//
// and <ContainersDir>/<container id>/{upper,work} for writable layers.
//
// Reference semantics (documented choices):
//   - A tag that moves to a new image is removed from the old one; the old image stays
//     listed while it still has a tag or a repo digest (as containerd's CRI does), and is
//     removed when it has neither.
//   - Remove by tag drops that tag and removes the image when it has no tag left (a repo
//     digest alone does not keep an image the user just untagged). Remove by repo digest drops
//     that digest and removes the image when no tag or digest is left. Remove by ID removes it.
//   - The pause image and Config.PinnedImages are reported Pinned. Garbage collection only
//     frees blobs and snapshots no image and no container uses, so a pinned image is never
//     collected; Remove refuses a pinned reference or image (FailedPrecondition, see pins.go).
//   - Blobs and snapshots are freed when no image, no container lease and no pull in
//     progress uses them.
package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/singleflight"

	"github.com/crid-dev/crid/errdefs"
)

// Config configures a Service.
type Config struct {
	Root                   string        // e.g. <crid root>/images (blobs, snapshots, db)
	ContainersDir          string        // writable layers live here: <ContainersDir>/<id>/{upper,work}
	RegistryConfigDir      string        // containerd-style certs.d: <dir>/<host>/hosts.toml, <dir>/_default
	PauseImage             string        // reported Pinned, never removed by GC
	PinnedImages           []string      // exact references or globs: reported Pinned, never removed (SetPinned changes them)
	PullProgressTimeout    time.Duration // a pull with no bytes for this long fails
	MaxConcurrentDownloads int
	MaxLayerSize           int64 // bytes a layer may hold (blob, tar stream, file sizes); 0 = no limit
	// DiscardUnpackedLayers: a layer unpacked by a pull or import is verified as it streams
	// but its compressed blob is not stored (no disk, no write, no sync for it), and GC
	// frees the blob of every layer already unpacked; such an image cannot be exported
	// until pulled again without it.
	DiscardUnpackedLayers bool
}

// Image is what crid knows of a local image.
type Image struct {
	ID          string   // "sha256:<config digest>"
	RepoTags    []string // normalised, "docker.io/library/busybox:latest"
	RepoDigests []string // "docker.io/library/busybox@sha256:<manifest digest>"
	Size        uint64
	Config      ocispec.Image // image-spec v1 config (User, Env, Entrypoint, Cmd, WorkingDir, Volumes, StopSignal)
	ChainID     string
	Pinned      bool
}

// Auth holds registry credentials as CRI's AuthConfig carries them.
type Auth struct{ Username, Password, Auth, ServerAddress, IdentityToken, RegistryToken string }

// Service is the image store. Safe for concurrent use.
type Service struct {
	cfg   Config
	db    *bolt.DB
	hosts atomic.Pointer[hostsConfig] // swapped by SetRegistryConfigDir
	pause string                      // normalised pause image reference, "" if unset
	pins  atomic.Pointer[pinSet]      // swapped by SetPinned

	mu     sync.RWMutex       // guards images, refs and leases (the in-memory view of the db)
	images map[string]*record // by ID
	refs   map[string]string  // normalised tag or digest reference -> ID
	leases map[string]*lease  // by container ID

	// gcMu orders garbage collection against pulls: a pull registers what it is about
	// to write in inflight (under gcMu) before it looks for or writes a blob or snapshot.
	gcMu     sync.Mutex
	inflight map[string]int

	pulls  singleflight.Group // one pull per reference and credentials
	layers singleflight.Group // one download/unpack per layer, across images
	// layerWaiting, set by tests only, is called each time a pull waits on a layer's
	// fetch (its own or another pull's it joined).
	layerWaiting func(digest string)
	// layerStreamed, set by tests only, is called when a layer's bytes are all in, before
	// its syncs and commit.
	layerStreamed func(digest string)
	// tagResolved, set by tests only, is called when Tag has found its source image,
	// before it adds the name.
	tagResolved func(id string)
	// openFS, syncFS and syncDir make a layer's files and blob, and the content store's
	// renames, durable (openFS, syncFS and syncDir in production; tests record the order).
	openFS  func(dir string) (*os.File, error)
	syncFS  func(d *os.File) error
	syncDir func(dir string) error

	usageMu    sync.Mutex
	usageCache *FsUsage // ImageFsUsage of Root, dropped on every change
}

const (
	defaultProgressTimeout = time.Minute
	defaultDownloads       = 3
)

// Open opens (creating if needed) the store at cfg.Root, removes what an interrupted pull
// or unpack left behind, forgets images whose snapshots are gone (so they get pulled
// again), and frees blobs and snapshots nothing uses.
func Open(cfg Config) (*Service, error) {
	if cfg.Root == "" || cfg.ContainersDir == "" {
		return nil, fmt.Errorf("images: Root and ContainersDir are required: %w", errdefs.ErrInvalidArgument)
	}
	if cfg.PullProgressTimeout <= 0 {
		cfg.PullProgressTimeout = defaultProgressTimeout
	}
	if cfg.MaxConcurrentDownloads <= 0 {
		cfg.MaxConcurrentDownloads = defaultDownloads
	}
	s := &Service{
		cfg:      cfg,
		images:   map[string]*record{},
		refs:     map[string]string{},
		leases:   map[string]*lease{},
		inflight: map[string]int{},
		openFS:   openFS,
		syncFS:   syncFS,
		syncDir:  syncDir,
	}
	if cfg.PauseImage != "" {
		p, err := NormalizeRef(cfg.PauseImage)
		if err != nil {
			return nil, fmt.Errorf("images: pause image: %w", err)
		}
		s.pause = p
	}
	s.hosts.Store(newHostsConfig(cfg.RegistryConfigDir))
	if err := s.SetPinned(cfg.PinnedImages); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Root, s.blobDir(), s.ingestDir(), s.snapshotsDir(), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	if err := os.MkdirAll(cfg.ContainersDir, 0o711); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.Root, "meta.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("images: open metadata (is another crid running?): %w", err)
	}
	s.db = db
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.removeLeftovers(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.dropUnrunnable(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.gc(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// SetRegistryConfigDir makes pulls that start from now on read hosts.toml files from dir.
func (s *Service) SetRegistryConfigDir(dir string) { s.hosts.Store(newHostsConfig(dir)) }

// Close closes the metadata db. Pulls still running fail.
func (s *Service) Close() error { return s.db.Close() }

// List returns every image, sorted by ID.
func (s *Service) List() []*Image {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Image, 0, len(s.images))
	for _, r := range s.images {
		out = append(out, s.toImage(r))
	}
	slices.SortFunc(out, func(a, b *Image) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Resolve finds an image by tag, digest reference, ID ("sha256:<hex>" or bare hex) or a
// short ID; ErrNotFound otherwise. A short ID is an unambiguous prefix of at least
// minShortID hex characters of the ID, with or without "sha256:".
func (s *Service) Resolve(refOrID string) (*Image, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, _, err := s.resolveLocked(refOrID)
	if err != nil {
		return nil, err
	}
	return s.toImage(r), nil
}

// minShortID is docker's short image ID length. Fewer characters would let a pod spec
// naming "sha256:78" run whatever local image happens to start with it, without a pull
// and without that image's credentials.
const minShortID = 12

// resolveLocked returns the image and, when refOrID named it by reference, the normalised
// reference ("" when it was an ID).
func (s *Service) resolveLocked(refOrID string) (*record, string, error) {
	id := refOrID
	if !strings.HasPrefix(id, "sha256:") && len(id) == 64 && isHex(id) {
		id = "sha256:" + id
	}
	if r, ok := s.images[id]; ok {
		return r, "", nil
	}
	if n, err := NormalizeRef(refOrID); err == nil {
		if id, ok := s.refs[n]; ok {
			return s.images[id], n, nil
		}
	}
	prefix := strings.TrimPrefix(refOrID, "sha256:")
	if len(prefix) >= minShortID && isHex(prefix) {
		var found []*record
		for id, r := range s.images {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), prefix) {
				found = append(found, r)
			}
		}
		switch {
		case len(found) == 1:
			return found[0], "", nil
		case len(found) > 1:
			return nil, "", fmt.Errorf("image %q: ambiguous short ID: %d images start with it, give more characters: %w", refOrID, len(found), errdefs.ErrInvalidArgument)
		}
	}
	return nil, "", fmt.Errorf("image %q: %w", refOrID, errdefs.ErrNotFound)
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// Remove removes an image by ID, or a tag or repo digest of it (see the package comment
// for when that removes the image itself). Unused blobs and snapshots are freed.
func (s *Service) Remove(ctx context.Context, refOrID string) error {
	s.mu.Lock()
	r, ref, err := s.resolveLocked(refOrID)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	nr := r.clone()
	if ref != "" {
		nr.RepoTags = slices.DeleteFunc(nr.RepoTags, func(t string) bool { return t == ref })
		nr.RepoDigests = slices.DeleteFunc(nr.RepoDigests, func(t string) bool { return t == ref })
	}
	if ref == "" || len(nr.RepoTags) == 0 && (isTag(ref) || len(nr.RepoDigests) == 0) {
		nr = nil
	}
	if err := s.checkRemovable(r, ref, nr == nil); err != nil {
		s.mu.Unlock()
		return err
	}
	var puts, dels []*record
	if nr != nil {
		puts = append(puts, nr)
	} else {
		dels = append(dels, r)
	}
	err = s.commitLocked(puts, dels)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.invalidateUsage()
	if nr == nil {
		return s.gc()
	}
	return nil
}

func isTag(ref string) bool { return !strings.Contains(ref, "@") }

func (s *Service) toImage(r *record) *Image {
	img := &Image{
		ID:          r.ID,
		RepoTags:    slices.Clone(r.RepoTags),
		RepoDigests: slices.Clone(r.RepoDigests),
		Size:        r.Size,
		Config:      r.Config,
		ChainID:     r.topChainID(),
	}
	img.Pinned = s.pinnedBy(r) != ""
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	if img.RepoDigests == nil {
		img.RepoDigests = []string{}
	}
	return img
}
