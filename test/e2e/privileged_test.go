package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestPrivileged: a privileged container has every capability the runtime has, can mount,
// and sees the host's devices.
func TestPrivileged(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "privileged")
	pod.Linux.SecurityContext.Privileged = true
	podID := d.runPod(t, pod)
	// The writes run in the container's own process, never through exec: an exec that
	// failed to join the pod's UTS namespace would set the host's domainname.
	cfg := containerConfig("priv", testImage(t, d), "sh", "-c",
		"mkdir -p /m && mount -t tmpfs none /m && echo mount-ok; echo e2e > /proc/sys/kernel/domainname && echo sysctl-ok; exec sleep 3600")
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
	eventually(t, 10*time.Second, func() error {
		out, _ := logMessages(t, readLog(t, pod, cfg))
		if !containsString(out, "mount-ok") || !containsString(out, "sysctl-ok") {
			return fmt.Errorf("privileged container's mount and /proc/sys write: output %q", out)
		}
		return nil
	})
	if _, _, code := d.execSync(t, id, 0, "test", "-e", "/dev/mem"); code != 0 {
		if _, err := os.Stat("/dev/mem"); err == nil {
			t.Errorf("privileged container does not see the host's /dev/mem")
		}
	}
}
