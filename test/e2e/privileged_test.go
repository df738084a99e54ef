package e2e

import (
	"os"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPrivileged: a privileged container has every capability the runtime has, can mount,
// and sees the host's devices.
func TestPrivileged(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "privileged")
	pod.Linux.SecurityContext.Privileged = true
	podID := d.runPod(t, pod)
	cfg := containerConfig("priv", testImage(t, d), "sleep", "3600")
	cfg.Linux.SecurityContext = &runtimeapi.LinuxContainerSecurityContext{Privileged: true}
	id := d.runContainer(t, podID, pod, cfg)

	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	host := parseStatus(string(self))
	st := procStatus(t, d, id)
	if st["CapEff"] != host["CapBnd"] {
		t.Errorf("privileged CapEff %s, want the runtime's bounding set %s", st["CapEff"], host["CapBnd"])
	}
	d.mustExec(t, id, "sh", "-c", "mkdir -p /m && mount -t tmpfs none /m")
	d.mustExec(t, id, "sh", "-c", "echo e2e > /proc/sys/kernel/domainname")
	if _, _, code := d.execSync(t, id, 0, "test", "-e", "/dev/mem"); code != 0 {
		if _, err := os.Stat("/dev/mem"); err == nil {
			t.Errorf("privileged container does not see the host's /dev/mem")
		}
	}
}
