package spec

import (
	"encoding/json"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestContainerSpec(t *testing.T) {
	in := containerInput()
	in.Image.Config.User = "app"
	in.Image.Config.WorkingDir = "/srv"
	in.Config.Tty = true
	in.Config.Envs = []*runtime.KeyValue{{Key: "A", Value: []byte("cri")}}
	in.Config.Linux.Resources = &runtime.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, OomScoreAdj: 1000}
	in.Sandbox.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	s := mustContainer(t, in)

	if s.Version != specs.Version || s.Root.Path != "/run/crid/ctr1/rootfs" || s.Root.Readonly {
		t.Errorf("root: %+v", s.Root)
	}
	p := s.Process
	if !slices.Equal(p.Args, []string{"/entry", "serve"}) || p.Cwd != "/srv" || !p.Terminal {
		t.Errorf("process: %+v", p)
	}
	if p.User.UID != 1000 || p.User.GID != 1000 || !slices.Equal(p.User.AdditionalGids, []uint32{1000, 29, 44}) {
		t.Errorf("user: %+v", p.User)
	}
	for k, want := range map[string]string{"PATH": "/bin", "A": "cri", "HOME": "/home/app", "TERM": "xterm"} {
		if v, _ := envValue(p.Env, k); v != want {
			t.Errorf("env %s=%q, want %q (env %v)", k, v, want, p.Env)
		}
	}
	if p.OOMScoreAdj == nil || *p.OOMScoreAdj != 1000 {
		t.Errorf("oom_score_adj: %v", p.OOMScoreAdj)
	}
	if *s.Linux.Resources.Memory.Limit != 64<<20 {
		t.Errorf("memory: %+v", s.Linux.Resources.Memory)
	}
	if s.Linux.CgroupsPath != "/kubepods/burstable/poduid-1/ctr1" {
		t.Errorf("cgroups path %q", s.Linux.CgroupsPath)
	}
	if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" {
		t.Errorf("pod sysctls not carried: %v", s.Linux.Sysctl)
	}
	want := map[string]string{
		AnnotationContainerType:    ContainerTypeContainer,
		AnnotationSandboxID:        "pod1",
		AnnotationSandboxName:      "web",
		AnnotationSandboxNamespace: "default",
		AnnotationSandboxUID:       "uid-1",
		AnnotationContainerName:    "app",
		AnnotationImageName:        "docker.io/library/app:1",
	}
	assertAnnotations(t, s.Annotations, want)
	// Without resources the process inherits its OOM score.
	if mustContainer(t, containerInput()).Process.OOMScoreAdj != nil {
		t.Error("oom_score_adj set without resources")
	}
	// The spec is what the executor reads from disk: it must survive JSON.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back specs.Spec
	if err := json.Unmarshal(b, &back); err != nil || back.Process.User.UID != 1000 {
		t.Fatalf("JSON round trip: %v", err)
	}
}

// Building a spec never changes its inputs (the sandbox keeps them).
func TestContainerSpecDoesNotMutateInput(t *testing.T) {
	in := containerInput()
	in.Config.Args = []string{"x"}
	before, _ := json.Marshal(in.Image.Config)
	s := mustContainer(t, in)
	s.Process.Args[0] = "changed"
	s.Process.Env[0] = "changed=1"
	after, _ := json.Marshal(in.Image.Config)
	if string(before) != string(after) {
		t.Fatalf("image config changed:\n%s\n%s", before, after)
	}
}

func TestContainerSpecNilInputs(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*ContainerInput)
		field string // "" = must succeed
	}{
		{"nil config", func(in *ContainerInput) { in.Config = nil }, "config"},
		{"nil metadata", func(in *ContainerInput) { in.Config.Metadata = nil }, "config.metadata.name"},
		{"empty name", func(in *ContainerInput) { in.Config.Metadata.Name = "" }, "config.metadata.name"},
		{"no id", func(in *ContainerInput) { in.ID = "" }, "ID"},
		{"no rootfs", func(in *ContainerInput) { in.RootfsPath = "" }, "RootfsPath"},
		{"nil linux", func(in *ContainerInput) { in.Config.Linux = nil }, ""},
		{"nil security context", func(in *ContainerInput) { in.Config.Linux.SecurityContext = nil }, ""},
		{"nil sandbox config", func(in *ContainerInput) { in.Sandbox = nil }, ""},
		{"nil sandbox linux", func(in *ContainerInput) { in.Sandbox.Linux = nil }, ""},
		{"nil image etc", func(in *ContainerInput) { in.Image.Etc = nil }, ""},
		{"nil capabilities", func(in *ContainerInput) { in.Config.Linux.SecurityContext.Capabilities = nil }, ""},
		{"no command anywhere", func(in *ContainerInput) { in.Image.Config.Entrypoint, in.Image.Config.Cmd = nil, nil }, "command"},
		{"image user missing", func(in *ContainerInput) { in.Image.Config.User = "ghost" }, "image config User"},
		{"bad resources", func(in *ContainerInput) {
			in.Config.Linux.Resources = &runtime.LinuxContainerResources{CpusetCpus: "x"}
		}, "linux.resources.cpuset_cpus"},
		{"bad capability", func(in *ContainerInput) {
			in.Config.Linux.SecurityContext.Capabilities = &runtime.Capability{AddCapabilities: []string{"BOGUS"}}
		}, "add_capabilities[0]"},
		{"bad pod sysctl", func(in *ContainerInput) { in.Sandbox.Linux.Sysctls = map[string]string{"kernel.panic": "1"} }, `linux.sysctls["kernel.panic"]`},
		{"bad cgroup parent", func(in *ContainerInput) { in.Sandbox.Linux.CgroupParent = "x.slice" }, "linux.cgroup_parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			tt.mod(&in)
			s, err := ContainerSpec(in)
			if tt.field != "" {
				wantInvalid(t, err, tt.field)
				return
			}
			if err != nil || s.Process == nil || s.Linux == nil {
				t.Fatalf("got %v, %v", s, err)
			}
		})
	}
}
