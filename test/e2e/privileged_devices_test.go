package e2e

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPrivilegedWithoutHostDevices: a privileged container of a handler with
// privileged_without_host_devices gets every capability, CAP_MKNOD included, but
// may not make a host device of its own and open it. The attack is /dev/kmsg (the
// host's kernel log, c 1:11, not among a container's default devices): it opens on
// the default handler, and must be refused by the device cgroup on the others, the
// built-in executor's and runc's.
func TestPrivilegedWithoutHostDevices(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: `
[runtime_handlers.nodev]
privileged_without_host_devices = true

[runtime_handlers.runc-nodev]
runtime_path = "/usr/sbin/runc"
privileged_without_host_devices = true
`})
	for _, c := range []struct {
		handler  string
		withheld bool
	}{{"", false}, {"nodev", true}, {"runc-nodev", true}} {
		t.Run("handler="+c.handler, func(t *testing.T) {
			if c.handler == "runc-nodev" {
				skipUnusable(t, "runc", "/usr/sbin/runc", runcPrivilegedUnsupported)
			}
			pod := d.podConfigOn(t, "privdev", c.handler)
			pod.Linux.SecurityContext.Privileged = true
			podID := d.runPod(t, pod)
			defer d.removePod(t, podID)
			cfg := containerConfig("privdev", testImage(t, d), "sleep", "3600")
			cfg.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{Privileged: true}
			id := d.runContainer(t, podID, pod, cfg)
			stdout, stderr, code := d.execSync(t, id, 30*time.Second, "sh", "-c",
				"mknod /tmp/kmsg c 1 11 && exec 3</tmp/kmsg && echo opened")
			opened := code == 0 && strings.Contains(stdout, "opened")
			if opened == c.withheld {
				t.Errorf("opening a host device made with mknod: exit %d, stdout %q, stderr %q; want it opened: %v",
					code, stdout, stderr, !c.withheld)
			}
		})
	}
}

// runcPrivilegedUnsupported: a privileged container's spec names every capability, and
// runc fails to apply one outside its own bounding set ("unable to apply caps"), as on a
// machine whose bounding set lacks some (this project's lacks CAP_SYS_RESOURCE).
func runcPrivilegedUnsupported() string {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err.Error()
	}
	last, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return err.Error()
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(last)))
	bnd, _ := strconv.ParseUint(parseStatus(string(status))["CapBnd"], 16, 64)
	if all := uint64(1)<<(n+1) - 1; bnd != all {
		return "the bounding set " + strconv.FormatUint(bnd, 16) + " lacks capabilities a privileged spec names: runc refuses it"
	}
	return ""
}
