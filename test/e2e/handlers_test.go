package e2e

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// handlersConfig configures runc and crun as external handlers (crun declaring recursive
// read-only mounts, so that the features Status reports are seen to follow the config).
func handlersConfig() string {
	return `
[runtime_handlers.runc]
runtime_path = "/usr/sbin/runc"

[runtime_handlers.crun]
runtime_path = "/usr/bin/crun"
recursive_read_only_mounts = true
`
}

// Status lists every handler with its features; an unknown handler is NotFound naming
// the known ones and makes nothing.
func TestRuntimeHandlersStatusAndUnknown(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: handlersConfig()})
	st, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*runtimeapi.RuntimeHandlerFeatures{}
	var names []string
	for _, h := range st.GetRuntimeHandlers() {
		got[h.GetName()] = h.GetFeatures()
		names = append(names, h.GetName())
	}
	if strings.Join(names, ",") != ",crid,crun,runc" {
		t.Fatalf("Status runtime_handlers = %q, want the default, crid, crun and runc", names)
	}
	if got["crid"].GetUserNamespaces() != got[""].GetUserNamespaces() || got["crid"].GetRecursiveReadOnlyMounts() != got[""].GetRecursiveReadOnlyMounts() {
		t.Errorf("crid names the built-in executor: features %v, the default's %v", got["crid"], got[""])
	}
	if !got["crun"].GetRecursiveReadOnlyMounts() || got["runc"].GetRecursiveReadOnlyMounts() || got["runc"].GetUserNamespaces() {
		t.Errorf("external handlers' features must be the configured ones: crun %v, runc %v", got["crun"], got["runc"])
	}

	pod := d.podConfig(t, "unknown-handler")
	_, err = d.RT.RunPodSandbox(ctxT(t, criTimeout), &runtimeapi.RunPodSandboxRequest{Config: pod, RuntimeHandler: "kata"})
	if !isNotFound(err) {
		t.Fatalf("RunPodSandbox with handler kata: %v, want NotFound", err)
	}
	for _, name := range []string{`"kata"`, `"crid"`, `"runc"`, `"crun"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error %q does not name %s", err, name)
		}
	}
	pods, err := d.RT.ListPodSandbox(ctxT(t, criTimeout), &runtimeapi.ListPodSandboxRequest{})
	if err != nil || len(pods.GetItems()) != 0 {
		t.Errorf("an unknown handler left pods: %v %v", pods.GetItems(), err)
	}
}
