package spec

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func fullResources() *runtime.LinuxContainerResources {
	return &runtime.LinuxContainerResources{
		CpuPeriod:              100000,
		CpuQuota:               50000,
		CpuShares:              512,
		MemoryLimitInBytes:     256 << 20,
		MemorySwapLimitInBytes: 512 << 20,
		OomScoreAdj:            900,
		CpusetCpus:             "0-1,3",
		CpusetMems:             "0",
		HugepageLimits:         []*runtime.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}, {PageSize: "1GB", Limit: 0}},
		Unified:                map[string]string{"memory.high": "200000000", "io.weight": "default 100"},
	}
}

func TestLinuxResources(t *testing.T) {
	r, err := LinuxResources(fullResources())
	if err != nil {
		t.Fatal(err)
	}
	if *r.CPU.Shares != 512 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || r.CPU.Cpus != "0-1,3" || r.CPU.Mems != "0" {
		t.Errorf("cpu: %+v", r.CPU)
	}
	if *r.Memory.Limit != 256<<20 || *r.Memory.Swap != 512<<20 {
		t.Errorf("memory: %+v", r.Memory)
	}
	if len(r.HugepageLimits) != 2 || r.HugepageLimits[0] != (specs.LinuxHugepageLimit{Pagesize: "2MB", Limit: 4 << 20}) {
		t.Errorf("hugepages: %+v", r.HugepageLimits)
	}
	if r.Unified["io.weight"] != "default 100" || len(r.Unified) != 2 {
		t.Errorf("unified: %v", r.Unified)
	}
	if r.Devices != nil {
		t.Error("an update must not carry device rules")
	}

	empty, err := LinuxResources(&runtime.LinuxContainerResources{})
	if err != nil || empty.CPU != nil || empty.Memory != nil {
		t.Errorf("zero values must be unset: %+v, %v", empty, err)
	}
	if r, err := LinuxResources(nil); r != nil || err != nil {
		t.Errorf("nil: %v %v", r, err)
	}
	unlimited, _ := LinuxResources(&runtime.LinuxContainerResources{CpuQuota: -1, MemorySwapLimitInBytes: -1})
	if *unlimited.CPU.Quota != -1 || *unlimited.Memory.Swap != -1 || unlimited.Memory.Limit != nil {
		t.Errorf("unlimited: %+v %+v", unlimited.CPU, unlimited.Memory)
	}
}

func TestLinuxResourcesInvalid(t *testing.T) {
	tests := []struct {
		field string
		mod   func(r *runtime.LinuxContainerResources)
	}{
		{"cpu_shares", func(r *runtime.LinuxContainerResources) { r.CpuShares = -1 }},
		{"cpu_period", func(r *runtime.LinuxContainerResources) { r.CpuPeriod = -5 }},
		{"cpu_period", func(r *runtime.LinuxContainerResources) { r.CpuPeriod = 999 }},
		{"cpu_period", func(r *runtime.LinuxContainerResources) { r.CpuPeriod = 1000001 }},
		{"cpu_quota", func(r *runtime.LinuxContainerResources) { r.CpuQuota = -2 }},
		{"cpu_quota", func(r *runtime.LinuxContainerResources) { r.CpuQuota = 999 }},
		{"memory_limit_in_bytes", func(r *runtime.LinuxContainerResources) { r.MemoryLimitInBytes = -1 }},
		{"memory_swap_limit_in_bytes", func(r *runtime.LinuxContainerResources) { r.MemorySwapLimitInBytes = -2 }},
		{"oom_score_adj", func(r *runtime.LinuxContainerResources) { r.OomScoreAdj = 1001 }},
		{"cpuset_cpus", func(r *runtime.LinuxContainerResources) { r.CpusetCpus = "0-a" }},
		{"cpuset_mems", func(r *runtime.LinuxContainerResources) { r.CpusetMems = "0,,1" }},
		{"hugepage_limits[1].page_size", func(r *runtime.LinuxContainerResources) { r.HugepageLimits[1].PageSize = "../2MB" }},
		{`unified["../../cgroup.procs"]`, func(r *runtime.LinuxContainerResources) { r.Unified["../../cgroup.procs"] = "1" }},
		{`unified["memory"]`, func(r *runtime.LinuxContainerResources) { r.Unified["memory"] = "1" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			r := fullResources()
			tt.mod(r)
			_, err := LinuxResources(r)
			wantInvalid(t, err, "linux.resources."+tt.field)
		})
	}
}

// The kernel's CFS bounds themselves are accepted.
func TestLinuxResourcesCFSBounds(t *testing.T) {
	for _, r := range []*runtime.LinuxContainerResources{{CpuPeriod: 1000, CpuQuota: 1000}, {CpuPeriod: 1000000, CpuQuota: -1}} {
		if _, err := LinuxResources(r); err != nil {
			t.Errorf("period %d quota %d: %v", r.CpuPeriod, r.CpuQuota, err)
		}
	}
}

// Spec → CRI → spec keeps every value, for ContainerStatus.
func TestResourcesRoundTrip(t *testing.T) {
	in := containerInput()
	in.Config.Linux.Resources = fullResources()
	s := mustContainer(t, in)
	back := CRIResources(s)
	if !proto.Equal(back, fullResources()) {
		t.Fatalf("round trip:\n got %v\nwant %v", back, fullResources())
	}
	if *s.Process.OOMScoreAdj != 900 {
		t.Fatalf("oom_score_adj not passed through: %v", *s.Process.OOMScoreAdj)
	}
	if got := CRIResources(nil); got == nil {
		t.Fatal("nil spec must give an empty message")
	}
}

func TestUpdateResources(t *testing.T) {
	in := containerInput()
	in.Config.Linux.Resources = fullResources()
	s := mustContainer(t, in)
	devices := len(s.Linux.Resources.Devices)

	upd, err := UpdateResources(s, &runtime.LinuxContainerResources{CpuQuota: 20000, CpuPeriod: 100000, MemoryLimitInBytes: 128 << 20, OomScoreAdj: 500})
	if err != nil {
		t.Fatal(err)
	}
	if *upd.CPU.Quota != 20000 || *upd.Memory.Limit != 128<<20 || upd.Devices != nil {
		t.Fatalf("update: %+v", upd)
	}
	if got := CRIResources(s); got.CpuQuota != 20000 || got.MemoryLimitInBytes != 128<<20 || got.OomScoreAdj != 500 {
		t.Fatalf("stored spec not updated: %v", got)
	}
	if len(s.Linux.Resources.Devices) != devices || devices == 0 {
		t.Fatal("device rules lost by an update")
	}
	if len(s.Linux.Resources.Unified) != 2 {
		t.Fatal("an update without unified must keep it")
	}
	before := CRIResources(s)
	_, err = UpdateResources(s, &runtime.LinuxContainerResources{CpuShares: -1})
	wantInvalid(t, err, "cpu_shares")
	if !proto.Equal(before, CRIResources(s)) {
		t.Fatal("a bad update changed the spec")
	}
	bare := &specs.Spec{}
	if _, err := UpdateResources(bare, &runtime.LinuxContainerResources{CpuShares: 100}); err != nil || *bare.Linux.Resources.CPU.Shares != 100 {
		t.Fatalf("update of a spec without linux: %v", err)
	}
	if upd, err := UpdateResources(bare, nil); upd != nil || err != nil {
		t.Fatalf("nil update: %v %v", upd, err)
	}
	_, err = UpdateResources(nil, &runtime.LinuxContainerResources{})
	wantInvalid(t, err, "spec")
}
