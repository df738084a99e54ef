package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/crid-dev/crid/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestCRIMounts(t *testing.T) {
	tests := []struct {
		name    string
		m       *runtime.Mount
		want    specs.Mount
		wantErr string
	}{
		{
			name: "private rw",
			m:    &runtime.Mount{ContainerPath: "/data/", HostPath: "/var/lib/x"},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/var/lib/x", Options: []string{"rbind", "rprivate", "rw"}},
		},
		{
			name: "readonly host to container",
			m:    &runtime.Mount{ContainerPath: "/data", HostPath: "/x", Readonly: true, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rslave", "ro"}},
		},
		{
			name: "bidirectional",
			m:    &runtime.Mount{ContainerPath: "/data", HostPath: "/x", Propagation: runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rshared", "rw"}},
		},
		{
			name: "recursive read-only",
			m:    &runtime.Mount{ContainerPath: "/data", HostPath: "/x", Readonly: true, RecursiveReadOnly: true},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rprivate", "ro", "rro"}},
		},
		{
			name: "mount options and selinux ignored",
			m:    &runtime.Mount{ContainerPath: "/data", HostPath: "/x", SelinuxRelabel: true, MountOptions: []string{"noexec", "nosuid"}},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rprivate", "rw", "noexec", "nosuid"}},
		},
		{
			name: "idmapped",
			m: &runtime.Mount{ContainerPath: "/data", HostPath: "/x",
				UidMappings: []*runtime.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}},
				GidMappings: []*runtime.IDMapping{{HostId: 100000, ContainerId: 0, Length: 65536}}},
			want: specs.Mount{Destination: "/data", Type: "bind", Source: "/x", Options: []string{"rbind", "rprivate", "rw"},
				UIDMappings: []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}},
				GIDMappings: []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}},
		},
		{name: "lxcfs over /proc/meminfo allowed", m: &runtime.Mount{ContainerPath: "/proc/meminfo", HostPath: "/var/lib/lxcfs/proc/meminfo"},
			want: specs.Mount{Destination: "/proc/meminfo", Type: "bind", Source: "/var/lib/lxcfs/proc/meminfo", Options: []string{"rbind", "rprivate", "rw"}}},
		{name: "rro needs readonly", m: &runtime.Mount{ContainerPath: "/d", HostPath: "/x", RecursiveReadOnly: true}, wantErr: "mounts[0].recursive_read_only"},
		{name: "rro needs private", m: &runtime.Mount{ContainerPath: "/d", HostPath: "/x", Readonly: true, RecursiveReadOnly: true, Propagation: runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER}, wantErr: "mounts[0].recursive_read_only"},
		{name: "relative container path", m: &runtime.Mount{ContainerPath: "data", HostPath: "/x"}, wantErr: "mounts[0].container_path"},
		{name: "relative host path", m: &runtime.Mount{ContainerPath: "/data", HostPath: "x"}, wantErr: "mounts[0].host_path"},
		{name: "empty host path", m: &runtime.Mount{ContainerPath: "/data"}, wantErr: "mounts[0].host_path"},
		{name: "over root", m: &runtime.Mount{ContainerPath: "/", HostPath: "/x"}, wantErr: "mounts[0].container_path"},
		{name: "over /proc", m: &runtime.Mount{ContainerPath: "/proc/sys", HostPath: "/x"}, wantErr: "mounts[0].container_path"},
		{name: "over /proc itself", m: &runtime.Mount{ContainerPath: "/proc/./", HostPath: "/x"}, wantErr: "mounts[0].container_path"},
		{name: "bad propagation", m: &runtime.Mount{ContainerPath: "/d", HostPath: "/x", Propagation: 7}, wantErr: "mounts[0].propagation"},
		{name: "bad option", m: &runtime.Mount{ContainerPath: "/d", HostPath: "/x", MountOptions: []string{"ro,exec"}}, wantErr: "mounts[0].mount_options[0]"},
		{name: "overlapping mappings", m: &runtime.Mount{ContainerPath: "/d", HostPath: "/x",
			UidMappings: []*runtime.IDMapping{{HostId: 1000, Length: 10}, {HostId: 1005, ContainerId: 100, Length: 10}}}, wantErr: "mounts[0].uidMappings[1].host_id"},
		{name: "nil mount", m: nil, wantErr: "mounts[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := criMounts([]*runtime.Mount{tt.m})
			if endsInError(t, err, tt.wantErr) {
				return
			}
			g := got[0]
			if g.Destination != tt.want.Destination || g.Type != tt.want.Type || g.Source != tt.want.Source ||
				!slices.Equal(g.Options, tt.want.Options) || !slices.Equal(g.UIDMappings, tt.want.UIDMappings) ||
				!slices.Equal(g.GIDMappings, tt.want.GIDMappings) {
				t.Fatalf("got %+v\nwant %+v", g, tt.want)
			}
		})
	}
}

