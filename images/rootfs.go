package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/moby/sys/mountinfo"

	"github.com/crid-dev/crid/errdefs"
)

// Rootfs is what an overlay mount of a container's root needs.
type Rootfs struct {
	LowerDirs []string // top layer first, as overlayfs lowerdir= wants
	UpperDir  string
	WorkDir   string
}

func (s *Service) containerDir(id string) (string, error) {
	if id == "" || id != filepath.Base(id) || id == "." || id == ".." {
		return "", fmt.Errorf("container id %q: %w", id, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.cfg.ContainersDir, id), nil
}

// PrepareRootfs leases imageID's snapshots to containerID (they survive a Remove of the
// image until RemoveRootfs) and creates its writable layer. Calling it again for the same
// container and image returns the same Rootfs.
func (s *Service) PrepareRootfs(ctx context.Context, containerID, imageID string) (*Rootfs, error) {
	dir, err := s.containerDir(containerID)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	r, _, err := s.resolveLocked(imageID)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if l, ok := s.leases[containerID]; ok && l.ImageID != r.ID {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %q already has a rootfs of image %s: %w", containerID, l.ImageID, errdefs.ErrAlreadyExists)
	}
	l := &lease{ContainerID: containerID, ImageID: r.ID, ChainIDs: slices.Clone(r.ChainIDs)}
	// The lease is saved before any directory exists, so a crash leaves a lease that
	// RemoveRootfs clears, never a writable layer nothing accounts for.
	if err := s.putLease(l); err != nil {
		s.mu.Unlock()
		return nil, fmt.Errorf("container %q: save lease: %w", containerID, err)
	}
	s.leases[containerID] = l
	s.mu.Unlock()

	rfs := &Rootfs{UpperDir: filepath.Join(dir, "upper"), WorkDir: filepath.Join(dir, "work")}
	for i := len(l.ChainIDs) - 1; i >= 0; i-- {
		rfs.LowerDirs = append(rfs.LowerDirs, s.snapshotFS(l.ChainIDs[i]))
	}
	if len(rfs.LowerDirs) == 0 {
		empty, err := s.ensureEmptySnapshot()
		if err != nil {
			return nil, err
		}
		rfs.LowerDirs = []string{empty}
	}
	for _, c := range l.ChainIDs {
		if !s.hasSnapshot(c) {
			s.RemoveRootfs(ctx, containerID) //nolint:errcheck // rolling back
			return nil, fmt.Errorf("image %s: snapshot %s missing: %w", r.ID, c, errdefs.ErrFailedPrecondition)
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		s.RemoveRootfs(ctx, containerID) //nolint:errcheck
		return nil, fmt.Errorf("container %q: %w", containerID, err)
	}
	// upper is the container's "/" and takes its mode from the image when copied up;
	// 0755 matches what overlayfs shows before any copy-up.
	for d, mode := range map[string]os.FileMode{rfs.UpperDir: 0o755, rfs.WorkDir: 0o700} {
		if err := os.Mkdir(d, mode); err != nil && !errors.Is(err, os.ErrExist) {
			s.RemoveRootfs(ctx, containerID) //nolint:errcheck
			return nil, fmt.Errorf("container %q: %w", containerID, err)
		}
	}
	s.invalidateUsage()
	return rfs, nil
}

// RemoveRootfs deletes a container's writable layer and its lease, then frees snapshots
// and blobs nothing else uses. Idempotent.
func (s *Service) RemoveRootfs(ctx context.Context, containerID string) error {
	dir, err := s.containerDir(containerID)
	if err != nil {
		return err
	}
	// Deleting through a mount would empty whatever is mounted there; the executor mounts
	// rootfs in the container's own mount namespace, so anything here is a caller's bug.
	if mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir)); err == nil && len(mounts) > 0 {
		return fmt.Errorf("container %q: %s is still mounted: %w", containerID, mounts[0].Mountpoint, errdefs.ErrFailedPrecondition)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("container %q: remove writable layer: %w", containerID, err)
	}
	s.mu.Lock()
	_, had := s.leases[containerID]
	if had {
		if err := s.deleteLease(containerID); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("container %q: remove lease: %w", containerID, err)
		}
		delete(s.leases, containerID)
	}
	s.mu.Unlock()
	if had {
		return s.gc()
	}
	return nil
}
