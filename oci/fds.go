package oci

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// closeExtraFds closes every fd above 2 but keep (the sync socket) before the
// container can see the process: while the init waits for Start, a process of
// the pod sharing its PID namespace could otherwise follow /proc/<pid>/fd to
// a host directory (the rootfs mount point of a user namespace container), a
// mount clone, or an fd the monitor itself inherited. The Go runtime's
// anonymous inodes (epoll, eventfd) stay: they name no file. The runtime opens
// no cgroup file in the init (initGodebug), and what is opened later is closed
// by execve (finalize).
func closeExtraFds(keep int) {
	for _, fd := range fdsToWalk(4096) {
		if fd <= 2 || fd == keep {
			continue
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil || st.Type == unix.ANON_INODE_FS_MAGIC {
			continue // not open, or the runtime's
		}
		unix.Close(fd)
	}
}

// fdsToWalk lists this process's open fds, or when there is no procfs to list
// them (a spec without /proc) every number from 3 below limit and
// RLIMIT_NOFILE (limit 0: no cap but the rlimit's).
func fdsToWalk(limit uint64) []int {
	names, err := openFdNames()
	if err == nil {
		return names
	}
	var lim unix.Rlimit
	n := limit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && (n == 0 || lim.Cur < n) {
		n = lim.Cur
	}
	if n == 0 || n > 1<<20 {
		n = 1 << 20 // the kernel's default nr_open: no fd can lie above it
	}
	for fd := 3; fd < int(n); fd++ {
		names = append(names, fd)
	}
	return names
}

// cloexecFrom3 marks every fd above 2 close-on-exec, just before execve:
// close_range's CLOEXEC flag does it in one call (5.11). Without it
// (noFlag, the executor's probe) each fd listed from procfs is marked
// (fdsToWalk, with no cap: a missed fd would reach the container). The
// listing fds are close-on-exec themselves and are closed before returning.
func cloexecFrom3(noFlag bool) error {
	if !noFlag {
		if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
			return fmt.Errorf("close_range: %w", err)
		}
		return nil
	}
	for _, fd := range fdsToWalk(0) {
		if fd <= 2 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("mark fd %d close-on-exec: %w", fd, err)
		}
	}
	return nil
}

// openFdNames lists this process's open fds from its procfs (checked to be
// one, and its fd dir not overmounted); the fds used to list them are closed
// again. On error the caller tries every fd number instead.
func openFdNames() ([]int, error) {
	proc, err := openProcfs("/proc")
	if err != nil {
		return nil, err
	}
	defer proc.Close()
	// By pid (self is a symlink) and crossing no mount: a volume mounted over
	// this fd dir through a symlink in the image would list no fd at all.
	dfd, err := unix.Openat2(int(proc.Fd()), strconv.Itoa(unix.Getpid())+"/fd", &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, err
	}
	d := os.NewFile(uintptr(dfd), "fd")
	list, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, s := range list {
		if fd, err := strconv.Atoi(s); err == nil && fd != dfd && fd != int(proc.Fd()) {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// initGodebug is in the init's environment: Go (1.25+) would otherwise open
// its cgroup's CPU files at start and keep them open for GOMAXPROCS updates.
const initGodebug = "GODEBUG=containermaxprocs=0,updatemaxprocs=0"
