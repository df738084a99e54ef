package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCDIDevices: a container asking for CDI devices (CDIDevices and a cdi.k8s.io/
// annotation) sees their device node, env and mount from inside; an unknown device fails
// CreateContainer with NotFound and leaves no container.
func TestCDIDevices(t *testing.T) {
	low, err := os.MkdirTemp("", "crid-cdi-low")
	if err != nil {
		t.Fatal(err)
	}
	high, err := os.MkdirTemp("", "crid-cdi-high")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(low); os.RemoveAll(high) })
	d := startDaemon(t, daemonOptions{config: fmt.Sprintf("cdi_spec_dirs = [%q, %q]\n", low, high)})

	share := filepath.Join(high, "share")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(share, "firmware"), []byte("accel-fw-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Written after crid started: CreateContainer reads the dirs again.
	spec := fmt.Sprintf(`{
  "cdiVersion": "0.6.0",
  "kind": "e2e.crid.dev/accel",
  "containerEdits": {"env": ["ACCEL_DRIVER=e2e"]},
  "devices": [
    {"name": "0", "containerEdits": {
      "env": ["ACCEL_VISIBLE_DEVICES=0"],
      "deviceNodes": [{"path": "/dev/accel0", "hostPath": "/dev/null", "permissions": "rw"}],
      "mounts": [{"hostPath": %q, "containerPath": "/opt/accel", "options": ["ro", "bind"]}]
    }},
    {"name": "1", "containerEdits": {"env": ["ACCEL_SECOND=1"]}}
  ]
}`, share)
	if err := os.WriteFile(filepath.Join(high, "accel.json"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}

	pod := d.podConfig(t, "cdi")
	podID := d.runPod(t, pod)
	img := testImage(t, d)

	bad := containerConfig("unknown", img, "sleep", "3600")
	bad.CDIDevices = []*runtimeapi.CDIDevice{{Name: "e2e.crid.dev/accel=7"}}
	_, err = d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: bad, SandboxConfig: pod})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "e2e.crid.dev/accel=7") {
		t.Fatalf("unknown device: %v, want NotFound naming it", err)
	}
	bad.CDIDevices = []*runtimeapi.CDIDevice{{Name: "not-qualified"}}
	_, err = d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: bad, SandboxConfig: pod})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("malformed device name: %v, want InvalidArgument", err)
	}
	list, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{PodSandboxId: podID}})
	if err != nil || len(list.Containers) != 0 {
		t.Fatalf("refused creations left containers: %v %v", list, err)
	}

	cfg := containerConfig("accel", img, "sleep", "3600")
	cfg.CDIDevices = []*runtimeapi.CDIDevice{{Name: "e2e.crid.dev/accel=0"}}
	cfg.Annotations = map[string]string{"cdi.k8s.io/e2e": "e2e.crid.dev/accel=1"}
	id := d.runContainer(t, podID, pod, cfg)

	if got := d.mustExec(t, id, "sh", "-c", "echo $ACCEL_DRIVER $ACCEL_VISIBLE_DEVICES $ACCEL_SECOND"); got != "e2e 0 1\n" {
		t.Errorf("CDI env in the container: %q", got)
	}
	// The node is the host's /dev/null (char 1:3) under the vendor's name, usable.
	if got := d.mustExec(t, id, "sh", "-c", "stat -c '%F %t:%T' /dev/accel0 && echo data > /dev/accel0 && echo written"); got != "character special file 1:3\nwritten\n" {
		t.Errorf("CDI device node: %q", got)
	}
	if got := d.mustExec(t, id, "cat", "/opt/accel/firmware"); got != "accel-fw-1\n" {
		t.Errorf("CDI mount: %q", got)
	}
	if _, _, code := d.execSync(t, id, criTimeout, "touch", "/opt/accel/x"); code == 0 {
		t.Error("the CDI mount asked read-only is writable")
	}
}
