package images

import (
	"encoding/json"
	"fmt"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// The metadata db holds two buckets. Every change is one bbolt transaction (fsynced at
// commit), so a kill -9 at any moment loses nothing already reported done. Blobs and
// snapshots are not recorded: a committed file or directory (renamed into place) is complete
// by construction, and anything no image or lease points at is garbage.
var (
	bucketImages = []byte("images") // image ID -> record (JSON)
	bucketLeases = []byte("leases") // container ID -> lease (JSON)
)

// record is an image as persisted.
type record struct {
	ID              string
	RepoTags        []string
	RepoDigests     []string
	ManifestDigests []string // the manifest and, when pulled through one, the index
	ConfigDigest    string
	Layers          []layerRecord
	ChainIDs        []string // bottom layer first
	Size            uint64
	Config          ocispec.Image
}

type layerRecord struct {
	Digest    string
	DiffID    string
	MediaType string
	Size      int64
}

func (r *record) clone() *record {
	c := *r
	c.RepoTags = slices.Clone(r.RepoTags)
	c.RepoDigests = slices.Clone(r.RepoDigests)
	c.ManifestDigests = slices.Clone(r.ManifestDigests)
	return &c
}

func (r *record) topChainID() string {
	if len(r.ChainIDs) == 0 {
		return ""
	}
	return r.ChainIDs[len(r.ChainIDs)-1]
}

// lease keeps an image's snapshots alive while a container uses them as its rootfs,
// even after the image itself is removed.
type lease struct {
	ContainerID string
	ImageID     string
	ChainIDs    []string
}

func (s *Service) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		ib, err := tx.CreateBucketIfNotExists(bucketImages)
		if err != nil {
			return err
		}
		lb, err := tx.CreateBucketIfNotExists(bucketLeases)
		if err != nil {
			return err
		}
		if err := ib.ForEach(func(k, v []byte) error {
			var r record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("image %s: %w", k, err)
			}
			s.images[r.ID] = &r
			for _, t := range r.RepoTags {
				s.refs[t] = r.ID
			}
			for _, d := range r.RepoDigests {
				s.refs[d] = r.ID
			}
			return nil
		}); err != nil {
			return fmt.Errorf("images: load metadata: %w", err)
		}
		return lb.ForEach(func(k, v []byte) error {
			var l lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("images: lease %s: %w", k, err)
			}
			s.leases[l.ContainerID] = &l
			return nil
		})
	})
}

// commitLocked stores puts and deletes dels in one transaction, then updates the in-memory
// index. Callers hold s.mu for writing.
func (s *Service) commitLocked(puts, dels []*record) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketImages)
		for _, r := range dels {
			if err := b.Delete([]byte(r.ID)); err != nil {
				return err
			}
		}
		for _, r := range puts {
			v, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(r.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("images: save metadata: %w", err)
	}
	for _, r := range dels {
		s.dropRefsLocked(s.images[r.ID])
		delete(s.images, r.ID)
	}
	for _, r := range puts {
		s.dropRefsLocked(s.images[r.ID])
		s.images[r.ID] = r
		for _, t := range r.RepoTags {
			s.refs[t] = r.ID
		}
		for _, d := range r.RepoDigests {
			s.refs[d] = r.ID
		}
	}
	return nil
}

func (s *Service) dropRefsLocked(r *record) {
	if r == nil {
		return
	}
	for _, t := range append(slices.Clone(r.RepoTags), r.RepoDigests...) {
		if s.refs[t] == r.ID {
			delete(s.refs, t)
		}
	}
}

func (s *Service) putLease(l *lease) error {
	v, err := json.Marshal(l)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).Put([]byte(l.ContainerID), v)
	})
}

func (s *Service) deleteLease(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketLeases).Delete([]byte(id))
	})
}
