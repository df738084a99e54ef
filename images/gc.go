package images

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Garbage collection is mark and sweep: every blob and snapshot an image, a container
// lease or a running pull refers to is kept; the rest of blobs/sha256 and snapshots/ goes.
// With discard_unpacked_layers an image no longer keeps the blob of a layer it has
// unpacked (liveKeys). Pulls register what they will write or read (hold) under gcMu
// before looking at the disk, so a sweep never takes a blob out from under a pull.

func blobKey(d string) string { return "blob:" + d }
func snapKey(c string) string { return "snap:" + strings.TrimPrefix(c, "sha256:") }

// refKeys lists every blob and snapshot r names: what a pull, import or tag holds against
// GC while it works on r.
func (s *Service) refKeys(r *record) []string {
	keys := metaAndSnapshotKeys(r)
	for _, l := range r.Layers {
		keys = append(keys, blobKey(l.Digest))
	}
	return keys
}

// liveKeys is what GC keeps for an image on record: refKeys, less, with
// discard_unpacked_layers, the blob of each layer whose snapshot is committed. Such a layer
// is present without its blob (layerPresent) and its containers run from the snapshot, so a
// blob stored before the setting was turned on is freed. A layer whose snapshot is missing
// keeps its blob: a pull unpacks the snapshot from it instead of downloading it again.
func (s *Service) liveKeys(r *record) []string {
	if !s.cfg.DiscardUnpackedLayers {
		return s.refKeys(r)
	}
	keys := metaAndSnapshotKeys(r)
	for i, l := range r.Layers {
		if i >= len(r.ChainIDs) || !s.hasSnapshot(r.ChainIDs[i]) {
			keys = append(keys, blobKey(l.Digest))
		}
	}
	return keys
}

// metaAndSnapshotKeys lists r's config and manifest (or index) blobs and its snapshots.
func metaAndSnapshotKeys(r *record) []string {
	keys := []string{blobKey(r.ConfigDigest)}
	for _, d := range r.ManifestDigests {
		keys = append(keys, blobKey(d))
	}
	for _, c := range r.ChainIDs {
		keys = append(keys, snapKey(c))
	}
	if len(r.ChainIDs) == 0 {
		keys = append(keys, snapKey(emptySnapshot))
	}
	return keys
}

func (s *Service) hold(keys []string) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	for _, k := range keys {
		s.inflight[k]++
	}
}

func (s *Service) release(keys []string) {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	for _, k := range keys {
		if s.inflight[k]--; s.inflight[k] <= 0 {
			delete(s.inflight, k)
		}
	}
}

// gc frees every blob and snapshot nothing refers to.
func (s *Service) gc() error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	live := map[string]bool{}
	for k := range s.inflight {
		live[k] = true
	}
	s.mu.RLock()
	for _, r := range s.images {
		for _, k := range s.liveKeys(r) {
			live[k] = true
		}
	}
	for _, l := range s.leases {
		for _, c := range l.ChainIDs {
			live[snapKey(c)] = true
		}
		if len(l.ChainIDs) == 0 {
			live[snapKey(emptySnapshot)] = true
		}
	}
	s.mu.RUnlock()

	var firstErr error
	note := func(err error) {
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("images: gc: %w", err)
		}
	}
	freed := false
	ents, err := os.ReadDir(s.blobDir())
	note(err)
	for _, e := range ents {
		if !live[blobKey("sha256:"+e.Name())] {
			note(os.Remove(filepath.Join(s.blobDir(), e.Name())))
			freed = true
		}
	}
	ents, err = os.ReadDir(s.snapshotsDir())
	note(err)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) { // a pull unpacking right now
			continue
		}
		if !live[snapKey(e.Name())] {
			note(os.RemoveAll(filepath.Join(s.snapshotsDir(), e.Name())))
			freed = true
		}
	}
	if freed {
		s.invalidateUsage()
	}
	return firstErr
}

// dropUnrunnable forgets the images a snapshot of which is gone (a disk that lost data,
// files deleted by hand). Still listed, such an image would keep kubelet from pulling it
// again while every container of it fails to start; forgotten, the next pull restores it.
// A missing blob alone does not count: containers run from snapshots, and an imported image
// may have no registry to come back from. Called at Open, before anything else runs.
func (s *Service) dropUnrunnable() error {
	var dels []*record
	for _, r := range s.images {
		// A record an older crid stored without checking its digests (see checkDigest)
		// must not name a path.
		if err := r.checkDigests(); err != nil {
			slog.Warn("images: forgetting an image with an invalid digest", "image", r.ID, "tags", r.RepoTags, "err", err)
			dels = append(dels, r)
			continue
		}
		for _, c := range r.ChainIDs {
			if !s.hasSnapshot(c) {
				slog.Warn("images: forgetting an image whose snapshot is missing; pull it again", "image", r.ID, "tags", r.RepoTags, "snapshot", c)
				dels = append(dels, r)
				break
			}
		}
	}
	if len(dels) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitLocked(nil, dels)
}

// removeLeftovers deletes what an interrupted pull, unpack or import left: temp blobs,
// temp snapshot dirs and spooled imports. Called at Open, when no pull can be running.
func (s *Service) removeLeftovers() error {
	for _, dir := range []string{s.ingestDir(), s.tmpDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("images: %w", err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("images: remove leftover: %w", err)
			}
		}
	}
	ents, err := os.ReadDir(s.snapshotsDir())
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(s.snapshotsDir(), e.Name())); err != nil {
				return fmt.Errorf("images: remove leftover: %w", err)
			}
		}
	}
	return nil
}
