package images

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/crid-dev/crid/errdefs"
)

// Ready reports whether the store can serve: its metadata db is open and its blob and
// snapshot dirs are there. The gRPC health service asks it.
func (s *Service) Ready() error {
	if err := s.db.View(func(*bolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("images: metadata db: %v: %w", err, errdefs.ErrUnavailable)
	}
	for _, d := range []string{s.blobDir(), s.snapshotsDir()} {
		if _, err := os.Stat(d); err != nil {
			return fmt.Errorf("images: %v: %w", err, errdefs.ErrUnavailable)
		}
	}
	return nil
}
