package oci

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupRoot and cgroupV2 are variables only so that unit tests can drive the
// v2 code on a fake tree (this project's CI VM is a v1 hybrid).
var (
	cgroupRoot = "/sys/fs/cgroup"
	// cgroupV2 reports whether the host runs the unified hierarchy only. A
	// hybrid host (v1 controllers plus an empty "unified" mount) is driven
	// through v1: that is where the controllers are.
	cgroupV2 = func() bool { return cgroups.Mode() == cgroups.Unified }
)

// cgroupPath resolves Spec.Linux.CgroupsPath to a path relative to each hierarchy
// root. A systemd-style "slice:prefix:name" maps to the path systemd would use
// ("a-b.slice:cri:id" -> "/a.slice/a-b.slice/cri-id.scope"); crid manages that
// path itself through cgroupfs, so no systemd needs to run.
func cgroupPath(spec *specs.Spec) (string, error) {
	if spec == nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return "", errors.New("spec has no linux.cgroupsPath")
	}
	p := spec.Linux.CgroupsPath
	if parts := strings.Split(p, ":"); len(parts) == 3 && !strings.HasPrefix(p, "/") {
		slice, prefix, name := parts[0], parts[1], parts[2]
		if slice == "" {
			slice = "system.slice"
		}
		unit := name
		if !strings.HasSuffix(name, ".slice") {
			if prefix != "" {
				unit = prefix + "-" + name
			}
			unit += ".scope"
		}
		p = filepath.Join("/", expandSlice(slice), unit)
	} else {
		p = filepath.Clean("/" + p)
	}
	if p == "/" || strings.Contains(p, "/../") {
		return "", fmt.Errorf("cgroupsPath %q: refusing the root cgroup", spec.Linux.CgroupsPath)
	}
	return p, nil
}

// expandSlice turns "a-b-c.slice" into "a.slice/a-b.slice/a-b-c.slice" as systemd does.
func expandSlice(slice string) string {
	if slice == "-.slice" || !strings.HasSuffix(slice, ".slice") {
		return slice
	}
	name := strings.TrimSuffix(slice, ".slice")
	var path, prefix string
	for _, part := range strings.Split(name, "-") {
		if part == "" {
			continue
		}
		prefix += part
		path = filepath.Join(path, prefix+".slice")
		prefix += "-"
	}
	return path
}

func specResources(spec *specs.Spec) *specs.LinuxResources {
	if spec.Linux != nil && spec.Linux.Resources != nil {
		return spec.Linux.Resources
	}
	return &specs.LinuxResources{}
}

// cgroupHandle is a container cgroup in either hierarchy version.
type cgroupHandle struct {
	path string
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
}

// v1Resources strips what v1 cannot take (unified keys). The devices list
// stays: the device cgroup (devices.allow/deny on v1, an eBPF program on v2)
// is what stops a container with CAP_MKNOD from making and opening the
// host's disks.
func v1Resources(r *specs.LinuxResources) *specs.LinuxResources {
	c := *r
	c.Unified = nil
	return &c
}

func newCgroup(spec *specs.Spec) (*cgroupHandle, error) {
	p, err := cgroupPath(spec)
	if err != nil {
		return nil, err
	}
	r := specResources(spec)
	h := &cgroupHandle{path: p}
	if cgroupV2() {
		h.v2, err = cgroup2.NewManager(cgroupRoot, p, cgroup2.ToResources(r))
		if err == nil {
			err = writeUnified(p, r.Unified)
		}
	} else {
		h.v1, err = cgroup1.New(cgroup1.StaticPath(p), v1Resources(r))
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p, err)
	}
	return h, nil
}

func loadCgroup(spec *specs.Spec) (*cgroupHandle, error) {
	p, err := cgroupPath(spec)
	if err != nil {
		return nil, err
	}
	h := &cgroupHandle{path: p}
	if cgroupV2() {
		h.v2, err = cgroup2.Load(p, cgroup2.WithMountpoint(cgroupRoot))
	} else {
		h.v1, err = cgroup1.Load(cgroup1.StaticPath(p))
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", p, err)
	}
	return h, nil
}

