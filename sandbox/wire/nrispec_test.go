package wire

import (
	"slices"
	"testing"

	"github.com/containerd/nri/pkg/api"
	nrigen "github.com/containerd/nri/pkg/runtime-tools/generate"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// An NRI plugin's adjustment reaches the spec through specEditor: every kind the issue
// names (annotations, env, mounts, devices, resources, hooks) and args.
func TestNRIAdjustmentApplies(t *testing.T) {
	t.Parallel()
	s := &specs.Spec{
		Process:     &specs.Process{Args: []string{"sleep", "1"}, Env: []string{"PATH=/bin", "KEEP=1", "DROP=1"}},
		Annotations: map[string]string{"old": "x"},
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc"}, {Destination: "/data", Type: "bind", Source: "/old"}},
		Linux:       &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{}}},
	}
	adj := &api.ContainerAdjustment{}
	adj.AddAnnotation("nri.example/a", "b")
	adj.RemoveAnnotation("old")
	adj.AddEnv("PATH", "/usr/bin:/bin")
	adj.AddEnv("NEW", "2")
	adj.RemoveEnv("DROP")
	adj.RemoveMount("/data")
	adj.AddMount(&api.Mount{Destination: "/data", Type: "bind", Source: "/srv/new", Options: []string{"rbind", "ro"}})
	adj.AddDevice(&api.LinuxDevice{Path: "/dev/accel0", Type: "c", Major: 1, Minor: 3})
	adj.SetLinuxMemoryLimit(64 << 20)
	adj.SetLinuxCPUShares(512)
	adj.AddHooks(&api.Hooks{CreateRuntime: []*api.Hook{{Path: "/bin/true"}}, Poststop: []*api.Hook{{Path: "/bin/false"}}})
	adj.SetArgs([]string{"sleep", "2"})
	if err := nrigen.SpecGenerator(specEditor{s}).Adjust(adj); err != nil {
		t.Fatal(err)
	}
	if s.Annotations["nri.example/a"] != "b" || s.Annotations["old"] != "" {
		t.Errorf("annotations %v", s.Annotations)
	}
	for _, e := range []string{"PATH=/usr/bin:/bin", "KEEP=1", "NEW=2"} {
		if !slices.Contains(s.Process.Env, e) {
			t.Errorf("env %v lacks %s", s.Process.Env, e)
		}
	}
	if slices.Contains(s.Process.Env, "DROP=1") || slices.Contains(s.Process.Env, "PATH=/bin") {
		t.Errorf("env %v", s.Process.Env)
	}
	i := slices.IndexFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == "/data" })
	if len(s.Mounts) != 2 || i < 0 || s.Mounts[i].Source != "/srv/new" {
		t.Errorf("mounts %+v", s.Mounts)
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/accel0" {
		t.Errorf("devices %+v", s.Linux.Devices)
	}
	r := s.Linux.Resources
	if r.Memory.Limit == nil || *r.Memory.Limit != 64<<20 || r.CPU == nil || *r.CPU.Shares != 512 {
		t.Errorf("resources %+v", r)
	}
	if s.Hooks == nil || len(s.Hooks.CreateRuntime) != 1 || len(s.Hooks.Poststop) != 1 {
		t.Errorf("hooks %+v", s.Hooks)
	}
	if !slices.Equal(s.Process.Args, []string{"sleep", "2"}) {
		t.Errorf("args %v", s.Process.Args)
	}
}
