package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestNRIPlugins: a pre-registered NRI plugin (started by crid from plugin_path) and an
// externally started one (connecting to socket_path), both built from the NRI module's
// stub, see the pod and container events and adjust the container: each adds an env var,
// and the pre-registered one bind mounts the host dir a container label names; the
// container sees all of it.
func TestNRIPlugins(t *testing.T) {
	dir, err := os.MkdirTemp("", "crid-nri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	plugin := filepath.Join(dir, "nriplugin")
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", plugin, "./test/e2e/nriplugin")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the plugin: %v\n%s", err, out)
	}
	pluginDir, confDir := filepath.Join(dir, "plugins"), filepath.Join(dir, "conf.d")
	for _, d := range []string{pluginDir, confDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	preEvents, extEvents := filepath.Join(dir, "pre.events"), filepath.Join(dir, "ext.events")
	// crid starts <index>-<name> from plugin_path with the connection on an inherited fd.
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -events %s -env NRI_PRE=pre -label e2e.crid.dev/nri-mount\n", plugin, preEvents)
	if err := os.WriteFile(filepath.Join(pluginDir, "10-pre"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nri.sock")
	d := startDaemon(t, daemonOptions{config: fmt.Sprintf("[nri]\nenable = true\nsocket_path = %q\nplugin_path = %q\nplugin_config_path = %q\n", sock, pluginDir, confDir)})

	ext := exec.Command(plugin, "-name", "ext", "-idx", "50", "-socket", sock, "-events", extEvents, "-env", "NRI_EXT=ext")
	if err := ext.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ext.Process.Signal(syscall.SIGKILL)
		_ = ext.Wait()
	})
	events := func(path string) string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
	for _, f := range []string{preEvents, extEvents} {
		if err := waitFor(30*time.Second, func() error {
			if !strings.Contains(events(f), "Synchronize") {
				return fmt.Errorf("%s: not registered yet", f)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	share := filepath.Join(dir, "share")
	if err := os.Mkdir(share, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(share, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pod := d.podConfig(t, "nri")
	podID := d.runPod(t, pod)
	cfg := containerConfig("adjusted", testImage(t, d), "sleep", "3600")
	cfg.Labels["e2e.crid.dev/nri-mount"] = share
	cfg.Labels["e2e.crid.dev/nri-cpu-shares"] = "300"
	id := d.runContainer(t, podID, pod, cfg)
	if got := d.mustExec(t, id, "sh", "-c", "echo $NRI_PRE $NRI_EXT; cat /nri-mount/hello"); got != "pre ext\nfrom the host\n" {
		t.Errorf("inside the adjusted container: %q", got)
	}
	if _, _, code := d.execSync(t, id, criTimeout, "touch", "/nri-mount/x"); code == 0 {
		t.Error("the plugin's read-only mount is writable")
	}
	// The plugins' own update request (after the start, unsolicited) reaches the container.
	if err := waitFor(30*time.Second, func() error {
		if !strings.Contains(events(preEvents), "UpdateContainers adjusted failed=0 err=<nil>") {
			return fmt.Errorf("no update answered yet: %s", events(preEvents))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := d.containerStatus(t, id).GetResources().GetLinux().GetCpuShares(); got != 300 {
		t.Errorf("CPU shares after the plugin's update: %d, want 300", got)
	}
	plain := d.runContainer(t, podID, pod, containerConfig("plain", testImage(t, d), "sleep", "3600"))
	if _, _, code := d.execSync(t, plain, criTimeout, "test", "-e", "/nri-mount"); code == 0 {
		t.Error("a container without the label got the mount")
	}
	if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RT.RemoveContainer(ctxT(t, criTimeout), &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	d.removePod(t, podID)
	for _, f := range []string{preEvents, extEvents} {
		got := events(f)
		for _, want := range []string{"RunPodSandbox nri", "CreateContainer nri adjusted", "StartContainer nri adjusted",
			"StopContainer nri adjusted", "RemoveContainer nri adjusted", "StopPodSandbox nri", "RemovePodSandbox nri"} {
			if !strings.Contains(got, want+"\n") {
				t.Errorf("%s lacks %q:\n%s", filepath.Base(f), want, got)
			}
		}
	}
}
