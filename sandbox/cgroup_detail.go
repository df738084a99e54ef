package sandbox

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CgroupDetail are the figures behind kubelet's cadvisor-named metrics
// (ListPodSandboxMetrics) that the cgroup's own files do not hold: what its
// processes have open, and the writable layer's filesystem.
type CgroupDetail struct {
	FileDescriptors, Sockets, Threads uint64
	// The writable layer's filesystem (statfs).
	FsLimitBytes, FsInodesTotal, FsInodesFree uint64
}

// readCgroupDetail counts the threads, open files and sockets of procs.
func readCgroupDetail(procs []int) *CgroupDetail {
	d := &CgroupDetail{}
	for _, p := range procs {
		countProcess(d, p)
	}
	return d
}

// countProcess adds pid's threads, open files and sockets.
func countProcess(d *CgroupDetail, pid int) {
	base := "/proc/" + strconv.Itoa(pid)
	if ts, err := os.ReadDir(base + "/task"); err == nil {
		d.Threads += uint64(len(ts))
	}
	fds, err := os.ReadDir(base + "/fd")
	if err != nil {
		return
	}
	d.FileDescriptors += uint64(len(fds))
	for _, fd := range fds {
		if l, err := os.Readlink(base + "/fd/" + fd.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			d.Sockets++
		}
	}
}

// statfsInto fills the writable layer's filesystem size and inodes.
func statfsInto(d *CgroupDetail, path string) {
	var s unix.Statfs_t
	if path == "" || unix.Statfs(path, &s) != nil {
		return
	}
	d.FsLimitBytes = s.Blocks * uint64(s.Bsize)
	d.FsInodesTotal, d.FsInodesFree = s.Files, s.Ffree
}
