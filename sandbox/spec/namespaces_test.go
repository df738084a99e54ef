package spec

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// nsSummary renders namespaces as "type" (new) or "type=path" (joined).
func nsSummary(l *specs.Linux) []string {
	var out []string
	for _, n := range l.Namespaces {
		s := string(n.Type)
		if n.Path != "" {
			s += "=" + n.Path
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestPodNamespaces(t *testing.T) {
	node, pod, ctr := runtime.NamespaceMode_NODE, runtime.NamespaceMode_POD, runtime.NamespaceMode_CONTAINER
	userns := &runtime.UserNamespace{Mode: pod,
		Uids: []*runtime.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}},
		Gids: []*runtime.IDMapping{{HostId: 200000, ContainerId: 0, Length: 65536}}}
	tests := []struct {
		name     string
		ns       *runtime.NamespaceOption
		cgroupV2 bool
		want     []string
		hostname string
		wantErr  string
	}{
		{name: "all pod", ns: &runtime.NamespaceOption{}, want: []string{"ipc", "mount", "network=/run/crid/netns/pod1", "pid", "uts"}, hostname: "web-host"},
		{name: "nil options are pod", ns: nil, want: []string{"ipc", "mount", "network=/run/crid/netns/pod1", "pid", "uts"}, hostname: "web-host"},
		{name: "container pid still isolates infra", ns: &runtime.NamespaceOption{Pid: ctr}, want: []string{"ipc", "mount", "network=/run/crid/netns/pod1", "pid", "uts"}, hostname: "web-host"},
		{name: "host network has host uts and no hostname", ns: &runtime.NamespaceOption{Network: node}, want: []string{"ipc", "mount", "pid"}},
		{name: "host everything", ns: &runtime.NamespaceOption{Network: node, Pid: node, Ipc: node}, want: []string{"mount"}},
		{name: "cgroup v2", ns: &runtime.NamespaceOption{Network: node, Pid: node, Ipc: node}, cgroupV2: true, want: []string{"cgroup", "mount"}},
		{name: "user namespace", ns: &runtime.NamespaceOption{UsernsOptions: userns}, want: []string{"ipc", "mount", "network=/run/crid/netns/pod1", "pid", "user", "uts"}, hostname: "web-host"},
		{name: "userns NODE is none", ns: &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: node}}, want: []string{"ipc", "mount", "network=/run/crid/netns/pod1", "pid", "uts"}, hostname: "web-host"},
		{name: "network CONTAINER", ns: &runtime.NamespaceOption{Network: ctr}, wantErr: "namespace_options.network"},
		{name: "ipc TARGET", ns: &runtime.NamespaceOption{Ipc: runtime.NamespaceMode_TARGET}, wantErr: "namespace_options.ipc"},
		{name: "pid TARGET for a pod", ns: &runtime.NamespaceOption{Pid: runtime.NamespaceMode_TARGET}, wantErr: "namespace_options.pid"},
		{name: "userns with host network", ns: &runtime.NamespaceOption{Network: node, UsernsOptions: userns}, wantErr: "userns_options"},
		{name: "userns CONTAINER", ns: &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: ctr}}, wantErr: "userns_options.mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := podInput()
			in.Host.CgroupV2 = tt.cgroupV2
			in.Config.Linux.SecurityContext.NamespaceOptions = tt.ns
			s, err := PodSpec(in)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			if got := nsSummary(s.Linux); !slices.Equal(got, tt.want) {
				t.Fatalf("namespaces %v, want %v", got, tt.want)
			}
			if s.Hostname != tt.hostname {
				t.Fatalf("hostname %q, want %q", s.Hostname, tt.hostname)
			}
		})
	}
	in := podInput()
	in.NetNSPath = ""
	_, err := PodSpec(in)
	wantInvalid(t, err, "NetNSPath")
}

