package oci

import (
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
	names, err := openFdNames()
	if err != nil {
		// No procfs to list them (a spec without /proc): try every number.
		var lim unix.Rlimit
		n := 4096
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur < uint64(n) {
			n = int(lim.Cur)
		}
		for fd := 3; fd < n; fd++ {
			names = append(names, fd)
		}
	}
	for _, fd := range names {
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
