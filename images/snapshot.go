package images

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Snapshots: one directory per layer, snapshots/<chainid-hex>/fs, holding only that layer's
// own files in overlayfs form (whiteouts as 0:0 char devices, opaque dirs by xattr). Because a
// layer's directory never depends on its parents' contents, layers unpack in parallel; the
// chain ID in the name still makes the stack position explicit and lets identical stacks
// share. A snapshot is unpacked in snapshots/.tmp-*/fs and committed by renaming the
// directory, so a snapshot under its chain ID is always complete.

const tmpPrefix = ".tmp-"

func (s *Service) snapshotsDir() string { return filepath.Join(s.cfg.Root, "snapshots") }

func (s *Service) snapshotDir(chainID string) string {
	return filepath.Join(s.snapshotsDir(), strings.TrimPrefix(chainID, "sha256:"))
}

// snapshotFS is the directory overlayfs uses as a lower dir.
func (s *Service) snapshotFS(chainID string) string {
	return filepath.Join(s.snapshotDir(chainID), "fs")
}

// hasSnapshot reports whether chainID's snapshot is committed. Only a valid chain ID
// names one, and both levels must be real directories (lstat): what a symlink leads to,
// from a layer or planted, is never taken for a snapshot, whose download and digest checks
// would then be skipped.
func (s *Service) hasSnapshot(chainID string) bool {
	if chainID != emptySnapshot && checkDigest("chain ID", chainID) != nil {
		return false
	}
	for _, p := range []string{s.snapshotDir(chainID), s.snapshotFS(chainID)} {
		fi, err := os.Lstat(p)
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// newSnapshotTemp makes an empty temp snapshot; its fs dir is where a layer is unpacked.
func (s *Service) newSnapshotTemp() (string, error) {
	dir, err := os.MkdirTemp(s.snapshotsDir(), tmpPrefix)
	if err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "fs"), 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// openFS opens dir, an unpack's temp snapshot, for syncFS, before the layer's first byte
// (file or blob) is written: syncfs reports the filesystem's writeback errors since its fd
// was opened (errseq), and one opened only to sync would miss an error that anyone's
// syncfs on the filesystem, another layer's included, reported first (Linux marks it
// seen, and an fd opened later samples it as old).
func openFS(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("sync %s: %w", dir, err)
	}
	return f, nil
}

// syncFS makes everything written to d's filesystem durable: for an unpacked layer, syncfs
// once is far cheaper than an fsync per file and gives the same guarantee, nothing is
// committed that a power loss could leave half-written; the layer's blob, beside it, is
// covered by the same call. d comes from openFS, before the writes.
func syncFS(d *os.File) error {
	rc, err := d.SyscallConn()
	if err == nil {
		if cerr := rc.Control(func(fd uintptr) { err = unix.Syncfs(int(fd)) }); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", d.Name(), err)
	}
	return nil
}

// commitSnapshot moves an unpacked tree, synced (syncFS), under chainID; syncContentDirs
// makes the rename durable.
func (s *Service) commitSnapshot(tmp, chainID string) error {
	if err := checkDigest("chain ID", chainID); err != nil {
		return err
	}
	if err := os.Rename(tmp, s.snapshotDir(chainID)); err != nil {
		if s.hasSnapshot(chainID) { // someone else committed it first
			os.RemoveAll(tmp)
			return nil
		}
		return fmt.Errorf("snapshot %s: %w", chainID, err)
	}
	return nil
}

// chainIDs computes the OCI chain IDs of a layer stack from its diff IDs (bottom first).
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// emptySnapshot is the lower dir of an image with no layers (overlayfs needs one).
const emptySnapshot = "empty"

func (s *Service) ensureEmptySnapshot() (string, error) {
	fs := s.snapshotFS(emptySnapshot)
	if err := os.MkdirAll(fs, 0o755); err != nil {
		return "", err
	}
	return fs, nil
}
