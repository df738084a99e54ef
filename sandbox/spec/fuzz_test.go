package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// Bad input is an error, never a panic, and always InvalidArgument.
func FuzzParseSeccompProfile(f *testing.F) {
	f.Add([]byte(dockerProfile))
	f.Add([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["x"],"action":"SCMP_ACT_ERRNO","args":[{"index":9,"op":"SCMP_CMP_EQ"}]}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseSeccompProfile(data, []string{"CAP_SYS_ADMIN"}, "amd64"); err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Fatalf("error of the wrong kind: %v", err)
		}
	})
}

func FuzzResolveUser(f *testing.F) {
	for _, s := range []string{"", "app", "1000:1000", "app:staff", ":", "a:b:c", "4294967296", "-1"} {
		f.Add(s, []byte("root:x:0:0::/root:/bin/sh\n"), []byte("root:x:0:root\n"))
	}
	f.Fuzz(func(t *testing.T, user string, passwd, group []byte) {
		etc := fstest.MapFS{"etc/passwd": {Data: passwd}, "etc/group": {Data: group}}
		u, err := ResolveUser(etc, user, nil)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if len(u.AdditionalGids) == 0 || u.AdditionalGids[0] != u.GID || u.Home == "" {
			t.Fatalf("bad user %+v", *u)
		}
	})
}

// Nil elements anywhere in the request's lists are InvalidArgument.
func TestNilListElements(t *testing.T) {
	tests := []struct {
		field string
		mod   func(*ContainerInput)
	}{
		{"envs[0].key", func(in *ContainerInput) { in.Config.Envs = []*runtime.KeyValue{nil} }},
		{"mounts[0]", func(in *ContainerInput) { in.Config.Mounts = []*runtime.Mount{nil} }},
		{"devices[0]", func(in *ContainerInput) { in.Config.Devices = []*runtime.Device{nil} }},
		{"hugepage_limits[0].page_size", func(in *ContainerInput) {
			in.Config.Linux.Resources = &runtime.LinuxContainerResources{HugepageLimits: []*runtime.HugepageLimit{nil}}
		}},
		{"userns_options.uids[0].length", func(in *ContainerInput) {
			in.Sandbox.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{
				Mode: runtime.NamespaceMode_POD, Uids: []*runtime.IDMapping{nil}, Gids: []*runtime.IDMapping{nil}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			in := containerInput()
			tt.mod(&in)
			_, err := ContainerSpec(in)
			wantInvalid(t, err, tt.field)
		})
	}
}

// fuzzHost answers the spec's questions about the node without touching it: any device
// path is one char device, the host has one /dev entry, every seccomp profile file holds
// the same small profile.
func fuzzHost() Host {
	return Host{
		DeviceInfo: func(p string) ([]specs.LinuxDevice, error) {
			if !strings.HasPrefix(p, "/dev/") {
				return nil, fmt.Errorf("%s: %w", p, errdefs.ErrNotFound)
			}
			return []specs.LinuxDevice{{Path: p, Type: "c", Major: 1, Minor: 3}}, nil
		},
		HostDevices: func() ([]specs.LinuxDevice, error) {
			return []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}, nil
		},
		ReadFile: func(string) ([]byte, error) {
			return []byte(`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit"],"action":"SCMP_ACT_ALLOW"}]}`), nil
		},
	}
}