func TestCRIMountsDuplicateAndImage(t *testing.T) {
	_, err := criMounts([]*runtime.Mount{
		{ContainerPath: "/a", HostPath: "/x"},
		{ContainerPath: "/b", HostPath: "/y"},
		{ContainerPath: "/a/", HostPath: "/z"},
	})
	wantInvalid(t, err, "mounts[2].container_path")
	_, err = criMounts([]*runtime.Mount{{ContainerPath: "/img", Image: &runtime.ImageSpec{Image: "sha256:abc"}}})
	if !errors.Is(err, errdefs.ErrUnimplemented) || !strings.Contains(err.Error(), "mounts[0].image") {
		t.Fatalf("image volume: got %v", err)
	}
}

func TestDefaultMountsInSpec(t *testing.T) {
	s := mustContainer(t, containerInput())
	want := map[string]struct {
		typ, src string
		opt      string // one option that must be there
	}{
		"/proc":            {"proc", "proc", "noexec"},
		"/dev":             {"tmpfs", "tmpfs", "mode=755"},
		"/dev/pts":         {"devpts", "devpts", "newinstance"},
		"/dev/mqueue":      {"mqueue", "mqueue", "nodev"},
		"/dev/shm":         {"bind", "/run/crid/pods/pod1/shm", "rbind"},
		"/sys":             {"sysfs", "sysfs", "ro"},
		"/sys/fs/cgroup":   {"cgroup", "cgroup", "ro"},
		"/etc/hosts":       {"bind", "/run/crid/pods/pod1/hosts", "ro"},
		"/etc/resolv.conf": {"bind", "/run/crid/pods/pod1/resolv.conf", "ro"},
		"/etc/hostname":    {"bind", "/run/crid/pods/pod1/hostname", "ro"},
	}
	for dst, w := range want {
		m := findMount(s, dst)
		if m == nil {
			t.Errorf("no %s mount", dst)
			continue
		}
		if m.Type != w.typ || m.Source != w.src || !slices.Contains(m.Options, w.opt) {
			t.Errorf("%s: got %+v, want type %s source %s with %s", dst, *m, w.typ, w.src, w.opt)
		}
	}
	if len(s.Mounts) != len(want) {
		t.Errorf("got %d mounts, want %d: %+v", len(s.Mounts), len(want), s.Mounts)
	}
	assertParentsFirst(t, s.Mounts)
}

func assertParentsFirst(t *testing.T, ms []specs.Mount) {
	t.Helper()
	for i, m := range ms {
		for _, later := range ms[i+1:] {
			if m.Destination != later.Destination && under(m.Destination, later.Destination) {
				t.Fatalf("%s is mounted before its parent %s", m.Destination, later.Destination)
			}
		}
	}
}

