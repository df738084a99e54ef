package images

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
)

// The content store: every blob (manifest, index, config, compressed layer) once per digest
// in blobs/sha256/<hex>, shared by all images. Blobs are written to blobs/ingest/, verified
// against their digest, made durable (fsync, or the syncfs of the layer unpacked beside
// them) and only then renamed into place, so a blob under its digest is always complete and
// correct. The renames are made durable (syncContentDirs) before an image record names them.

func (s *Service) blobDir() string   { return filepath.Join(s.cfg.Root, "blobs", "sha256") }
func (s *Service) ingestDir() string { return filepath.Join(s.cfg.Root, "blobs", "ingest") }
func (s *Service) tmpDir() string    { return filepath.Join(s.cfg.Root, "tmp") }

func (s *Service) blobPath(digest string) (string, error) {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexPart) != 64 || !isHex(hexPart) {
		return "", fmt.Errorf("digest %q: only sha256 is supported: %w", digest, errdefs.ErrInvalidArgument)
	}
	return filepath.Join(s.blobDir(), hexPart), nil
}

func (s *Service) hasBlob(digest string) bool {
	p, err := s.blobPath(digest)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

func (s *Service) openBlob(digest string) (*os.File, error) {
	p, err := s.blobPath(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", digest, errdefs.ErrNotFound)
	}
	return f, err
}

func (s *Service) readBlob(digest string) ([]byte, error) {
	f, err := s.openBlob(digest)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// writeBlob stores data under digest after checking it matches.
func (s *Service) writeBlob(digest string, data []byte) error {
	if s.hasBlob(digest) {
		return nil
	}
	w, err := s.newIngest()
	if err != nil {
		return err
	}
	defer w.abort()
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.commit(digest, int64(len(data)))
}

// ingest is a blob being written: a temp file and its running digest and size.
type ingest struct {
	s *Service
	f *os.File
	// Bytes go through buf (writeBufs, taken at the first write) to out in whole buffers:
	// O_DIRECT (direct.go), the tail buffered at commit.
	out  directFile
	buf  *[]byte
	bn   int
	sum  *contentSum
	done bool
	// synced: the caller made the data durable already (a syncfs of the same filesystem).
	synced bool
}

func (s *Service) newIngest() (*ingest, error) {
	f, err := os.CreateTemp(s.ingestDir(), "blob-")
	if err != nil {
		return nil, fmt.Errorf("content store: %w", err)
	}
	return &ingest{s: s, f: f, out: directFile{f: f}, sum: newContentSum(false)}, nil
}

// sourceVerifies drops the digest: the caller's source checks it and fails the read that
// reaches its end on a mismatch, and the caller commits only after reading to the end.
func (w *ingest) sourceVerifies() { w.sum = newContentSum(true) }

func (w *ingest) Write(p []byte) (int, error) {
	n, _ := w.sum.Write(p)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = getWriteBuf()
		}
		c := copy((*w.buf)[w.bn:], p)
		w.bn += c
		p = p[c:]
		if w.bn == len(*w.buf) {
			if err := w.out.write(*w.buf); err != nil {
				return 0, err
			}
			w.bn = 0
		}
	}
	return n, nil
}

// flush writes what buf holds (the blob's tail) and gives buf back. Bytes written here are
// not covered by a sync made before (synced is dropped): commit then fsyncs.
func (w *ingest) flush() error {
	if w.buf == nil {
		return nil
	}
	// A blob smaller than a buffer is written buffered: a direct write waits for the device.
	tail := (*w.buf)[:w.bn]
	if len(tail) > 0 {
		w.synced = false
	}
	var err error
	if w.out.direct {
		err = w.out.write(tail)
	} else {
		_, err = w.f.Write(tail)
	}
	putWriteBuf(w.buf)
	w.buf, w.bn = nil, 0
	return err
}

// commit verifies the digest (and size, when known: size < 0 skips it) and moves the blob
// into place, its data durable first. A mismatch removes the temp file and fails.
func (w *ingest) commit(digest string, size int64) error {
	if err := w.flush(); err != nil {
		return err
	}
	if err := w.sum.check(digest, size); err != nil {
		return err
	}
	if !w.synced {
		if err := w.f.Sync(); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return err
	}
	dst, err := w.s.blobPath(digest)
	if err != nil {
		return err
	}
	if err := os.Chmod(w.f.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		return err
	}
	w.done = true
	return nil
}

// onFS reports whether the blob is on the filesystem dir is on.
func (w *ingest) onFS(dir string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(w.f.Fd()), &a) == nil && unix.Stat(dir, &b) == nil && a.Dev == b.Dev
}

// syncContentDirs makes the blob and snapshot renames so far durable. An ingest calls it
// before its image record is saved, whoever renamed them (a concurrent pull sharing a
// layer included): once per image rather than once per blob and layer; with nothing new,
// it costs no journal commit.
func (s *Service) syncContentDirs() error {
	for _, d := range []string{s.blobDir(), s.snapshotsDir()} {
		if err := s.syncDir(d); err != nil {
			return fmt.Errorf("content store: %w", err)
		}
	}
	return nil
}

// abort removes the temp file unless the blob was committed. Safe to call twice.
func (w *ingest) abort() {
	if w.done {
		return
	}
	w.done = true
	if w.buf != nil {
		putWriteBuf(w.buf)
		w.buf = nil
	}
	w.f.Close()
	os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