func marshal(f *testing.F, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// wantKind fails unless err is one of the kinds the spec layer returns for bad input.
func wantKind(t *testing.T, err error, kinds ...error) {
	t.Helper()
	for _, k := range kinds {
		if errors.Is(err, k) {
			return
		}
	}
	t.Fatalf("error of the wrong kind: %v", err)
}

// FuzzContainerSpec: CreateContainer's config, the pod's config and the image config as
// any bytes. The conversion never panics, refuses bad input with InvalidArgument (or
// Unimplemented, NotFound for what the node lacks), and a spec it makes never escapes:
// the only host paths in it are the ones the caller handed over (the request's own
// host_path mounts, the pod's files, the image volume dirs, the pod's namespaces), and
// the container's root and mount targets are where they must be.
func FuzzContainerSpec(f *testing.F) {
	base := containerInput()
	userns := &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
		Uids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}}
	rich := proto.Clone(base.Config).(*runtime.ContainerConfig)
	rich.Mounts = []*runtime.Mount{
		{ContainerPath: "/data", HostPath: "/var/lib/kubelet/pods/p/volumes/v", Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
		{ContainerPath: "/etc/hosts", HostPath: "/var/lib/kubelet/pods/p/etc-hosts", Readonly: true},
		{ContainerPath: "/proc/meminfo", HostPath: "/var/lib/lxcfs/proc/meminfo", Readonly: true, RecursiveReadOnly: true},
	}
	rich.Devices = []*runtime.Device{{ContainerPath: "/dev/fuse", HostPath: "/dev/fuse", Permissions: "rwm"}}
	rich.Linux.SecurityContext.Capabilities = &runtime.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"ALL"}}
	rich.Linux.SecurityContext.Seccomp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_Localhost, LocalhostRef: "/var/lib/kubelet/seccomp/p.json"}
	rich.Linux.SecurityContext.RunAsUser = &runtime.Int64Value{Value: 1000}
	rich.Linux.Resources = &runtime.LinuxContainerResources{CpuShares: 512, MemoryLimitInBytes: 64 << 20}
	privPod := proto.Clone(base.Sandbox).(*runtime.PodSandboxConfig)
	privPod.Linux.SecurityContext.Privileged = true
	privPod.Linux.Sysctls = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1"}
	priv := proto.Clone(base.Config).(*runtime.ContainerConfig)
	priv.Linux.SecurityContext.Privileged = true
	usernsPod := proto.Clone(base.Sandbox).(*runtime.PodSandboxConfig)
	usernsPod.Linux.SecurityContext.NamespaceOptions.UsernsOptions = userns
	img, _ := json.Marshal(base.Image.Config)
	vols, _ := json.Marshal(ocispec.ImageConfig{User: "app:staff", Cmd: []string{"sh"}, Volumes: map[string]struct{}{"/var/data": {}, "/../../escape": {}}, WorkingDir: "/srv"})
	for _, c := range []struct {
		ctr *runtime.ContainerConfig
		pod *runtime.PodSandboxConfig
		img []byte
	}{
		{base.Config, base.Sandbox, img}, {rich, base.Sandbox, vols}, {priv, privPod, img}, {rich, usernsPod, img},
	} {
		f.Add(marshal(f, c.ctr), marshal(f, c.pod), c.img)
	}
	f.Fuzz(func(t *testing.T, ctrBytes, podBytes, imgJSON []byte) {
		in := containerInput()
		in.Host = fuzzHost()
		in.Config, in.Sandbox = &runtime.ContainerConfig{}, &runtime.PodSandboxConfig{}
		if proto.Unmarshal(ctrBytes, in.Config) != nil || proto.Unmarshal(podBytes, in.Sandbox) != nil {
			return
		}
		in.Image.Config = ocispec.ImageConfig{}
		_ = json.Unmarshal(imgJSON, &in.Image.Config)
		in.VolumeDirs = map[string]string{}
		allowed := map[string]bool{}
		if vols, err := ImageVolumes(in.Config, in.Image.Config); err == nil {
			for i, v := range vols {
				in.VolumeDirs[v] = fmt.Sprintf("/var/lib/crid/volumes/%d", i)
				allowed[in.VolumeDirs[v]] = true
			}
		}
		for _, m := range in.Config.GetMounts() {
			allowed[path.Clean(m.GetHostPath())] = true
		}
		for _, p := range []string{in.PodFiles.Hosts, in.PodFiles.ResolvConf, in.PodFiles.Hostname, in.PodFiles.Shm} {
			allowed[p] = true
		}
		s, err := ContainerSpec(in)
		if err != nil {
			wantKind(t, err, errdefs.ErrInvalidArgument, errdefs.ErrUnimplemented, errdefs.ErrNotFound)
			return
		}
		if s.Root == nil || s.Root.Path != in.RootfsPath {
			t.Fatalf("root %+v, want %s", s.Root, in.RootfsPath)
		}
		for _, m := range s.Mounts {
			if strings.HasPrefix(m.Source, "/") && !allowed[m.Source] {
				t.Fatalf("mount of host path %q at %s that nobody asked for", m.Source, m.Destination)
			}
			if (m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")) && !allowed[m.Source] {
				t.Fatalf("bind of %q at %s that nobody asked for", m.Source, m.Destination)
			}
			if !path.IsAbs(m.Destination) || path.Clean(m.Destination) != m.Destination || m.Destination == "/" {
				t.Fatalf("mount destination %q", m.Destination)
			}
		}
		pods := []string{in.PodNamespaces.Network, in.PodNamespaces.IPC, in.PodNamespaces.UTS, in.PodNamespaces.PID, in.PodNamespaces.User, in.TargetPIDNamespace}
		for _, ns := range s.Linux.Namespaces {
			if ns.Path != "" && !slices.Contains(pods, ns.Path) {
				t.Fatalf("namespace %s joins %q", ns.Type, ns.Path)
			}
		}
		if s.Process == nil || !path.IsAbs(s.Process.Cwd) {
			t.Fatalf("process %+v", s.Process)
		}
		if s.Process.User.UID == 1<<32-1 || s.Process.User.GID == 1<<32-1 || slices.Contains(s.Process.User.AdditionalGids, 1<<32-1) {
			t.Fatalf("user %+v", s.Process.User)
		}
	})
}

