package images

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FsUsage is the space and inodes used under Mountpoint.
type FsUsage struct {
	Mountpoint string
	UsedBytes  uint64
	InodesUsed uint64
}

// ImageFsUsage reports the real bytes (allocated blocks) and inodes used by Root: blobs,
// snapshots and metadata. The walk is cached until the store changes.
func (s *Service) ImageFsUsage() (FsUsage, error) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if s.usageCache != nil {
		return *s.usageCache, nil
	}
	u, err := diskUsage(s.cfg.Root)
	if err != nil {
		return FsUsage{}, err
	}
	s.usageCache = &u
	return u, nil
}

func (s *Service) invalidateUsage() {
	s.usageMu.Lock()
	s.usageCache = nil
	s.usageMu.Unlock()
}

// ContainersDir is where the writable layers live: <ContainersDir>/<container id>/{upper,work}.
func (s *Service) ContainersDir() string { return s.cfg.ContainersDir }

// ContainerFsUsage reports what all writable layers under ContainersDir use (a walk).
func (s *Service) ContainerFsUsage() (FsUsage, error) {
	return diskUsage(s.cfg.ContainersDir)
}

// RootfsUsage reports what one container's writable layer (its upper dir) uses.
func (s *Service) RootfsUsage(containerID string) (FsUsage, error) {
	dir, err := s.containerDir(containerID)
	if err != nil {
		return FsUsage{}, err
	}
	return diskUsage(filepath.Join(dir, "upper"))
}

// diskUsage walks root counting each inode once (hard links share one).
func diskUsage(root string) (FsUsage, error) {
	u := FsUsage{Mountpoint: root}
	type key struct{ dev, ino uint64 }
	seen := map[key]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		k := key{uint64(st.Dev), st.Ino}
		if seen[k] {
			return nil
		}
		seen[k] = true
		u.InodesUsed++
		u.UsedBytes += uint64(st.Blocks) * 512
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return u, err
}
