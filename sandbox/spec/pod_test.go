package spec

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPodSpec(t *testing.T) {
	in := podInput()
	in.Host.CgroupV2 = true
	in.Config.Linux.Resources = &runtime.LinuxContainerResources{CpuPeriod: 100000, CpuQuota: 200000, CpuShares: 2048, MemoryLimitInBytes: 1 << 30}
	s, err := PodSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != specs.Version || s.Root == nil || s.Root.Path != in.RootPath || !s.Root.Readonly {
		t.Errorf("root: %+v", s.Root)
	}
	p := s.Process
	if !slices.Equal(p.Args, []string{"pause"}) || p.Cwd != "/" || !p.NoNewPrivileges || *p.OOMScoreAdj != -998 {
		t.Errorf("process: %+v", p)
	}
	if p.User.UID != 0 || p.User.GID != 0 {
		t.Errorf("user: %+v", p.User)
	}
	if c := p.Capabilities; len(c.Bounding)+len(c.Effective)+len(c.Permitted)+len(c.Inheritable)+len(c.Ambient) != 0 {
		t.Errorf("the infra needs no capabilities: %+v", c)
	}
	if s.Linux.CgroupsPath != "/kubepods/burstable/poduid-1/pod1" {
		t.Errorf("cgroups path %q", s.Linux.CgroupsPath)
	}
	if *s.Linux.Resources.CPU.Shares != 2 || s.Linux.Resources.Devices[0].Allow {
		t.Errorf("resources: %+v", s.Linux.Resources)
	}
	if s.Linux.Seccomp != nil {
		t.Error("no seccomp asked, none given")
	}
	if len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Error("masked paths missing")
	}
	if len(s.Mounts) != 0 {
		t.Errorf("the infra gets no mounts: %v", s.Mounts)
	}
	want := map[string]string{
		AnnotationContainerType:    ContainerTypeSandbox,
		AnnotationSandboxID:        "pod1",
		AnnotationSandboxName:      "web",
		AnnotationSandboxNamespace: "default",
		AnnotationSandboxUID:       "uid-1",
		AnnotationSandboxLogDir:    "/var/log/pods/default_web_uid-1",
		AnnotationSandboxCPUPeriod: "100000",
		AnnotationSandboxCPUQuota:  "200000",
		AnnotationSandboxCPUShares: "2048",
		AnnotationSandboxMemory:    "1073741824",
	}
	assertAnnotations(t, s.Annotations, want)
}

func TestPodSpecSecurityContext(t *testing.T) {
	in := podInput()
	in.Args = []string{"/pause", "-v"}
	in.Host = Host{AppArmorEnabled: true, DefaultAppArmorProfile: "crid-default", Arch: "amd64"}
	sc := in.Config.Linux.SecurityContext
	sc.RunAsUser = &runtime.Int64Value{Value: 65535}
	sc.RunAsGroup = &runtime.Int64Value{Value: 65534}
	sc.SupplementalGroups = []int64{10, 65534, 11}
	sc.Seccomp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
	s, err := PodSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	u := s.Process.User
	if u.UID != 65535 || u.GID != 65534 || !slices.Equal(u.AdditionalGids, []uint32{65534, 10, 11}) {
		t.Errorf("user: %+v", u)
	}
	if !slices.Equal(s.Process.Args, []string{"/pause", "-v"}) {
		t.Errorf("args: %v", s.Process.Args)
	}
	if s.Linux.Seccomp == nil || len(ruleFor(s.Linux.Seccomp, "mount")) != 0 || !allowed(s.Linux.Seccomp, "exit_group") {
		t.Error("the pod's RuntimeDefault seccomp (no capabilities) not applied")
	}
	if s.Process.ApparmorProfile != "crid-default" {
		t.Errorf("apparmor %q", s.Process.ApparmorProfile)
	}

	sc.Privileged = true
	s, err = PodSpec(in)
	if err != nil || s.Linux.Seccomp != nil || s.Linux.MaskedPaths != nil || s.Process.ApparmorProfile != "unconfined" {
		t.Fatalf("privileged pod: %v %+v", err, s)
	}
	in.RootPath = ""
	if s, _ := PodSpec(in); s.Root != nil {
		t.Error("no RootPath, no root")
	}
}

func TestPodSpecInvalid(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*PodInput)
		field string
	}{
		{"nil config", func(in *PodInput) { in.Config = nil }, "config"},
		{"nil metadata", func(in *PodInput) { in.Config.Metadata = nil }, "config.metadata.name"},
		{"no id", func(in *PodInput) { in.ID = "" }, "ID"},
		{"long hostname", func(in *PodInput) { in.Config.Hostname = strings.Repeat("h", 65) }, "hostname"},
		{"bad run_as_user", func(in *PodInput) {
			in.Config.Linux.SecurityContext.RunAsUser = &runtime.Int64Value{Value: -5}
		}, "linux.security_context.run_as_user"},
		{"bad run_as_group", func(in *PodInput) {
			in.Config.Linux.SecurityContext.RunAsGroup = &runtime.Int64Value{Value: 1 << 40}
		}, "linux.security_context.run_as_group"},
		{"bad supplemental group", func(in *PodInput) {
			in.Config.Linux.SecurityContext.SupplementalGroups = []int64{1, -1}
		}, "linux.security_context.supplemental_groups[1]"},
		{"bad cgroup parent", func(in *PodInput) { in.Config.Linux.CgroupParent = "relative" }, "linux.cgroup_parent"},
		{"bad seccomp", func(in *PodInput) { in.Config.Linux.SecurityContext.SeccompProfilePath = "nope" }, "linux.security_context.seccomp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := podInput()
			tt.mod(&in)
			_, err := PodSpec(in)
			wantInvalid(t, err, tt.field)
		})
	}
	// A pod config with no linux section at all is a plain pod.
	in := podInput()
	in.Config.Linux = nil
	s, err := PodSpec(in)
	if err != nil || s.Linux.CgroupsPath != "/crid/pod1" || namespaceOf(s.Linux, specs.NetworkNamespace) == nil {
		t.Fatalf("no linux section: %v %+v", err, s)
	}
}
