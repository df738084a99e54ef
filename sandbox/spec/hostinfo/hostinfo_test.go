package hostinfo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/spec"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestDeviceInfo(t *testing.T) {
	got, err := DeviceInfo("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != "c" || got[0].Major != 1 || got[0].Minor != 3 || got[0].Path != "/dev/null" || *got[0].FileMode&0o666 != 0o666 {
		t.Fatalf("/dev/null: %+v", got)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	got, err = DeviceInfo(dir)
	if err != nil || len(got) != 0 {
		t.Fatalf("a dir of no devices (symlinks not followed): %+v, %v", got, err)
	}
	if _, err := DeviceInfo(filepath.Join(dir, "file")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("regular file: %v", err)
	}
	if _, err := DeviceInfo(filepath.Join(dir, "missing")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	// A symlink given as the host path itself is followed, as a user naming
	// /dev/disk/by-id/... means the device.
	got, err = DeviceInfo(filepath.Join(dir, "link"))
	if err != nil || len(got) != 1 || got[0].Major != 1 || got[0].Minor != 3 {
		t.Fatalf("symlink host path: %+v, %v", got, err)
	}
}

func TestHostDevices(t *testing.T) {
	devs, err := HostDevices()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range devs {
		seen[d.Path] = true
		if filepath.Dir(d.Path) == "/dev/pts" || d.Path == "/dev/console" {
			t.Errorf("%s must be skipped", d.Path)
		}
	}
	if !seen["/dev/null"] || !seen["/dev/zero"] {
		t.Fatalf("host devices lack /dev/null or /dev/zero: %d devices", len(devs))
	}
}

// The probed host drives a real spec: a CRI device resolves through it.
func TestProbeWithSpec(t *testing.T) {
	h := Probe(Options{CgroupDriver: spec.CgroupfsDriver})
	if h.ReadFile == nil || h.DeviceInfo == nil || h.HostDevices == nil {
		t.Fatal("probe left functions unset")
	}
	t.Logf("cgroup v2 %v, seccomp %v, apparmor %v", h.CgroupV2, !h.SeccompDisabled, h.AppArmorEnabled)
	s, err := spec.ContainerSpec(spec.ContainerInput{
		ID: "c", SandboxID: "p", RootfsPath: "/r", Host: h,
		Config: &runtime.ContainerConfig{
			Metadata: &runtime.ContainerMetadata{Name: "c"},
			Command:  []string{"/bin/true"},
			Devices:  []*runtime.Device{{HostPath: "/dev/null", ContainerPath: "/dev/mynull", Permissions: "rw"}},
		},
		PodNamespaces: spec.NamespacePaths{Network: "/n", IPC: "/i", UTS: "/u", PID: "/p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range s.Linux.Devices {
		found = found || (d.Path == "/dev/mynull" && d.Major == 1 && d.Minor == 3)
	}
	if !found {
		t.Fatalf("device not in spec: %+v", s.Linux.Devices)
	}
}
