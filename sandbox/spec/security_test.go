package spec

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

func TestCapabilities(t *testing.T) {
	withDefault := func(add []string, drop ...string) []string {
		out := DefaultCapabilities()
		out = append(out, add...)
		return slices.DeleteFunc(out, func(c string) bool { return slices.Contains(drop, c) })
	}
	tests := []struct {
		name       string
		c          *runtime.Capability
		privileged bool
		want       []string
		wantErr    string
	}{
		{name: "nil is default", c: nil, want: DefaultCapabilities()},
		{name: "add with and without prefix, any case", c: &runtime.Capability{AddCapabilities: []string{"NET_ADMIN", "CAP_SYS_TIME", "sys_ptrace"}},
			want: withDefault([]string{"CAP_NET_ADMIN", "CAP_SYS_TIME", "CAP_SYS_PTRACE"})},
		{name: "drop", c: &runtime.Capability{DropCapabilities: []string{"NET_RAW", "CAP_MKNOD"}}, want: withDefault(nil, "CAP_NET_RAW", "CAP_MKNOD")},
		{name: "drop wins over add", c: &runtime.Capability{AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"NET_ADMIN"}}, want: DefaultCapabilities()},
		{name: "drop ALL then add", c: &runtime.Capability{DropCapabilities: []string{"ALL"}, AddCapabilities: []string{"NET_BIND_SERVICE"}}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "drop all", c: &runtime.Capability{DropCapabilities: []string{"all"}}, want: nil},
		{name: "add ALL", c: &runtime.Capability{AddCapabilities: []string{"ALL"}}, want: allCapabilities},
		{name: "add ALL drop one", c: &runtime.Capability{AddCapabilities: []string{"ALL"}, DropCapabilities: []string{"SYS_ADMIN"}},
			want: slices.DeleteFunc(slices.Clone(allCapabilities), func(c string) bool { return c == "CAP_SYS_ADMIN" })},
		{name: "privileged is all", privileged: true, c: &runtime.Capability{DropCapabilities: []string{"ALL"}}, want: allCapabilities},
		{name: "unknown add", c: &runtime.Capability{AddCapabilities: []string{"NET_ADMIN", "CAP_FLY"}}, wantErr: "capabilities.add_capabilities[1]"},
		{name: "unknown drop", c: &runtime.Capability{DropCapabilities: []string{"NOPE"}}, wantErr: "capabilities.drop_capabilities[0]"},
		{name: "unknown ambient", c: &runtime.Capability{AddAmbientCapabilities: []string{"X"}}, wantErr: "capabilities.add_ambient_capabilities[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := capabilities(tt.c, tt.privileged)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
			for _, set := range [][]string{got.Bounding, got.Effective, got.Permitted} {
				if !slices.Equal(sorted(set), sorted(tt.want)) {
					t.Fatalf("got %v, want %v", set, tt.want)
				}
			}
			if len(got.Inheritable) != 0 || len(got.Ambient) != 0 {
				t.Fatalf("inheritable/ambient must be empty: %v %v", got.Inheritable, got.Ambient)
			}
		})
	}
}

func TestAmbientCapabilities(t *testing.T) {
	got, err := capabilities(&runtime.Capability{DropCapabilities: []string{"ALL"}, AddAmbientCapabilities: []string{"net_bind_service"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CAP_NET_BIND_SERVICE"}
	if !slices.Equal(got.Ambient, want) || !slices.Equal(got.Inheritable, want) || !slices.Equal(got.Permitted, want) || !slices.Equal(got.Bounding, want) {
		t.Fatalf("ambient needs permitted, inheritable and bounding: %+v", got)
	}
}

func TestContainerSecurity(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		s := mustContainer(t, containerInput())
		if !slices.Equal(s.Linux.MaskedPaths, defaultMaskedPaths) || !slices.Equal(s.Linux.ReadonlyPaths, defaultReadonlyPaths) {
			t.Fatalf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
		}
		if s.Process.NoNewPrivileges || s.Process.ApparmorProfile != "" || s.Root.Readonly {
			t.Fatalf("process: %+v", s.Process)
		}
		if !slices.Contains(s.Process.Capabilities.Bounding, "CAP_CHOWN") || slices.Contains(s.Process.Capabilities.Bounding, "CAP_SYS_ADMIN") {
			t.Fatalf("caps: %v", s.Process.Capabilities.Bounding)
		}
		if s.Linux.Resources.Devices[0].Allow || s.Linux.Resources.Devices[0].Access != "rwm" {
			t.Fatalf("devices must start with deny all: %+v", s.Linux.Resources.Devices[0])
		}
	})
	t.Run("explicit masked and readonly paths", func(t *testing.T) {
		in := containerInput()
		in.Config.Linux.SecurityContext.MaskedPaths = []string{"/proc/x"}
		in.Config.Linux.SecurityContext.ReadonlyPaths = []string{"/proc/y"}
		in.Config.Linux.SecurityContext.NoNewPrivs = true
		s := mustContainer(t, in)
		if !slices.Equal(s.Linux.MaskedPaths, []string{"/proc/x"}) || !slices.Equal(s.Linux.ReadonlyPaths, []string{"/proc/y"}) || !s.Process.NoNewPrivileges {
			t.Fatalf("got %v %v %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths, s.Process.NoNewPrivileges)
		}
	})
	t.Run("privileged", func(t *testing.T) {
		in := containerInput()
		in.Host.CgroupV2 = true
		in.Host.HostDevices = func() ([]specs.LinuxDevice, error) {
			return []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0}}, nil
		}
		in.Sandbox.Linux.SecurityContext.Privileged = true
		sc := in.Config.Linux.SecurityContext
		sc.Privileged = true
		sc.NoNewPrivs = true
		sc.MaskedPaths = []string{"/proc/x"}
		sc.Seccomp = &runtime.SecurityProfile{ProfileType: runtime.SecurityProfile_RuntimeDefault}
		s := mustContainer(t, in)
		if len(s.Process.Capabilities.Bounding) != len(allCapabilities) {
			t.Errorf("caps: %v", s.Process.Capabilities.Bounding)
		}
		if s.Linux.Seccomp != nil || s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil || s.Process.NoNewPrivileges {
			t.Errorf("privileged keeps restrictions: %+v", s.Linux)
		}
		if len(s.Linux.Resources.Devices) != 1 || !s.Linux.Resources.Devices[0].Allow {
			t.Errorf("device cgroup: %+v", s.Linux.Resources.Devices)
		}
		if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/sda" {
			t.Errorf("host devices: %+v", s.Linux.Devices)
		}
		if namespaceOf(s.Linux, "cgroup") != nil {
			t.Error("privileged containers see the host cgroup tree")
		}
	})
	t.Run("privileged container in unprivileged pod", func(t *testing.T) {
		in := containerInput()
		in.Config.Linux.SecurityContext.Privileged = true
		_, err := ContainerSpec(in)
		wantInvalid(t, err, "linux.security_context.privileged")
	})
}

