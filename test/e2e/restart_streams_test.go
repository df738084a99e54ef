package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRestartKeepsLogsAndStreams: across a crid crash (SIGKILL) a running container keeps
// logging to its file, and the restarted crid serves ReopenContainerLog, Exec and
// PortForward through the streaming URL, and ContainerStats for it.
func TestRestartKeepsLogsAndStreams(t *testing.T) {
	d := startDaemon(t, daemonOptions{})
	pod := d.podConfig(t, "restartio")
	podID := d.runPod(t, pod)
	img := testImage(t, d)
	ticker := containerConfig("ticker", img, "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done")
	tickID := d.runContainer(t, podID, pod, ticker)
	srvID := d.runContainer(t, podID, pod, containerConfig("httpd", img, "sh", "-c",
		"mkdir -p /www && echo after-restart > /www/index.html && exec httpd -f -p 8080 -h /www"))
	waitListening(t, d, podID, srvID, 8080)

	if err := d.Restart(syscall.SIGKILL); err != nil {
		t.Fatalf("restart: %v", err)
	}
	logPath := filepath.Join(pod.LogDirectory, ticker.LogPath)
	count := func() int {
		out, _ := logMessages(t, readLog(t, pod, ticker))
		return len(out)
	}
	n := count()
	if err := waitFor(5*time.Second, func() error {
		if count() <= n {
			return errString("the log stopped growing")
		}
		return nil
	}); err != nil {
		t.Errorf("log after the restart: %v", err)
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RT.ReopenContainerLog(ctxT(t, criTimeout), &runtimeapi.ReopenContainerLogRequest{ContainerId: tickID}); err != nil {
		t.Errorf("ReopenContainerLog after restart: %v", err)
	} else if err := waitFor(5*time.Second, func() error {
		if _, err := os.Stat(logPath); err != nil {
			return err
		}
		if count() == 0 {
			return errString("the reopened log is empty")
		}
		return nil
	}); err != nil {
		t.Errorf("reopened log after restart: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec, err := d.RT.Exec(ctxT(t, criTimeout), &runtimeapi.ExecRequest{ContainerId: tickID, Cmd: []string{"echo", "streamed"}, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatalf("Exec after restart: %v", err)
	}
	var out, errOut bytes.Buffer
	if code, err := remoteCommand(ctx, exec.Url, streamOptions{Stdout: &out, Stderr: &errOut}); err != nil || code != 0 || out.String() != "streamed\n" {
		t.Errorf("exec stream after restart: exit %d err %v stdout %q stderr %q", code, err, out.String(), errOut.String())
	}
	pf, err := d.RT.PortForward(ctxT(t, criTimeout), &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{8080}})
	if err != nil {
		t.Fatalf("PortForward after restart: %v", err)
	}
	got, err := portForwardOnce(ctx, pf.Url, 8080, []byte("GET / HTTP/1.0\r\n\r\n"))
	if err != nil || !strings.Contains(string(got), "after-restart") {
		t.Errorf("port forward after restart: %q %v", got, err)
	}
	st, err := d.RT.ContainerStats(ctxT(t, criTimeout), &runtimeapi.ContainerStatsRequest{ContainerId: tickID})
	if err != nil || st.Stats.GetCpu().GetUsageCoreNanoSeconds().GetValue() == 0 || st.Stats.GetMemory().GetWorkingSetBytes().GetValue() == 0 {
		t.Errorf("ContainerStats after restart: %v %v", st.GetStats(), err)
	}
}