// add places pid in every hierarchy of the cgroup.
func (h *cgroupHandle) add(pid int) error {
	if h.v2 != nil {
		return h.v2.AddProc(uint64(pid))
	}
	return h.v1.AddProc(uint64(pid))
}

// dirFd opens the v2 cgroup directory for clone3 CLONE_INTO_CGROUP; nil on v1.
func (h *cgroupHandle) dirFd() (*os.File, error) {
	if h.v2 == nil {
		return nil, nil
	}
	return os.OpenFile(filepath.Join(cgroupRoot, h.path), os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
}

// UpdateResources changes the resources of a container's cgroup live.
func UpdateResources(spec *specs.Spec, r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	h, err := loadCgroup(spec)
	if err != nil {
		return err
	}
	if h.v2 != nil {
		err = h.v2.Update(cgroup2.ToResources(r))
		if err == nil {
			err = writeUnified(h.path, r.Unified)
		}
	} else {
		err = h.v1.Update(v1Resources(r))
	}
	if err != nil {
		return fmt.Errorf("update cgroup %s: %w", h.path, err)
	}
	return nil
}

// writeUnified writes linux.resources.unified keys ("memory.high": "...") as
// files of the v2 cgroup; the library's conversion does not carry them.
func writeUnified(p string, kv map[string]string) error {
	for k, v := range kv {
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." || strings.HasPrefix(k, "cgroup.") {
			return fmt.Errorf("unified key %q not allowed", k)
		}
		f, err := os.OpenFile(filepath.Join(cgroupRoot, p, k), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return fmt.Errorf("unified %s: %w", k, err)
		}
		_, err = f.WriteString(v)
		f.Close()
		if err != nil {
			return fmt.Errorf("unified %s=%s: %w", k, v, err)
		}
	}
	return nil
}

// unlimited turns the kernel's "no limit" figures into 0.
func unlimited(v uint64) uint64 {
	if v >= 1<<62 {
		return 0
	}
	return v
}

// ReadStats reads the container's cgroup statistics.
func ReadStats(spec *specs.Spec) (*Stats, error) {
	h, err := loadCgroup(spec)
	if err != nil {
		return nil, err
	}
	s := &Stats{Timestamp: time.Now()}
	if h.v2 != nil {
		m, err := h.v2.Stat()
		if err != nil {
			return nil, fmt.Errorf("cgroup %s stats: %w", h.path, err)
		}
		if c := m.GetCPU(); c != nil {
			s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = c.UsageUsec*1000, c.UserUsec*1000, c.SystemUsec*1000
		}
		if mm := m.GetMemory(); mm != nil {
			s.MemoryUsage, s.MemoryRSS, s.MemoryCache = mm.Usage, mm.Anon, mm.File
			s.MemoryLimit = unlimited(mm.UsageLimit)
			s.PageFaults, s.MajorPageFaults = mm.Pgfault, mm.Pgmajfault
			s.MemoryWorkingSet = workingSet(mm.Usage, mm.InactiveFile)
		}
		if e := m.GetMemoryEvents(); e != nil {
			s.OOMEvents = e.OomKill
		}
		if p := m.GetPids(); p != nil {
			s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
		}
		return s, nil
	}
	m, err := h.v1.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s stats: %w", h.path, err)
	}
	if c := m.GetCPU(); c != nil && c.Usage != nil {
		s.CPUUsageNanos, s.CPUUserNanos, s.CPUSystemNanos = c.Usage.Total, c.Usage.User, c.Usage.Kernel
	}
	if mm := m.GetMemory(); mm != nil && mm.Usage != nil {
		s.MemoryUsage = mm.Usage.Usage
		s.MemoryLimit = unlimited(mm.Usage.Limit)
		s.MemoryRSS, s.MemoryCache = mm.TotalRSS, mm.TotalCache
		s.PageFaults, s.MajorPageFaults = mm.TotalPgFault, mm.TotalPgMajFault
		s.MemoryWorkingSet = workingSet(mm.Usage.Usage, mm.TotalInactiveFile)
	}
	if p := m.GetPids(); p != nil {
		s.Pids, s.PidsLimit = p.Current, unlimited(p.Limit)
	}
	s.OOMEvents, _ = oomKillCount(h)
	return s, nil
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile > usage {
		return 0
	}
	return usage - inactiveFile
}

