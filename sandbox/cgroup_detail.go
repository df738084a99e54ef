package sandbox

import (
	"os"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	"golang.org/x/sys/unix"
)

// CgroupDetail are the figures behind kubelet's cadvisor-named metrics
// (ListPodSandboxMetrics) that the monitor's basic Stats do not carry. They are read from
// the container's own cgroup, found through /proc/<pid>/cgroup, so the path is right
// whatever the cgroup driver and hierarchy (v1, hybrid or unified).
type CgroupDetail struct {
	CPUUserNanos, CPUSystemNanos                       uint64
	CFSPeriods, CFSThrottledPeriods, CFSThrottledNanos uint64
	MemoryCache, MemoryMappedFile, MemoryKernel        uint64
	MemoryMaxUsage, MemoryFailcnt, MemorySwap          uint64
	PageFaults, MajorPageFaults                        uint64
	OOMEvents                                          uint64
	PidsLimit                                          uint64
	FileDescriptors, Sockets, Threads                  uint64
	Blkio                                              []BlkioDevice
	// The writable layer's filesystem (statfs).
	FsLimitBytes, FsInodesTotal, FsInodesFree uint64
}

// BlkioDevice is one block device's I/O by the container.
type BlkioDevice struct {
	Major, Minor                         uint64
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// readCgroupDetail reads pid's cgroup. A container that exited has none: nil.
func readCgroupDetail(pid int) *CgroupDetail {
	if pid <= 0 {
		return nil
	}
	var d *CgroupDetail
	var procs []uint64
	if cgroups.Mode() == cgroups.Unified {
		d, procs = readV2(pid)
	} else {
		d, procs = readV1(pid)
	}
	if d == nil {
		return nil
	}
	for _, p := range procs {
		countProcess(d, int(p))
	}
	return d
}

func readV1(pid int) (*CgroupDetail, []uint64) {
	cg, err := cgroup1.Load(cgroup1.PidPath(pid))
	if err != nil {
		return nil, nil
	}
	st, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, nil
	}
	d := &CgroupDetail{}
	if c := st.CPU; c != nil {
		if u := c.Usage; u != nil {
			d.CPUUserNanos, d.CPUSystemNanos = u.User, u.Kernel
		}
		if t := c.Throttling; t != nil {
			d.CFSPeriods, d.CFSThrottledPeriods, d.CFSThrottledNanos = t.Periods, t.ThrottledPeriods, t.ThrottledTime
		}
	}
	if m := st.Memory; m != nil {
		d.MemoryCache, d.MemoryMappedFile = m.TotalCache, m.TotalMappedFile
		d.PageFaults, d.MajorPageFaults = m.TotalPgFault, m.TotalPgMajFault
		if m.Usage != nil {
			d.MemoryMaxUsage, d.MemoryFailcnt = m.Usage.Max, m.Usage.Failcnt
		}
		if m.Kernel != nil {
			d.MemoryKernel = m.Kernel.Usage
		}
		if m.Swap != nil && m.Usage != nil && m.Swap.Usage > m.Usage.Usage {
			d.MemorySwap = m.Swap.Usage - m.Usage.Usage // memsw counts memory + swap
		}
	}
	if o := st.MemoryOomControl; o != nil {
		d.OOMEvents = o.OomKill
	}
	if p := st.Pids; p != nil {
		d.PidsLimit = p.Limit
	}
	if b := st.Blkio; b != nil {
		devs := map[[2]uint64]*BlkioDevice{}
		dev := func(maj, mnr uint64) *BlkioDevice {
			k := [2]uint64{maj, mnr}
			if devs[k] == nil {
				devs[k] = &BlkioDevice{Major: maj, Minor: mnr}
			}
			return devs[k]
		}
		for _, e := range b.IoServiceBytesRecursive {
			switch strings.ToLower(e.Op) {
			case "read":
				dev(e.Major, e.Minor).ReadBytes += e.Value
			case "write":
				dev(e.Major, e.Minor).WriteBytes += e.Value
			}
		}
		for _, e := range b.IoServicedRecursive {
			switch strings.ToLower(e.Op) {
			case "read":
				dev(e.Major, e.Minor).Reads += e.Value
			case "write":
				dev(e.Major, e.Minor).Writes += e.Value
			}
		}
		for _, v := range devs {
			d.Blkio = append(d.Blkio, *v)
		}
	}
	var procs []uint64
	if ps, err := cg.Processes(cgroup1.Pids, true); err == nil {
		for _, p := range ps {
			procs = append(procs, uint64(p.Pid))
		}
	}
	return d, procs
}

func readV2(pid int) (*CgroupDetail, []uint64) {
	path, err := cgroup2.PidGroupPath(pid)
	if err != nil {
		return nil, nil
	}
	mgr, err := cgroup2.Load(path)
	if err != nil {
		return nil, nil
	}
	st, err := mgr.Stat()
	if err != nil {
		return nil, nil
	}
	d := &CgroupDetail{}
	if c := st.CPU; c != nil {
		d.CPUUserNanos, d.CPUSystemNanos = c.UserUsec*1000, c.SystemUsec*1000
		d.CFSPeriods, d.CFSThrottledPeriods, d.CFSThrottledNanos = c.NrPeriods, c.NrThrottled, c.ThrottledUsec*1000
	}
	if m := st.Memory; m != nil {
		d.MemoryCache, d.MemoryMappedFile = m.File, m.FileMapped
		d.MemoryKernel = m.KernelStack + m.Slab
		d.PageFaults, d.MajorPageFaults = m.Pgfault, m.Pgmajfault
		d.MemoryMaxUsage, d.MemorySwap = m.MaxUsage, m.SwapUsage
	}
	if e := st.MemoryEvents; e != nil {
		d.OOMEvents, d.MemoryFailcnt = e.OomKill, e.Max
	}
	if p := st.Pids; p != nil {
		d.PidsLimit = p.Limit
	}
	if io := st.Io; io != nil {
		for _, e := range io.Usage {
			d.Blkio = append(d.Blkio, BlkioDevice{Major: e.Major, Minor: e.Minor, ReadBytes: e.Rbytes, WriteBytes: e.Wbytes, Reads: e.Rios, Writes: e.Wios})
		}
	}
	procs, _ := mgr.Procs(true)
	return d, procs
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
