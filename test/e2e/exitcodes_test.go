package e2e

import (
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExitCodes: a container's own exit status and the kubelet reasons derived from it.
func TestExitCodes(t *testing.T) { exitCodes(t, sharedDaemon(t), "") }

// exitCodes is TestExitCodes on a pod of the runtime handler handler.
func exitCodes(t *testing.T, d *Daemon, handler string) {
	img := testImage(t, d)
	pod := d.podConfigOn(t, "exitcodes", handler)
	// A pod-wide pid namespace: the built-in init is pid 1, so a container can SIGKILL
	// itself (pid 1 of a namespace cannot receive SIGKILL from inside it).
	pod.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	podID := d.runPod(t, pod)
	cases := []struct {
		name   string
		script string
		code   int32
		reason string
	}{
		{"zero", "exit 0", 0, "Completed"},
		{"three", "exit 3", 3, "Error"},
		{"killed", "kill -9 $$", 137, "Error"},
	}
	ids := map[string]string{}
	for _, c := range cases {
		ids[c.name] = d.runContainer(t, podID, pod, containerConfig(c.name, img, "sh", "-c", c.script))
	}
	for _, c := range cases {
		st := d.waitState(t, ids[c.name], runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
		if st.ExitCode != c.code || st.Reason != c.reason {
			t.Errorf("%s: exit %d reason %q, want %d %q", c.name, st.ExitCode, st.Reason, c.code, c.reason)
		}
		if st.FinishedAt == 0 || st.StartedAt == 0 {
			t.Errorf("%s: finishedAt %d startedAt %d, want both set", c.name, st.FinishedAt, st.StartedAt)
		}
	}
	// Starting an exited container again is an error, not a silent restart.
	if _, err := d.RT.StartContainer(ctxT(t, criTimeout), &runtimeapi.StartContainerRequest{ContainerId: ids["zero"]}); err == nil {
		t.Errorf("StartContainer on an exited container succeeded")
	}
}