// FuzzPodSpec: a RunPodSandbox config as any bytes gives the infra process's spec or
// InvalidArgument; it never panics, mounts nothing and joins no namespace but the pinned
// network one.
func FuzzPodSpec(f *testing.F) {
	base := podConfig()
	host := proto.Clone(base).(*runtime.PodSandboxConfig)
	host.Linux.SecurityContext.NamespaceOptions = &runtime.NamespaceOption{Network: runtime.NamespaceMode_NODE, Pid: runtime.NamespaceMode_NODE, Ipc: runtime.NamespaceMode_NODE}
	host.Linux.SecurityContext.Privileged = true
	userns := proto.Clone(base).(*runtime.PodSandboxConfig)
	userns.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
		Uids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}}
	userns.Linux.SecurityContext.RunAsUser = &runtime.Int64Value{Value: 65535}
	userns.Linux.Sysctls = map[string]string{"net.core.somaxconn": "1024"}
	for _, p := range []*runtime.PodSandboxConfig{base, host, userns} {
		f.Add(marshal(f, p))
	}
	f.Fuzz(func(t *testing.T, podBytes []byte) {
		in := podInput()
		in.Host = fuzzHost()
		in.Config = &runtime.PodSandboxConfig{}
		if proto.Unmarshal(podBytes, in.Config) != nil {
			return
		}
		s, err := PodSpec(in)
		if err != nil {
			wantKind(t, err, errdefs.ErrInvalidArgument)
			return
		}
		if len(s.Mounts) != 0 {
			t.Fatalf("infra mounts %+v", s.Mounts)
		}
		if s.Root != nil && s.Root.Path != in.RootPath {
			t.Fatalf("root %+v", s.Root)
		}
		for _, ns := range s.Linux.Namespaces {
			if ns.Path != "" && ns.Path != in.NetNSPath {
				t.Fatalf("namespace %s joins %q", ns.Type, ns.Path)
			}
		}
		if u := s.Process.User; u.UID == 1<<32-1 || u.GID == 1<<32-1 {
			t.Fatalf("user %+v", u)
		}
	})
}
