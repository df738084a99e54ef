package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Every path inside the container's rootfs is resolved with openat2
// RESOLVE_IN_ROOT against an fd of the rootfs: a symlink in the image (even one
// swapped in while we work, CVE-2021-30465) resolves inside the rootfs, never
// onto the host. RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd style jumps.
const inRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

func openInRoot(rootfd int, path string, flags uint64) (int, error) {
	rel := strings.TrimPrefix(filepath.Clean("/"+path), "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &unix.OpenHow{Flags: flags | unix.O_CLOEXEC, Resolve: inRoot})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// mkdirAllInRoot creates path (and its parents) inside the root and returns an
// O_PATH fd of it. Each component is created with mkdirat on an fd of its
// parent that was itself resolved in the root, so no symlink leads outside; a
// dangling symlink on the way is followed (inside the root) and its target
// created, as filepath-securejoin's MkdirAll does.
func mkdirAllInRoot(rootfd int, path string, mode uint32) (int, error) {
	if fd, err := openInRoot(rootfd, path, unix.O_PATH|unix.O_DIRECTORY); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parts := strings.Split(strings.Trim(filepath.Clean("/"+path), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		next := filepath.Join(cur, p)
		fd, err := openInRoot(rootfd, next, unix.O_PATH|unix.O_DIRECTORY)
		if errors.Is(err, unix.ENOENT) {
			pfd, perr := openInRoot(rootfd, cur, unix.O_PATH|unix.O_DIRECTORY)
			if perr != nil {
				return -1, perr
			}
			err = unix.Mkdirat(pfd, p, mode)
			if errors.Is(err, unix.EEXIST) {
				// Something is there but does not resolve: a dangling symlink.
				buf := make([]byte, 4096)
				n, lerr := unix.Readlinkat(pfd, p, buf)
				unix.Close(pfd)
				if lerr != nil || hops > 40 {
					return -1, fmt.Errorf("mkdir %s: %w", next, unix.ELOOP)
				}
				hops++
				target := string(buf[:n])
				if !filepath.IsAbs(target) {
					target = filepath.Join(cur, target)
				}
				// Restart from the root with the link replaced by its target;
				// RESOLVE_IN_ROOT keeps ".." and absolute targets inside.
				parts = append(strings.Split(strings.Trim(filepath.Clean("/"+target), "/"), "/"), parts[1:]...)
				cur = "/"
				continue
			}
			unix.Close(pfd)
			if err != nil {
				return -1, fmt.Errorf("mkdir %s: %w", next, err)
			}
			fd, err = openInRoot(rootfd, next, unix.O_PATH|unix.O_DIRECTORY)
		}
		if err != nil {
			return -1, fmt.Errorf("open %s: %w", next, err)
		}
		unix.Close(fd)
		cur = next
		parts = parts[1:]
	}
	return openInRoot(rootfd, path, unix.O_PATH|unix.O_DIRECTORY)
}

// createFileInRoot makes sure path exists as a non-directory (a bind target for
// a file) and returns an O_PATH fd of it.
func createFileInRoot(rootfd int, path string) (int, error) {
	if fd, err := openInRoot(rootfd, path, unix.O_PATH); err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	dir, base := filepath.Split(filepath.Clean("/" + path))
	dfd, err := mkdirAllInRoot(rootfd, dir, 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	// mknodat never follows a symlink at base: EEXIST instead.
	if err := unix.Mknodat(dfd, base, unix.S_IFREG|0o644, 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, fmt.Errorf("create %s: %w", path, err)
	}
	return openInRoot(rootfd, path, unix.O_PATH)
}

// openProcfs opens the procfs mounted at path and checks with fstatfs that it
// really is procfs (a container could otherwise have put a tmpfs or a symlink
// there to redirect our writes to sysctls or oom_score_adj).
func openProcfs(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Type != unix.PROC_SUPER_MAGIC {
		unix.Close(fd)
		return nil, fmt.Errorf("%s is not procfs", path)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// openProcFile opens a file below a verified procfs fd for writing, refusing symlinks.
func openProcFile(proc *os.File, rel string) (int, error) {
	return unix.Openat2(int(proc.Fd()), rel, &unix.OpenHow{
		Flags:   unix.O_WRONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// writeProcFile writes a file below a verified procfs fd, refusing symlinks.
func writeProcFile(proc *os.File, rel, value string) error {
	fd, err := openProcFile(proc, rel)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	_, err = f.WriteString(value)
	return err
}