func TestMountsVariants(t *testing.T) {
	// They live on the host's /run tmpfs: writable, they would let a container
	// fill it (and rewrite its siblings' DNS), whatever the rootfs is.
	t.Run("pod files are read-only", func(t *testing.T) {
		for _, readonlyRootfs := range []bool{false, true} {
			in := containerInput()
			in.Config.Linux.SecurityContext.ReadonlyRootfs = readonlyRootfs
			s := mustContainer(t, in)
			if s.Root.Readonly != readonlyRootfs {
				t.Fatalf("root read-only %v, want %v", s.Root.Readonly, readonlyRootfs)
			}
			for _, dst := range []string{"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"} {
				if m := findMount(s, dst); !slices.Contains(m.Options, "ro") || slices.Contains(m.Options, "rw") {
					t.Errorf("readonly rootfs %v: %s: %v", readonlyRootfs, dst, m.Options)
				}
			}
		}
	})
	t.Run("privileged sysfs and cgroup rw", func(t *testing.T) {
		in := containerInput()
		in.Sandbox.Linux.SecurityContext.Privileged = true
		in.Config.Linux.SecurityContext.Privileged = true
		s := mustContainer(t, in)
		for _, dst := range []string{"/sys", "/sys/fs/cgroup"} {
			if m := findMount(s, dst); !slices.Contains(m.Options, "rw") || slices.Contains(m.Options, "ro") {
				t.Errorf("%s: %v", dst, m.Options)
			}
		}
	})
	t.Run("user namespace: devpts without gid=5", func(t *testing.T) {
		in := containerInput()
		if m := findMount(mustContainer(t, in), "/dev/pts"); !slices.Contains(m.Options, "gid=5") {
			t.Fatalf("devpts: %v", m.Options)
		}
		in.Sandbox.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtime.UserNamespace{Mode: runtime.NamespaceMode_POD,
			Uids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}, Gids: []*runtime.IDMapping{{HostId: 100000, Length: 65536}}}
		if m := findMount(mustContainer(t, in), "/dev/pts"); slices.Contains(m.Options, "gid=5") || !slices.Contains(m.Options, "newinstance") {
			t.Fatalf("devpts in a user namespace: %v", m.Options)
		}
	})
	t.Run("no pod files: shm is a private tmpfs", func(t *testing.T) {
		in := containerInput()
		in.PodFiles = PodFiles{}
		s := mustContainer(t, in)
		if m := findMount(s, "/dev/shm"); m == nil || m.Type != "tmpfs" {
			t.Fatalf("shm: %+v", m)
		}
		if findMount(s, "/etc/hosts") != nil || findMount(s, "/etc/resolv.conf") != nil {
			t.Fatal("pod files mounted without paths")
		}
	})
	t.Run("CRI mount replaces default and children", func(t *testing.T) {
		in := containerInput()
		in.Config.Mounts = []*runtime.Mount{
			{ContainerPath: "/etc/hosts", HostPath: "/var/lib/kubelet/pods/x/etc-hosts"},
			{ContainerPath: "/dev", HostPath: "/host/dev"},
			{ContainerPath: "/var/log/app/sub", HostPath: "/l2"},
			{ContainerPath: "/var/log", HostPath: "/l1"},
		}
		s := mustContainer(t, in)
		if m := findMount(s, "/etc/hosts"); m.Source != "/var/lib/kubelet/pods/x/etc-hosts" {
			t.Fatalf("hosts: %+v", m)
		}
		if findMount(s, "/dev/pts") != nil || findMount(s, "/dev/shm") != nil {
			t.Fatal("defaults under a CRI /dev kept")
		}
		n := 0
		for _, m := range s.Mounts {
			if m.Destination == "/etc/hosts" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d /etc/hosts mounts", n)
		}
		assertParentsFirst(t, s.Mounts)
	})
	t.Run("propagation sets root propagation", func(t *testing.T) {
		for prop, want := range map[runtime.MountPropagation]string{
			runtime.MountPropagation_PROPAGATION_PRIVATE:           "",
			runtime.MountPropagation_PROPAGATION_HOST_TO_CONTAINER: "rslave",
			runtime.MountPropagation_PROPAGATION_BIDIRECTIONAL:     "rshared",
		} {
			in := containerInput()
			in.Config.Mounts = []*runtime.Mount{{ContainerPath: "/a", HostPath: "/x", Propagation: prop}}
			if got := mustContainer(t, in).Linux.RootfsPropagation; got != want {
				t.Errorf("%v: root propagation %q, want %q", prop, got, want)
			}
		}
	})
	t.Run("bad mount fails the spec", func(t *testing.T) {
		in := containerInput()
		in.Config.Mounts = []*runtime.Mount{{ContainerPath: "/ok", HostPath: "/x"}, {ContainerPath: "/ok2", HostPath: "/y"}, {ContainerPath: "rel", HostPath: "/z"}}
		_, err := ContainerSpec(in)
		wantInvalid(t, err, "mounts[2].container_path: ")
	})
}

func TestImageVolumes(t *testing.T) {
	img := ocispec.ImageConfig{Volumes: map[string]struct{}{
		"/data": {}, "/var/lib/db/": {}, "cache": {}, "/covered/sub": {}, "/var/lib/db": {},
	}}
	cfg := &runtime.ContainerConfig{Mounts: []*runtime.Mount{{ContainerPath: "/covered", HostPath: "/x"}}}
	got, err := ImageVolumes(cfg, img)
	want := []string{"/cache", "/data", "/var/lib/db"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	_, err = ImageVolumes(nil, ocispec.ImageConfig{Volumes: map[string]struct{}{"/proc/sys": {}}})
	wantInvalid(t, err, "Volumes")
	_, err = ImageVolumes(nil, ocispec.ImageConfig{Volumes: map[string]struct{}{"/..": {}}})
	wantInvalid(t, err, "Volumes")

	in := containerInput()
	in.Image.Config.Volumes = img.Volumes
	in.Config.Mounts = cfg.Mounts
	in.VolumeDirs = map[string]string{"/data": "/var/lib/crid/containers/ctr1/volumes/1", "/cache": "/var/lib/crid/containers/ctr1/volumes/2"}
	s := mustContainer(t, in)
	if m := findMount(s, "/data"); m == nil || m.Source != "/var/lib/crid/containers/ctr1/volumes/1" || !slices.Contains(m.Options, "rbind") {
		t.Fatalf("/data volume: %+v", m)
	}
	if findMount(s, "/var/lib/db") != nil {
		t.Fatal("a volume without a dir must not be mounted")
	}
	in.VolumeDirs["/data"] = "relative"
	_, err = ContainerSpec(in)
	wantInvalid(t, err, `VolumeDirs["/data"]`)
}
