package spec

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeDevices is a host /dev for Host.DeviceInfo.
func fakeDevices(hostPath string) ([]specs.LinuxDevice, error) {
	switch hostPath {
	case "/dev/fuse":
		return []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}, nil
	case "/dev/null":
		return []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}}, nil
	case "/dev/dri":
		return []specs.LinuxDevice{
			{Path: "/dev/dri/card0", Type: "c", Major: 226, Minor: 0},
			{Path: "/dev/dri/renderD128", Type: "c", Major: 226, Minor: 128},
		}, nil
	case "/dev/escape":
		return []specs.LinuxDevice{{Path: "/etc/shadow", Type: "c", Major: 1, Minor: 1}}, nil
	case "/dev/regular":
		return []specs.LinuxDevice{{Path: "/dev/regular", Type: "f"}}, nil
	case "/dev/empty":
		return nil, nil
	}
	return nil, fmt.Errorf("%s: %w", hostPath, errors.ErrUnsupported)
}

func TestDevices(t *testing.T) {
	tests := []struct {
		name      string
		req       []*runtime.Device
		wantDevs  map[string][2]int64 // container path -> major, minor
		wantRules []string            // "type major:minor access" added after the defaults
		wantErr   string
	}{
		{
			name:      "single device renamed",
			req:       []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/myfuse", Permissions: "rw"}},
			wantDevs:  map[string][2]int64{"/dev/myfuse": {10, 229}},
			wantRules: []string{"c 10:229 rw"},
		},
		{
			name:      "directory",
			req:       []*runtime.Device{{HostPath: "/dev/dri", ContainerPath: "/dev/dri"}},
			wantDevs:  map[string][2]int64{"/dev/dri/card0": {226, 0}, "/dev/dri/renderD128": {226, 128}},
			wantRules: []string{"c 226:0 rwm", "c 226:128 rwm"},
		},
		{
			name:      "replaces a default device",
			req:       []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/null", Permissions: "r"}},
			wantDevs:  map[string][2]int64{"/dev/null": {10, 229}},
			wantRules: []string{"c 10:229 r"},
		},
		{name: "bad permissions", req: []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse", Permissions: "rwx"}}, wantErr: "devices[0].permissions"},
		{name: "relative container path", req: []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "dev/fuse"}}, wantErr: "devices[0].container_path"},
		{name: "relative host path", req: []*runtime.Device{{HostPath: "fuse", ContainerPath: "/dev/fuse"}}, wantErr: "devices[0].host_path"},
		{name: "not a device", req: []*runtime.Device{{HostPath: "/dev/regular", ContainerPath: "/dev/r"}}, wantErr: "devices[0].host_path"},
		{name: "resolver leaves host_path", req: []*runtime.Device{{HostPath: "/dev/escape", ContainerPath: "/dev/e"}}, wantErr: "devices[0].host_path"},
		{name: "empty dir", req: []*runtime.Device{{HostPath: "/dev/empty", ContainerPath: "/dev/e"}}, wantErr: "devices[0].host_path"},
		{name: "nil device", req: []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse"}, nil}, wantErr: "devices[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := containerInput()
			in.Host.DeviceInfo = fakeDevices
			in.Config.Devices = tt.req
			s, err := ContainerSpec(in)
			if endsInError(t, err, tt.wantErr) {
				return
			}
			byPath := map[string]specs.LinuxDevice{}
			for _, d := range s.Linux.Devices {
				if _, dup := byPath[d.Path]; dup {
					t.Fatalf("device %s twice", d.Path)
				}
				byPath[d.Path] = d
			}
			for p, mm := range tt.wantDevs {
				d, ok := byPath[p]
				if !ok || d.Major != mm[0] || d.Minor != mm[1] {
					t.Errorf("device %s: %+v", p, d)
				}
			}
			if _, ok := byPath["/dev/urandom"]; !ok {
				t.Error("default devices missing")
			}
			rules := s.Linux.Resources.Devices
			base := len(defaultDeviceRules())
			if len(rules) != base+len(tt.wantRules) {
				t.Fatalf("rules: %d, want %d", len(rules), base+len(tt.wantRules))
			}
			for i, want := range tt.wantRules {
				r := rules[base+i]
				if got := fmt.Sprintf("%s %d:%d %s", r.Type, *r.Major, *r.Minor, r.Access); !r.Allow || got != want {
					t.Errorf("rule %d: %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestDevicesResolverErrors(t *testing.T) {
	in := containerInput()
	in.Config.Devices = []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse"}}
	_, err := ContainerSpec(in)
	wantInvalid(t, err, "devices[0]") // no resolver given

	in.Host.DeviceInfo = fakeDevices
	in.Config.Devices[0].HostPath = "/dev/unknown"
	if _, err := ContainerSpec(in); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("resolver error must be kept: %v", err)
	}

	in = containerInput()
	in.Sandbox.Linux.SecurityContext.Privileged = true
	in.Config.Linux.SecurityContext.Privileged = true
	boom := errors.New("boom")
	in.Host.HostDevices = func() ([]specs.LinuxDevice, error) { return nil, boom }
	if _, err := ContainerSpec(in); !errors.Is(err, boom) {
		t.Fatalf("host devices error: %v", err)
	}
}

// Specs must not share the default devices' pointer fields.
func TestDefaultDevicesNotShared(t *testing.T) {
	a := mustContainer(t, containerInput())
	b := mustContainer(t, containerInput())
	*a.Linux.Devices[0].FileMode = 0
	if *b.Linux.Devices[0].FileMode != 0o666 {
		t.Fatal("device file modes shared between specs")
	}
}

// A privileged container of a handler with privileged_without_host_devices gets
// no host device nodes and no allow-all device rule either: with every
// capability (CAP_MKNOD) an allow-all rule would let it mknod and open any
// host device (a disk, /dev/kmsg) the missing nodes were meant to withhold.
// The request's devices still come with their rules (containerd's behaviour
// unless privileged_without_host_devices_all_devices_allowed).
func TestPrivilegedWithoutHostDevices(t *testing.T) {
	in := containerInput()
	in.Sandbox.Linux.SecurityContext.Privileged = true
	in.Config.Linux.SecurityContext.Privileged = true
	in.Host.HostDevices = func() ([]specs.LinuxDevice, error) {
		return []specs.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}, nil
	}
	in.Host.DeviceInfo = fakeDevices
	in.Config.Devices = []*runtime.Device{{HostPath: "/dev/fuse", ContainerPath: "/dev/fuse", Permissions: "rw"}}
	in.PrivilegedWithoutHostDevices = true
	s := mustContainer(t, in)
	for _, d := range s.Linux.Devices {
		if d.Path == "/dev/sda" {
			t.Errorf("host device %s given", d.Path)
		}
	}
	rules := s.Linux.Resources.Devices
	for i, r := range rules {
		if r.Allow && (r.Type == "" || r.Type == "a") && r.Major == nil && r.Minor == nil {
			t.Errorf("rule %d allows every device: %+v", i, r)
		}
	}
	base := len(defaultDeviceRules())
	if len(rules) != base+1 || rules[base].Type != "c" || *rules[base].Major != 10 || *rules[base].Minor != 229 || rules[base].Access != "rw" {
		t.Errorf("rules: %+v, want the defaults and c 10:229 rw", rules)
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/urandom" }) {
		t.Error("default devices missing")
	}

	// The same container on a handler without the option: every device.
	in.PrivilegedWithoutHostDevices = false
	s = mustContainer(t, in)
	if r := s.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || r[0].Major != nil {
		t.Errorf("privileged rules: %+v, want one allow-all", r)
	}
}