func TestUserNamespaceMappings(t *testing.T) {
	m := func(h, c, l uint32) *runtime.IDMapping {
		return &runtime.IDMapping{HostId: h, ContainerId: c, Length: l}
	}
	good := []*runtime.IDMapping{m(100000, 0, 65536)}
	tests := []struct {
		name       string
		uids, gids []*runtime.IDMapping
		wantErr    string
	}{
		{name: "ok", uids: good, gids: []*runtime.IDMapping{m(100000, 0, 1000), m(300000, 1000, 64536)}},
		{name: "no uids", uids: nil, gids: good, wantErr: "userns_options.uids"},
		{name: "no gids", uids: good, gids: nil, wantErr: "userns_options.gids"},
		{name: "zero length", uids: []*runtime.IDMapping{m(1, 0, 0)}, gids: good, wantErr: "userns_options.uids[0].length"},
		{name: "overflow", uids: []*runtime.IDMapping{m(4294967000, 0, 65536)}, gids: good, wantErr: "userns_options.uids[0]"},
		{name: "container overlap", uids: good, gids: []*runtime.IDMapping{m(100000, 0, 10), m(200000, 5, 10)}, wantErr: "userns_options.gids[1].container_id"},
		{name: "host overlap", uids: []*runtime.IDMapping{m(100000, 0, 10), m(100009, 10, 10)}, gids: good, wantErr: "userns_options.uids[1].host_id"},
		{name: "too many", uids: slices.Repeat([]*runtime.IDMapping{m(1, 0, 1)}, 341), gids: good, wantErr: "userns_options.uids"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := podInput()
			in.Config.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD, Uids: tt.uids, Gids: tt.gids}
			s, err := PodSpec(in)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			if len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0] != (specs.LinuxIDMapping{ContainerID: 0, HostID: 100000, Size: 65536}) || len(s.Linux.GIDMappings) != 2 {
				t.Fatalf("mappings %+v %+v", s.Linux.UIDMappings, s.Linux.GIDMappings)
			}
		})
	}
}

func TestContainerNamespaces(t *testing.T) {
	node, pod, ctr, target := runtime.NamespaceMode_NODE, runtime.NamespaceMode_POD, runtime.NamespaceMode_CONTAINER, runtime.NamespaceMode_TARGET
	userns := &runtime.UserNamespace{Mode: pod,
		Uids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}}
	tests := []struct {
		name      string
		ctrNS     *runtime.NamespaceOption
		podNS     *runtime.NamespaceOption
		cgroupV2  bool
		noPaths   bool
		want      []string
		wantMaps  bool
		wantErr   string
		targetPID string
	}{
		{name: "pod", ctrNS: &runtime.NamespaceOption{}, want: []string{"ipc=/proc/100/ns/ipc", "mount", "network=/run/crid/netns/pod1", "pid=/proc/100/ns/pid", "uts=/proc/100/ns/uts"}},
		{name: "container pid", ctrNS: &runtime.NamespaceOption{Pid: ctr}, want: []string{"ipc=/proc/100/ns/ipc", "mount", "network=/run/crid/netns/pod1", "pid", "uts=/proc/100/ns/uts"}},
		{name: "target pid", ctrNS: &runtime.NamespaceOption{Pid: target, TargetId: "other"}, targetPID: "/proc/200/ns/pid",
			want: []string{"ipc=/proc/100/ns/ipc", "mount", "network=/run/crid/netns/pod1", "pid=/proc/200/ns/pid", "uts=/proc/100/ns/uts"}},
		{name: "host all", ctrNS: &runtime.NamespaceOption{Network: node, Pid: node, Ipc: node}, want: []string{"mount"}},
		{name: "nil container options follow the pod", ctrNS: nil, podNS: &runtime.NamespaceOption{Network: node},
			want: []string{"ipc=/proc/100/ns/ipc", "mount", "pid=/proc/100/ns/pid"}},
		{name: "cgroup v2", ctrNS: &runtime.NamespaceOption{Network: node, Pid: node, Ipc: node}, cgroupV2: true, want: []string{"cgroup", "mount"}},
		{name: "pod userns joined with mappings", ctrNS: &runtime.NamespaceOption{Pid: ctr}, podNS: &runtime.NamespaceOption{UsernsOptions: userns}, wantMaps: true,
			want: []string{"ipc=/proc/100/ns/ipc", "mount", "network=/run/crid/netns/pod1", "pid", "user=/proc/100/ns/user", "uts=/proc/100/ns/uts"}},
		{name: "target without id", ctrNS: &runtime.NamespaceOption{Pid: target}, targetPID: "/proc/200/ns/pid", wantErr: "namespace_options.target_id"},
		{name: "target without path", ctrNS: &runtime.NamespaceOption{Pid: target, TargetId: "x"}, wantErr: "TargetPIDNamespace"},
		{name: "network CONTAINER", ctrNS: &runtime.NamespaceOption{Network: ctr}, wantErr: "namespace_options.network"},
		{name: "ipc CONTAINER", ctrNS: &runtime.NamespaceOption{Ipc: ctr}, wantErr: "namespace_options.ipc"},
		{name: "missing pod paths", ctrNS: &runtime.NamespaceOption{}, noPaths: true, wantErr: "PodNamespaces.Network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			in.Host.CgroupV2 = tt.cgroupV2
			in.Config.Linux.SecurityContext.NamespaceOptions = tt.ctrNS
			if tt.podNS != nil {
				in.Sandbox.Linux.SecurityContext.NamespaceOptions = tt.podNS
			}
			in.TargetPIDNamespace = tt.targetPID
			if tt.noPaths {
				in.PodNamespaces = NamespacePaths{}
			}
			s, err := ContainerSpec(in)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			if got := nsSummary(s.Linux); !slices.Equal(got, tt.want) {
				t.Fatalf("namespaces %v, want %v", got, tt.want)
			}
			if (len(s.Linux.UIDMappings) > 0) != tt.wantMaps || (len(s.Linux.GIDMappings) > 0) != tt.wantMaps {
				t.Fatalf("mappings %v %v", s.Linux.UIDMappings, s.Linux.GIDMappings)
			}
			if s.Hostname != "" {
				t.Fatal("a container never sets the hostname: it shares the pod's UTS")
			}
		})
	}
}

