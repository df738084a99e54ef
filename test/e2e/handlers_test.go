package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/oci/monitor/api"
	"github.com/crid-dev/crid/test/e2e/hoststate"
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

// externalRuntimes are the OCI runtime binaries the handler tests drive, from Debian's
// runc and crun packages (hack/setup.sh installs them).
var externalRuntimes = []struct {
	name, path  string
	unsupported func() string // why the runtime cannot work on this host; "" = it can
}{
	{"runc", "/usr/sbin/runc", func() string { return "" }},
	{"crun", "/usr/bin/crun", crunUnsupported},
}

// crunUnsupported: crun (Debian 12's 1.8) refuses every container on a cgroup v1 hybrid
// host whose cgroup2 hierarchy has a controller ("cgroups in hybrid mode not supported,
// drop all controllers from cgroupv2"), as this project's machines have (hugetlb); the
// VM tier's cgroup v2 guests do not.
func crunUnsupported() string {
	b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return ""
	}
	return fmt.Sprintf("cgroup v1 hybrid with controllers in cgroup2 (%s): crun refuses it", strings.TrimSpace(string(b)))
}

// skipUnusable skips t when the runtime's binary is absent or cannot work on this host.
func skipUnusable(t *testing.T, name, path string, unsupported func() string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s is not installed (Debian package %s, hack/setup.sh): %v", path, name, err)
	}
	if why := unsupported(); why != "" {
		t.Skipf("%s cannot run containers on this host: %s", name, why)
	}
}

// forEachHandler runs body as a subtest per handler: the built-in executor (""), then each
// external runtime, skipped with the reason when its binary is absent.
func forEachHandler(t *testing.T, body func(t *testing.T, handler string)) {
	t.Run("builtin", func(t *testing.T) { body(t, "") })
	for _, rt := range externalRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			skipUnusable(t, rt.name, rt.path, rt.unsupported)
			body(t, rt.name)
		})
	}
}

// TestRuntimeHandlers runs the same test bodies as the built-in executor's on pods of
// each handler: lifecycle and logs, exit codes, a TTY container, exec (sync, streamed,
// tty), attach, stats, resources and their update.
func TestRuntimeHandlers(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: handlersConfig()})
	for name, body := range map[string]func(*testing.T, *Daemon, string){
		"logs": containerLogs, "execsync": execSync, "execstream": execStream, "attach": attach, "stats": containerStats,
		"resources": resources, "exitcodes": exitCodes, "tty": containerTTY,
	} {
		t.Run(name, func(t *testing.T) {
			forEachHandler(t, func(t *testing.T, handler string) { body(t, d, handler) })
		})
	}
}

// TestRuntimeHandlersRestart: crid restarted (SIGTERM, SIGKILL) with live pods of each
// handler recovers them, and their containers keep running, exec, start and stop; the
// same bodies as the built-in executor's restart tests.
func TestRuntimeHandlersRestart(t *testing.T) {
	opts := daemonOptions{config: handlersConfig()}
	t.Run("keeps-containers", func(t *testing.T) {
		forEachHandler(t, func(t *testing.T, handler string) { restartKeepsContainers(t, opts, handler) })
	})
	t.Run("recovers-pods", func(t *testing.T) {
		forEachHandler(t, func(t *testing.T, handler string) { restartRecoversPods(t, opts, handler) })
	})
}

// TestRuntimeHandlersUseTheRuntime: a container of an external handler is the runtime's
// (its `state` shows it running with the pid crid reports), and removing it leaves
// nothing in the runtime's root nor its rootfs mounted.
func TestRuntimeHandlersUseTheRuntime(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: handlersConfig()})
	for _, rt := range externalRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			skipUnusable(t, rt.name, rt.path, rt.unsupported)
			root := filepath.Join(d.State, "runtimes", rt.name)
			podID, id, _ := d.sleeperOn(t, "on-"+rt.name, rt.name)
			out, err := exec.Command(rt.path, "--root", root, "state", id).Output()
			if err != nil {
				t.Fatalf("%s state %s: %v", rt.name, id, err)
			}
			var st struct {
				Status string `json:"status"`
				Pid    int    `json:"pid"`
			}
			if err := json.Unmarshal(out, &st); err != nil {
				t.Fatalf("%s state: %v: %s", rt.name, err, out)
			}
			resp, err := d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
			if err != nil {
				t.Fatal(err)
			}
			var info struct{ Pid int }
			if err := json.Unmarshal([]byte(resp.GetInfo()["info"]), &info); err != nil {
				t.Fatalf("verbose status: %v", err)
			}
			if st.Status != "running" || st.Pid != info.Pid || st.Pid == 0 {
				t.Errorf("%s state: %s pid %d; crid reports pid %d", rt.name, st.Status, st.Pid, info.Pid)
			}
			mounts, _ := os.ReadFile("/proc/self/mountinfo")
			if !strings.Contains(string(mounts), id) {
				t.Errorf("the rootfs of %s is not mounted on the host for the runtime", id)
			}
			d.removePod(t, podID)
			if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
				t.Errorf("the runtime's root after the pod's removal: %v %v", ents, err)
			}
			if mounts, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mounts), id) {
				t.Errorf("the rootfs of %s is still mounted after the pod's removal", id)
			}
		})
	}
}

// TestRuntimeHandlerMonitorLost: when the monitor of an external handler's pod dies, crid
// cleans up after it as for the built-in executor, and also deletes the container from
// the runtime and unmounts its rootfs: nothing is left running, mounted or recorded.
func TestRuntimeHandlerMonitorLost(t *testing.T) {
	rt := externalRuntimes[0]
	skipUnusable(t, rt.name, rt.path, rt.unsupported)
	d := startDaemon(t, daemonOptions{config: handlersConfig()})
	podID, id, _ := d.sleeperOn(t, "monitor-lost", rt.name)
	ps, err := d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct{ StateDir string }
	if err := json.Unmarshal([]byte(ps.GetInfo()["info"]), &info); err != nil || info.StateDir == "" {
		t.Fatalf("pod verbose info: %v %q", err, ps.GetInfo()["info"])
	}
	monPid, _, err := api.ReadPidFile(info.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	ctrPid := d.hostPidOf(t, "sleep 3600")
	if err := syscall.Kill(monPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	eventually(t, 10*time.Second, func() error {
		if hoststate.Alive(ctrPid) {
			return fmt.Errorf("the container's process %d survived its monitor", ctrPid)
		}
		if ents, _ := os.ReadDir(filepath.Join(d.State, "runtimes", rt.name)); len(ents) != 0 {
			return fmt.Errorf("the runtime still has %d containers", len(ents))
		}
		if m, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(m), id) {
			return fmt.Errorf("the rootfs of %s is still mounted", id)
		}
		return nil
	})
}