func TestAppArmor(t *testing.T) {
	aa := func(t runtime.SecurityProfile_ProfileType, ref string) *runtime.SecurityProfile {
		return &runtime.SecurityProfile{ProfileType: t, LocalhostRef: ref}
	}
	loaded := func(name string) error {
		if name == "not-loaded" {
			return fmt.Errorf("%q: %w", name, errdefs.ErrFailedPrecondition)
		}
		return nil
	}
	on := Host{AppArmorEnabled: true, DefaultAppArmorProfile: "crid-default", AppArmorLoaded: loaded}
	var skipped []string
	off := Host{AppArmorSkipped: func(p string) { skipped = append(skipped, p) }}
	tests := []struct {
		name        string
		host        Host
		p           *runtime.SecurityProfile
		legacy      string
		privileged  bool
		want        string
		wantErr     bool
		wantPrecond bool
		wantSkipped int
	}{
		{name: "disabled on node: runtime default runs unconfined, reported", host: off, p: aa(runtime.SecurityProfile_RuntimeDefault, ""), want: "", wantSkipped: 1},
		{name: "disabled on node: nothing asked, nothing reported", host: off, want: ""},
		{name: "disabled on node: localhost refused", host: off, p: aa(runtime.SecurityProfile_Localhost, "x"), wantPrecond: true},
		{name: "nothing asked: runtime default", host: on, want: "crid-default"},
		{name: "nothing asked, privileged: unconfined", host: on, privileged: true, want: "unconfined"},
		{name: "runtime default not loaded", host: Host{AppArmorEnabled: true}, p: aa(runtime.SecurityProfile_RuntimeDefault, ""), wantPrecond: true},
		{name: "localhost not loaded", host: on, p: aa(runtime.SecurityProfile_Localhost, "not-loaded"), wantPrecond: true},
		{name: "legacy localhost not loaded", host: on, legacy: "localhost/not-loaded", wantPrecond: true},
		{name: "runtime default", host: on, p: aa(runtime.SecurityProfile_RuntimeDefault, ""), want: "crid-default"},
		{name: "runtime default privileged", host: on, p: aa(runtime.SecurityProfile_RuntimeDefault, ""), privileged: true, want: "unconfined"},
		{name: "unconfined", host: on, p: aa(runtime.SecurityProfile_Unconfined, ""), want: "unconfined"},
		{name: "localhost", host: on, p: aa(runtime.SecurityProfile_Localhost, "my-profile"), want: "my-profile"},
		{name: "localhost with prefix", host: on, p: aa(runtime.SecurityProfile_Localhost, "localhost/my-profile"), want: "my-profile"},
		{name: "localhost privileged", host: on, p: aa(runtime.SecurityProfile_Localhost, "my-profile"), privileged: true, want: "my-profile"},
		{name: "legacy runtime/default", host: on, legacy: "runtime/default", want: "crid-default"},
		{name: "legacy localhost", host: on, legacy: "localhost/other", want: "other"},
		{name: "legacy unconfined", host: on, legacy: "unconfined", want: "unconfined"},
		{name: "localhost without name", host: on, p: aa(runtime.SecurityProfile_Localhost, ""), wantErr: true},
		{name: "legacy garbage", host: on, legacy: "weird", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			in.Host = tt.host
			sc := in.Config.Linux.SecurityContext
			sc.Apparmor, sc.ApparmorProfile, sc.Privileged = tt.p, tt.legacy, tt.privileged
			in.Sandbox.Linux.SecurityContext.Privileged = tt.privileged
			skipped = nil
			s, err := ContainerSpec(in)
			if len(skipped) != tt.wantSkipped {
				t.Errorf("reported skipped %v, want %d", skipped, tt.wantSkipped)
			}
			if tt.wantErr {
				wantInvalid(t, err, "linux.security_context.apparmor")
				return
			}
			if tt.wantPrecond {
				if !errors.Is(err, errdefs.ErrFailedPrecondition) {
					t.Fatalf("err = %v, want FailedPrecondition", err)
				}
				return
			}
			if err != nil || s.Process.ApparmorProfile != tt.want {
				t.Fatalf("got %q, %v; want %q", s.Process.ApparmorProfile, err, tt.want)
			}
		})
	}
}