// TestPodNamespacePaths: only mode POD gives a container a pod namespace to join,
// whether POD is written out or left as the zero value; the user namespace is the one
// whose absence means none.
func TestPodNamespacePaths(t *testing.T) {
	t.Parallel()
	node, pod, ctr, target := runtime.NamespaceMode_NODE, runtime.NamespaceMode_POD, runtime.NamespaceMode_CONTAINER, runtime.NamespaceMode_TARGET
	const netns = "/run/crid/netns/pod1"
	all := NamespacePaths{Network: netns, UTS: "/proc/7/ns/uts", IPC: "/proc/7/ns/ipc", PID: "/proc/7/ns/pid"}
	with := func(f func(*NamespacePaths)) NamespacePaths { p := all; f(&p); return p }
	tests := []struct {
		name string
		ns   *runtime.NamespaceOption
		want NamespacePaths
	}{
		{"no namespace_options", nil, all},
		{"empty namespace_options", &runtime.NamespaceOption{}, all},
		{"explicit POD", &runtime.NamespaceOption{Network: pod, Pid: pod, Ipc: pod}, all},
		{"network NODE", &runtime.NamespaceOption{Network: node}, with(func(p *NamespacePaths) { p.Network, p.UTS = "", "" })},
		{"network CONTAINER", &runtime.NamespaceOption{Network: ctr}, with(func(p *NamespacePaths) { p.Network, p.UTS = "", "" })},
		{"ipc NODE", &runtime.NamespaceOption{Ipc: node}, with(func(p *NamespacePaths) { p.IPC = "" })},
		{"ipc CONTAINER", &runtime.NamespaceOption{Ipc: ctr}, with(func(p *NamespacePaths) { p.IPC = "" })},
		{"pid NODE", &runtime.NamespaceOption{Pid: node}, with(func(p *NamespacePaths) { p.PID = "" })},
		{"pid CONTAINER", &runtime.NamespaceOption{Pid: ctr}, with(func(p *NamespacePaths) { p.PID = "" })},
		{"pid TARGET", &runtime.NamespaceOption{Pid: target, TargetId: "c1"}, with(func(p *NamespacePaths) { p.PID = "" })},
		{"host everything", &runtime.NamespaceOption{Network: node, Pid: node, Ipc: node}, NamespacePaths{}},
		{"userns POD", &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: pod}}, with(func(p *NamespacePaths) { p.User = "/proc/7/ns/user" })},
		{"userns NODE", &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: node}}, all},
		{"userns CONTAINER", &runtime.NamespaceOption{UsernsOptions: &runtime.UserNamespace{Mode: ctr}}, all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := PodNamespacePaths(tt.ns, 7, netns); got != tt.want {
				t.Fatalf("PodNamespacePaths = %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
