package cgroups

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestUnitResources: the limits handed to systemd as unit properties (so that
// systemd's view and what it rewrites on a daemon-reload match the cgroup).
func TestUnitResources(t *testing.T) {
	t.Parallel()
	mem, pids, quota, period, shares := int64(64<<20), int64(42), int64(25001), uint64(100000), uint64(1024)
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: &mem},
		Pids:   &specs.LinuxPids{Limit: &pids},
		CPU:    &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares},
	}
	for _, tc := range []struct {
		name    string
		unified bool
		want    map[string]any
	}{
		{"v2", true, map[string]any{"MemoryMax": uint64(mem), "TasksMax": uint64(42), "CPUWeight": uint64(100),
			// 25001/100000 of a second is 250010 µs; systemd keeps 10 ms steps: rounded up, never tighter.
			"CPUQuotaPerSecUSec": uint64(260000), "CPUQuotaPeriodUSec": uint64(100000)}},
		{"v1", false, map[string]any{"MemoryLimit": uint64(mem), "TasksMax": uint64(42), "CPUShares": uint64(1024),
			"CPUQuotaPerSecUSec": uint64(260000), "CPUQuotaPeriodUSec": uint64(100000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]any{}
			for _, p := range unitResources(r, tc.unified) {
				got[p.Name] = p.Value.Value()
			}
			if len(got) != len(tc.want) {
				t.Errorf("properties %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
				}
			}
		})
	}
	if p := unitResources(&specs.LinuxResources{}, true); len(p) != 0 {
		t.Errorf("no limits gave properties %v", p)
	}
}

// TestUnitOf: only scopes in slices, and only with systemd running, are units.
func TestUnitOf(t *testing.T) {
	t.Parallel()
	sd := Tree{Root: "/sys/fs/cgroup", Unified: true, Systemd: true}
	if s, sl, ok := sd.unitOf("/crid.slice/crid-podx.slice/crid-c.scope"); !ok || s != "crid-c.scope" || sl != "crid-podx.slice" {
		t.Errorf("scope in slice: %q %q %v", s, sl, ok)
	}
	for _, p := range []string{"/crid/abc", "/kubepods/pod1/c", "/crid.slice/x.slice"} {
		if _, _, ok := sd.unitOf(p); ok {
			t.Errorf("%s taken for a unit", p)
		}
	}
	if _, _, ok := (Tree{Root: "/sys/fs/cgroup", Unified: true}).unitOf("/a.slice/b.scope"); ok {
		t.Error("a unit without systemd")
	}
}
