package spec

import (
	"fmt"
	"maps"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// LinuxResources converts CRI resources to the spec's. Zero values mean
// "not specified" in CRI and are left out, so the executor keeps the
// cgroup's current value. Device rules are never produced here: an update
// must not reset them. nil in, nil out.
func LinuxResources(r *runtime.LinuxContainerResources) (*specs.LinuxResources, error) {
	if r == nil {
		return nil, nil
	}
	if err := validateResources(r); err != nil {
		return nil, err
	}
	out := &specs.LinuxResources{}
	cpu := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
	if r.CpuShares > 0 {
		cpu.Shares = ptr(uint64(r.CpuShares))
	}
	if r.CpuQuota != 0 {
		cpu.Quota = ptr(r.CpuQuota)
	}
	if r.CpuPeriod > 0 {
		cpu.Period = ptr(uint64(r.CpuPeriod))
	}
	if *cpu != (specs.LinuxCPU{}) {
		out.CPU = cpu
	}
	if r.MemoryLimitInBytes > 0 || r.MemorySwapLimitInBytes != 0 {
		out.Memory = &specs.LinuxMemory{}
		if r.MemoryLimitInBytes > 0 {
			out.Memory.Limit = ptr(r.MemoryLimitInBytes)
		}
		if r.MemorySwapLimitInBytes != 0 {
			out.Memory.Swap = ptr(r.MemorySwapLimitInBytes)
		}
	}
	for _, h := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.Unified) > 0 {
		out.Unified = maps.Clone(r.Unified)
	}
	return out, nil
}

// The kernel's CFS bandwidth bounds (kernel/sched/core.c): a period of 1 ms to
// 1 s, a quota of at least 1 ms. Checked here so that a value it would refuse
// changes nothing, whichever executor runs the container.
const (
	minCFSPeriod = 1000    // µs
	maxCFSPeriod = 1000000 // µs
	minCFSQuota  = 1000    // µs
)

func validateResources(r *runtime.LinuxContainerResources) error {
	const f = "linux.resources."
	switch {
	case r.CpuShares < 0:
		return invalidf(f+"cpu_shares", "must not be negative")
	case r.CpuPeriod < 0:
		return invalidf(f+"cpu_period", "must not be negative")
	case r.CpuPeriod != 0 && (r.CpuPeriod < minCFSPeriod || r.CpuPeriod > maxCFSPeriod):
		return invalidf(f+"cpu_period", "%d µs is outside the kernel's [%d, %d]", r.CpuPeriod, minCFSPeriod, maxCFSPeriod)
	case r.CpuQuota < -1:
		return invalidf(f+"cpu_quota", "must be -1 (unlimited), 0 (unset) or positive")
	case r.CpuQuota > 0 && r.CpuQuota < minCFSQuota:
		return invalidf(f+"cpu_quota", "%d µs is below the kernel's minimum of %d", r.CpuQuota, minCFSQuota)
	case r.MemoryLimitInBytes < 0:
		return invalidf(f+"memory_limit_in_bytes", "must not be negative")
	case r.MemorySwapLimitInBytes < -1:
		return invalidf(f+"memory_swap_limit_in_bytes", "must be -1 (unlimited), 0 (unset) or positive")
	case r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000:
		return invalidf(f+"oom_score_adj", "%d is outside [-1000, 1000]", r.OomScoreAdj)
	}
	if err := checkCPUList(r.CpusetCpus); err != nil {
		return invalidf(f+"cpuset_cpus", "%v", err)
	}
	if err := checkCPUList(r.CpusetMems); err != nil {
		return invalidf(f+"cpuset_mems", "%v", err)
	}
	for i, h := range r.HugepageLimits {
		if h.GetPageSize() == "" || strings.ContainsAny(h.GetPageSize(), "/.") {
			return invalidf(fmt.Sprintf(f+"hugepage_limits[%d].page_size", i), "%q is not a page size", h.GetPageSize())
		}
	}
	for k := range r.Unified {
		// Keys become file names in the container's cgroup directory.
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." || !strings.Contains(k, ".") {
			return invalidf(fmt.Sprintf(f+"unified[%q]", k), "not a cgroup v2 file name")
		}
	}
	return nil
}

// checkCPUList accepts the kernel's list format: "0-3,5,7-8".
func checkCPUList(s string) error {
	if s == "" {
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isDigits(lo) || (isRange && !isDigits(hi)) {
			return fmt.Errorf("%q is not a list like 0-3,5", s)
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// UpdateResources is UpdateContainerResources: it validates r, merges it into
// s (so the stored spec reports and restarts with the new values; device
// rules are kept) and returns what to pass to the monitor's Update.
func UpdateResources(s *specs.Spec, r *runtime.LinuxContainerResources) (*specs.LinuxResources, error) {
	if s == nil {
		return nil, invalidf("spec", "missing")
	}
	upd, err := LinuxResources(r)
	if err != nil || upd == nil {
		return upd, err
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	cur := s.Linux.Resources
	if upd.CPU != nil {
		cur.CPU = upd.CPU
	}
	if upd.Memory != nil {
		cur.Memory = upd.Memory
	}
	if upd.HugepageLimits != nil {
		cur.HugepageLimits = upd.HugepageLimits
	}
	if upd.Unified != nil {
		cur.Unified = upd.Unified
	}
	if s.Process != nil && r.OomScoreAdj != 0 {
		s.Process.OOMScoreAdj = ptr(int(r.OomScoreAdj))
	}
	return upd, nil
}

// CRIResources is the reverse of LinuxResources for ContainerStatus,
// including oom_score_adj from the process.
func CRIResources(s *specs.Spec) *runtime.LinuxContainerResources {
	out := &runtime.LinuxContainerResources{}
	if s == nil {
		return out
	}
	if s.Process != nil && s.Process.OOMScoreAdj != nil {
		out.OomScoreAdj = int64(*s.Process.OOMScoreAdj)
	}
	if s.Linux == nil || s.Linux.Resources == nil {
		return out
	}
	r := s.Linux.Resources
	if c := r.CPU; c != nil {
		out.CpusetCpus, out.CpusetMems = c.Cpus, c.Mems
		out.CpuShares = int64(deref(c.Shares))
		out.CpuQuota = deref(c.Quota)
		out.CpuPeriod = int64(deref(c.Period))
	}
	if m := r.Memory; m != nil {
		out.MemoryLimitInBytes = deref(m.Limit)
		out.MemorySwapLimitInBytes = deref(m.Swap)
	}
	for _, h := range r.HugepageLimits {
		out.HugepageLimits = append(out.HugepageLimits, &runtime.HugepageLimit{PageSize: h.Pagesize, Limit: h.Limit})
	}
	if len(r.Unified) > 0 {
		out.Unified = maps.Clone(r.Unified)
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
