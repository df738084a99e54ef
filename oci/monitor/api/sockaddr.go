package api

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxSunPath is what fits in sockaddr_un.sun_path with its terminating NUL.
const maxSunPath = 107

// SocketAddr returns an address for the unix socket at path that fits sun_path. A long
// path (a deep --state dir plus a 64-hex pod id) is reached through an O_PATH fd of its
// directory as /proc/self/fd/N/<name>, which the kernel resolves like the real path;
// release closes that fd once bind or connect has returned.
func SocketAddr(path string) (addr string, release func(), err error) {
	if len(path) <= maxSunPath {
		return path, func() {}, nil
	}
	fd, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("socket dir of %s: %w", path, err)
	}
	addr = fmt.Sprintf("/proc/self/fd/%d/%s", fd, filepath.Base(path))
	if len(addr) > maxSunPath {
		unix.Close(fd)
		return "", nil, fmt.Errorf("socket name %q too long", filepath.Base(path))
	}
	return addr, func() { unix.Close(fd) }, nil
}