// oomKillCount reads the cgroup's "oom_kill" counter: memory.events on v2,
// memory.oom_control on v1 (kernel >= 4.13). The kernel bumps it before the
// victim's exit is visible to wait4, so a monitor that checks it when it reaps
// the container's init learns of the OOM kill before it reports the exit.
func oomKillCount(h *cgroupHandle) (uint64, error) {
	file := filepath.Join(cgroupRoot, h.path, "memory.events")
	if h.v2 == nil {
		file = filepath.Join(cgroupRoot, "memory", h.path, "memory.oom_control")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == "oom_kill" {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// OOMKilled reports whether the kernel OOM-killed a process in the container's
// cgroup (any process, as containerd and CRI-O report it). Call it after
// reaping the container's init and before reporting the exit.
func OOMKilled(spec *specs.Spec) (bool, error) {
	p, err := cgroupPath(spec)
	if err != nil {
		return false, err
	}
	n, err := oomKillCount(&cgroupHandle{path: p, v2: v2Marker()})
	if err != nil {
		return false, fmt.Errorf("cgroup %s: %w", p, err)
	}
	return n > 0, nil
}

// v2Marker returns a non-nil manager value on v2 hosts so that the path helpers
// pick the v2 layout without loading the cgroup.
func v2Marker() *cgroup2.Manager {
	if cgroupV2() {
		return &cgroup2.Manager{}
	}
	return nil
}

// Destroy kills whatever is left in the container's cgroup and removes it. It
// is idempotent: a missing cgroup is not an error.
func Destroy(spec *specs.Spec) error {
	p, err := cgroupPath(spec)
	if err != nil {
		return err
	}
	dirs := cgroupDirs(p)
	// Kill until empty: a fork bomb may keep adding tasks while we kill; freezing
	// would stop it but a frozen v1 cgroup with a dying task can hang rmdir.
	for try := 0; ; try++ {
		pids := cgroupPids(dirs)
		if len(pids) == 0 {
			break
		}
		if try > 500 {
			return fmt.Errorf("cgroup %s: %d processes survive SIGKILL", p, len(pids))
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Duration(min(try+1, 20)) * time.Millisecond)
	}
	var errs []error
	for _, d := range dirs {
		if err := removeCgroupDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cgroupDirs lists the existing directories of cgroup p in every hierarchy.
func cgroupDirs(p string) []string {
	if cgroupV2() {
		d := filepath.Join(cgroupRoot, p)
		if _, err := os.Stat(d); err != nil {
			return nil
		}
		return []string{d}
	}
	ents, err := os.ReadDir(cgroupRoot)
	if err != nil {
		return nil
	}
	var dirs []string
	for _, e := range ents {
		d := filepath.Join(cgroupRoot, e.Name(), p)
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

func cgroupPids(dirs []string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, d := range dirs {
		_ = filepath.WalkDir(d, func(path string, de os.DirEntry, err error) error {
			if err != nil || !de.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					pids = append(pids, pid)
				}
			}
			return nil
		})
	}
	return pids
}

// removeCgroupDir removes d and its child cgroups, deepest first.
func removeCgroupDir(d string) error {
	var sub []string
	_ = filepath.WalkDir(d, func(path string, de os.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			sub = append(sub, path)
		}
		return nil
	})
	var last error
	for i := len(sub) - 1; i >= 0; i-- {
		for try := 0; ; try++ {
			err := syscall.Rmdir(sub[i])
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			// EBUSY while the kernel finishes tearing down killed tasks.
			if errors.Is(err, syscall.EBUSY) && try < 100 {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			last = fmt.Errorf("rmdir %s: %w", sub[i], err)
			break
		}
	}
	return last
}
