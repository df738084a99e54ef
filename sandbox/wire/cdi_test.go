package wire_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox/wire"
)

const vendorSpec = `cdiVersion: "0.6.0"
kind: vendor.example/accel
containerEdits:
  env: ["ACCEL_DRIVER=1"]
devices:
  - name: "0"
    containerEdits:
      env: ["ACCEL_VISIBLE=0"]
      deviceNodes:
        - path: /dev/accel0
          hostPath: /dev/null
      mounts:
        - hostPath: /usr/share
          containerPath: /opt/accel
          options: ["ro", "bind"]
      hooks:
        - hookName: createContainer
          path: /bin/true
          args: ["true", "accel"]
  - name: "1"
    containerEdits:
      env: ["ACCEL_VISIBLE=1"]
`

func TestCDIResolveAndInject(t *testing.T) {
	t.Parallel()
	low, high := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(low, "accel.yaml"), []byte(vendorSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c := wire.NewCDI([]string{low, high})
	cfg := &runtimeapi.ContainerConfig{
		CDIDevices:  []*runtimeapi.CDIDevice{{Name: "vendor.example/accel=0"}},
		Annotations: map[string]string{"cdi.k8s.io/b": "vendor.example/accel=1,vendor.example/accel=0", "other": "x"},
	}
	names, err := c.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"vendor.example/accel=0", "vendor.example/accel=1"}; !slices.Equal(names, want) {
		t.Fatalf("names %v, want %v", names, want)
	}
	s := &specs.Spec{Process: &specs.Process{Env: []string{"PATH=/bin"}}, Linux: &specs.Linux{Resources: &specs.LinuxResources{}}}
	if err := c.Inject(s, names); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"ACCEL_DRIVER=1", "ACCEL_VISIBLE=1", "PATH=/bin"} {
		if !slices.Contains(s.Process.Env, e) {
			t.Errorf("env %q missing: %v", e, s.Process.Env)
		}
	}
	if len(s.Linux.Devices) != 1 || s.Linux.Devices[0].Path != "/dev/accel0" || s.Linux.Devices[0].Major != 1 || s.Linux.Devices[0].Minor != 3 {
		t.Errorf("device nodes: %+v", s.Linux.Devices)
	}
	if r := s.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || *r[0].Major != 1 || *r[0].Minor != 3 {
		t.Errorf("device cgroup rules: %+v", r)
	}
	if len(s.Mounts) != 1 || s.Mounts[0].Destination != "/opt/accel" || s.Mounts[0].Source != "/usr/share" {
		t.Errorf("mounts: %+v", s.Mounts)
	}
	if s.Hooks == nil || len(s.Hooks.CreateContainer) != 1 || s.Hooks.CreateContainer[0].Path != "/bin/true" {
		t.Errorf("hooks: %+v", s.Hooks)
	}

	// A spec file written after the cache was made is seen by the next request.
	if err := os.WriteFile(filepath.Join(high, "late.json"),
		[]byte(`{"cdiVersion":"0.6.0","kind":"late.example/x","devices":[{"name":"a","containerEdits":{"env":["LATE=1"]}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(&runtimeapi.ContainerConfig{CDIDevices: []*runtimeapi.CDIDevice{{Name: "late.example/x=a"}}}); err != nil {
		t.Errorf("a spec written later: %v", err)
	}
}

func TestCDIRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "accel.yaml"), []byte(vendorSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("cdiVersion: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  *runtimeapi.ContainerConfig
		dirs []string
		want error
		msg  string
	}{
		{"unknown device", &runtimeapi.ContainerConfig{CDIDevices: []*runtimeapi.CDIDevice{{Name: "vendor.example/accel=7"}}}, []string{dir}, errdefs.ErrNotFound, "broken.yaml"},
		{"unknown vendor in an annotation", &runtimeapi.ContainerConfig{Annotations: map[string]string{"cdi.k8s.io/x": "nope.example/gpu=0"}}, []string{dir}, errdefs.ErrNotFound, "nope.example/gpu=0"},
		{"malformed name", &runtimeapi.ContainerConfig{CDIDevices: []*runtimeapi.CDIDevice{{Name: "gpu0"}}}, []string{dir}, errdefs.ErrInvalidArgument, "cdi_devices[0]"},
		{"malformed annotation", &runtimeapi.ContainerConfig{Annotations: map[string]string{"cdi.k8s.io/x": "vendor.example/accel=0,"}}, []string{dir}, errdefs.ErrInvalidArgument, "cdi.k8s.io/x"},
		{"no spec dirs", &runtimeapi.ContainerConfig{CDIDevices: []*runtimeapi.CDIDevice{{Name: "vendor.example/accel=0"}}}, nil, errdefs.ErrNotFound, "cdi_spec_dirs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wire.NewCDI(tc.dirs).Resolve(tc.cfg)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v naming %q", err, tc.want, tc.msg)
			}
		})
	}
	if names, err := wire.NewCDI(nil).Resolve(&runtimeapi.ContainerConfig{}); names != nil || err != nil {
		t.Errorf("no device asked: %v %v", names, err)
	}
}
