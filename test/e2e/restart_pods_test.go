package e2e

import (
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRestartRecoversPods: after a restart (SIGTERM, SIGKILL) crid reports the pods as
// before (a ready pod stays ready, a stopped one stopped) and manages them: a container
// created before the restart starts, a new one can be created, the stopped pod is removed.
func TestRestartRecoversPods(t *testing.T) { restartRecoversPods(t, daemonOptions{}, "") }

// restartRecoversPods is TestRestartRecoversPods with a crid started with opts and pods
// of the runtime handler handler.
func restartRecoversPods(t *testing.T, opts daemonOptions, handler string) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sigName(sig), func(t *testing.T) {
			d, s, before := restartedSceneOn(t, sig, opts, handler)
			compareSnapshots(t, before, d.snapshot(t), cmpPods)
			d.startContainer(t, s.created)
			if st := d.waitState(t, s.created, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second); st.ExitCode != 0 || st.Reason != "Completed" {
				t.Errorf("container started after restart: exit %d reason %q", st.ExitCode, st.Reason)
			}
			fresh := d.runContainer(t, s.podID, s.pod, containerConfig("fresh", testImage(t, d), "sleep", "3600"))
			d.mustExec(t, fresh, "true")
			if _, err := d.RT.RemovePodSandbox(ctxT(t, criTimeout), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.stoppedID}); err != nil {
				t.Errorf("RemovePodSandbox of the stopped pod after restart: %v", err)
			}
		})
	}
}
