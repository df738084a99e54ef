package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Unpacking a layer tar into a snapshot directory. Every path is resolved with openat2
// RESOLVE_IN_ROOT against the snapshot root, so "..", absolute names and symlinks (absolute
// or relative, made earlier in the same tar) can never lead outside it; the entry itself is
// then created with *at calls relative to its resolved parent and never followed. Hardlink
// targets are resolved the same way. OCI whiteouts are turned into overlayfs form:
// ".wh.<name>" becomes a 0:0 character device, ".wh..wh..opq" the trusted.overlay.opaque=y
// xattr on its directory.

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	opaqueXattr    = "trusted.overlay.opaque"
)

type unpacker struct {
	rootFd  int
	limit   int64 // > 0: the most bytes the layer's files may hold, counted at their full size
	written int64
	isRoot  bool
	buf     *[]byte // writeBufs: aligned, for O_DIRECT (direct.go)
	dirs    []dirTimes
	cacheP  string // parent dir fd cache: the last parent resolved, valid until a removal
	cacheFd int
}

type dirTimes struct {
	rel          string
	atime, mtime time.Time
}

// unpackLayer extracts the tar stream r into dir, which must exist and be empty. With
// limit > 0 the files may hold at most limit bytes in all.
func unpackLayer(r io.Reader, dir string, limit int64) error {
	rootFd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	u := &unpacker{rootFd: rootFd, limit: limit, isRoot: os.Geteuid() == 0, buf: getWriteBuf(), cacheFd: -1}
	defer u.close()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack: reading tar: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("unpack %q: %w", hdr.Name, err)
		}
	}
	// Directory times last, deepest first: creating children changed them.
	for i := len(u.dirs) - 1; i >= 0; i-- {
		d := u.dirs[i]
		u.setTimes(d.rel, d.atime, d.mtime)
	}
	return nil
}

func (u *unpacker) close() {
	u.dropCache()
	unix.Close(u.rootFd)
	putWriteBuf(u.buf)
}

func (u *unpacker) dropCache() {
	if u.cacheFd >= 0 {
		unix.Close(u.cacheFd)
	}
	u.cacheFd, u.cacheP = -1, ""
}

// cleanRel maps any tar name to a path relative to the root that cannot climb out of it.
func cleanRel(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	rel := cleanRel(hdr.Name)
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, tar.TypeXHeader:
		return nil
	}
	if rel == "" {
		// The layer's root itself ("./"): take its metadata only.
		if hdr.Typeflag == tar.TypeDir {
			return u.applyMeta(u.rootFd, ".", hdr)
		}
		return nil
	}
	parentRel, base := path.Split(rel)
	parentRel = strings.TrimSuffix(parentRel, "/")
	pfd, err := u.parent(parentRel)
	if err != nil {
		return err
	}

	if strings.HasPrefix(base, whiteoutPrefix) {
		if base == whiteoutOpaque {
			return setXattr(pfd, "", opaqueXattr, "y")
		}
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return fmt.Errorf("invalid whiteout")
		}
		if err := u.removeExisting(pfd, name, false); err != nil {
			return err
		}
		if err := unix.Mknodat(pfd, name, unix.S_IFCHR, 0); err != nil {
			return fmt.Errorf("whiteout: %w", err)
		}
		return u.applyMeta(pfd, name, hdr)
	}

	if err := u.removeExisting(pfd, base, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
		u.dirs = append(u.dirs, dirTimes{rel: rel, atime: atime(hdr), mtime: hdr.ModTime})
	case tar.TypeReg, tar.TypeGNUSparse: // the reader reports the old TypeRegA as TypeReg
		// A sparse file (archive/tar reads its holes as zeros) counts at its full length:
		// checked before a byte of it lands on disk.
		if u.limit > 0 && hdr.Size > u.limit-u.written {
			return layerTooBig(fmt.Sprintf("(its files, with this one of %d bytes)", hdr.Size), u.limit)
		}
		u.written += hdr.Size
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		err = u.copyFile(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		// The target is stored verbatim; it is never followed here, and openat2 resolves
		// it inside the root whenever a later entry goes through it.
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
	case tar.TypeLink:
		if err := u.hardlink(pfd, base, hdr.Linkname); err != nil {
			return err
		}
		return nil // a hard link shares the target's metadata
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, mode|0o600, int(dev)); err != nil {
			return err
		}
	default:
		return nil // sparse/unknown types carry nothing we can represent
	}
	return u.applyMeta(pfd, base, hdr)
}

// copyFile writes r to f, leaving holes where whole buffers of zeros come (a sparse
// file's holes, or zeros a layer stores plainly): they read back the same and take no
// disk, so a small blob cannot expand into gigabytes of zeros on the node's disk.
func (u *unpacker) copyFile(f *os.File, r io.Reader) error {
	var size int64
	buf := *u.buf
	out := directFile{f: f}
	for {
		n, err := fill(r, buf)
		if n > 0 {
			chunk := buf[:n]
			var werr error
			switch {
			case isZeros(chunk):
				_, werr = f.Seek(int64(n), io.SeekCurrent)
			case n == len(buf) || out.direct:
				// A file of a buffer or more (the bulk of a layer's bytes) is written
				// direct; smaller ones, many in most layers, buffered: a direct write
				// waits for the device.
				werr = out.write(chunk)
			default:
				_, werr = f.Write(chunk)
			}
			if werr != nil {
				return werr
			}
			size += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return f.Truncate(size) // a trailing hole still counts in the length
		}
		if err != nil {
			return err
		}
	}
}

