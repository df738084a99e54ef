package e2e

import (
	"context"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExecEdges: exec into an exited container fails; exec output beyond the 16 MiB cap
// (CVE-2022-31030) is cut, not buffered without bound; port-forward to a closed port
// reports an error instead of hanging.
func TestExecEdges(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "edges")
	podID := d.runPod(t, pod)
	img := testImage(t, d)
	done := d.runContainer(t, podID, pod, containerConfig("done", img, "true"))
	d.waitState(t, done, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if resp, err := d.RT.ExecSync(ctxT(t, criTimeout), &runtimeapi.ExecSyncRequest{ContainerId: done, Cmd: []string{"true"}}); err == nil {
		t.Errorf("ExecSync in an exited container: exit %d, want an error", resp.ExitCode)
	}

	id := d.runContainer(t, podID, pod, containerConfig("big", img, "sleep", "3600"))
	resp, err := d.RT.ExecSync(ctxT(t, criTimeout), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"sh", "-c", "head -c 25165824 /dev/zero"}, Timeout: 30})
	if err == nil && len(resp.Stdout) > 16<<20 {
		t.Errorf("ExecSync returned %d bytes of stdout, want at most 16 MiB", len(resp.Stdout))
	}
	if _, err := d.RT.Version(ctxT(t, criTimeout), &runtimeapi.VersionRequest{}); err != nil {
		t.Fatalf("crid after a 24 MiB exec output: %v", err)
	}

	pf, err := d.RT.PortForward(ctxT(t, criTimeout), &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{9}})
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, err := portForwardOnce(ctx, pf.Url, 9, []byte("x"))
	if ctx.Err() != nil {
		t.Errorf("port-forward to a closed port hangs")
	} else if err == nil && len(got) > 0 {
		t.Errorf("port-forward to a closed port returned data %q", got)
	}
}