// fill reads until buf is full or r fails; io.EOF means r ended (a truncated tar entry is
// io.ErrUnexpectedEOF from archive/tar and stays an error).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var zeroBlock [1 << 20]byte

func isZeros(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// fdPath names an entry relative to an O_PATH directory fd through /proc, for the calls
// (xattrs) that have no *at form. /proc/self/fd/N jumps straight to the directory, so no
// component of the path is resolved by name.
func fdPath(fd int, name string) string {
	p := "/proc/self/fd/" + strconv.Itoa(fd)
	if name != "" && name != "." {
		p += "/" + name
	}
	return p
}

// setXattr sets an xattr on name in dir fd, or on the dir itself when name is "" or ".":
// then the /proc magic link must be followed (lsetxattr would address the link itself).
func setXattr(fd int, name, key, value string) error {
	if name == "" || name == "." {
		return unix.Setxattr(fdPath(fd, ""), key, []byte(value), 0)
	}
	return unix.Lsetxattr(fdPath(fd, name), key, []byte(value), 0)
}

func openInRoot(rootFd int, rel string, flags uint64) (int, error) {
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(rootFd, rel, &unix.OpenHow{
			Flags:   flags | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// parent returns an O_PATH fd of directory rel (inside the root), creating missing
// directories. The fd belongs to the cache: callers must not close it.
func (u *unpacker) parent(rel string) (int, error) {
	if u.cacheFd >= 0 && u.cacheP == rel {
		return u.cacheFd, nil
	}
	fd, err := openInRoot(u.rootFd, rel, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		fd, err = u.mkdirAll(rel)
	}
	if err != nil {
		return -1, fmt.Errorf("parent %q: %w", rel, err)
	}
	u.dropCache()
	u.cacheFd, u.cacheP = fd, rel
	return fd, nil
}

func (u *unpacker) mkdirAll(rel string) (int, error) {
	parts := strings.Split(rel, "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := openInRoot(u.rootFd, prefix, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			if i == len(parts)-1 {
				return fd, nil
			}
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return -1, err
		}
		pfd, err := openInRoot(u.rootFd, strings.Join(parts[:i], "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return -1, err
		}
		err = unix.Mkdirat(pfd, parts[i], 0o755)
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, err
		}
		if i == len(parts)-1 {
			return openInRoot(u.rootFd, prefix, unix.O_PATH|unix.O_DIRECTORY)
		}
	}
	return -1, unix.ENOENT
}

// removeExisting clears name in dir pfd so a new entry can take its place; an existing
// directory is kept when the new entry is a directory too (tar semantics: merge).
func (u *unpacker) removeExisting(pfd int, name string, keepDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && keepDir {
		return nil
	}
	u.dropCacheIfInside(pfd)
	if !isDir {
		return unix.Unlinkat(pfd, name, 0)
	}
	// os.RemoveAll walks with openat/unlinkat and never follows symlinks.
	return os.RemoveAll(fdPath(pfd, name))
}

// dropCacheIfInside invalidates the cached parent unless it is pfd itself (removing an
// entry of the cached dir leaves the dir valid; removing a subtree may not).
func (u *unpacker) dropCacheIfInside(pfd int) {
	if u.cacheFd != pfd {
		u.dropCache()
	}
}

func (u *unpacker) hardlink(pfd int, name, target string) error {
	tfd, err := openInRoot(u.rootFd, cleanRel(target), unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", target, err)
	}
	defer unix.Close(tfd)
	err = unix.Linkat(tfd, "", pfd, name, unix.AT_EMPTY_PATH)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EPERM) {
		// Without CAP_DAC_READ_SEARCH AT_EMPTY_PATH is refused; the /proc form works.
		err = unix.Linkat(unix.AT_FDCWD, fdPath(tfd, ""), pfd, name, unix.AT_SYMLINK_FOLLOW)
	}
	return err
}

// applyMeta sets owner, mode, xattrs and times, in that order: chown clears setuid bits
// and security.capability, so mode and xattrs come after it.
func (u *unpacker) applyMeta(pfd int, name string, hdr *tar.Header) error {
	isLink := hdr.Typeflag == tar.TypeSymlink
	if u.isRoot {
		if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	if !isLink {
		mode := uint32(hdr.Mode) & 0o7777
		if err := unix.Fchmodat(pfd, name, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		xname, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if err := setXattr(pfd, name, xname, v); err != nil {
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) {
				// As containerd: an xattr this filesystem or kernel refuses (trusted.*
				// without root, user.* on a symlink, an LSM's security.* label) is
				// dropped rather than failing the whole image.
				continue
			}
			return fmt.Errorf("xattr %s: %w", xname, err)
		}
	}
	if hdr.Typeflag != tar.TypeDir {
		ts := []unix.Timespec{unix.NsecToTimespec(atime(hdr).UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if err := unix.UtimesNanoAt(pfd, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("times: %w", err)
		}
	}
	return nil
}

func (u *unpacker) setTimes(rel string, at, mt time.Time) {
	fd, err := openInRoot(u.rootFd, rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
	_ = unix.UtimesNanoAt(unix.AT_FDCWD, fdPath(fd, ""), ts, 0)
}
