package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerTTY: a container asking for a terminal runs on one (stdin, stdout and
// stderr are the same pty) and what it writes reaches its CRI log.
func TestContainerTTY(t *testing.T) { containerTTY(t, sharedDaemon(t), "") }

// containerTTY is TestContainerTTY on a pod of the runtime handler handler.
func containerTTY(t *testing.T, d *Daemon, handler string) {
	pod := d.podConfigOn(t, "tty", handler)
	podID := d.runPod(t, pod)
	cfg := containerConfig("term", testImage(t, d), "sh", "-c", "test -t 0 && test -t 1 && test -t 2 && echo on-a-tty")
	cfg.Tty = true
	id := d.runContainer(t, podID, pod, cfg)
	if st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second); st.ExitCode != 0 {
		t.Fatalf("tty container exit %d: its stdio is not a terminal (log %q)", st.ExitCode, readLog(t, pod, cfg))
	}
	eventually(t, 10*time.Second, func() error {
		if out, _ := logMessages(t, readLog(t, pod, cfg)); !containsString(out, "on-a-tty") && !containsString(out, "on-a-tty\r") {
			return errString("log: " + readLog(t, pod, cfg))
		}
		return nil
	})
}

// TestExecTTYResize: the terminal size a client sends on the resize stream reaches the
// exec's terminal (what kubectl exec -t does when the window changes).
func TestExecTTYResize(t *testing.T) {
	d := sharedDaemon(t)
	_, id, _ := d.sleeper(t, "ttyresize")
	resp, err := d.RT.Exec(ctxT(t, criTimeout), &runtimeapi.ExecRequest{
		// The resize and the exec's start travel on separate streams, in either order: the
		// shell waits for the size itself (up to ~10 s), then prints what it has.
		ContainerId: id, Cmd: []string{"sh", "-c", `i=0; while [ "$(stty size 2>/dev/null)" != "45 123" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; stty size`},
		Tty: true, Stdout: true, Stdin: true,
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{123, 45} // width, height
	var out syncBuffer
	stdin, stdinW := newBlockingReader()
	defer stdinW()
	code, err := remoteCommand(ctx, resp.Url, streamOptions{Stdin: stdin, Stdout: &out, TTY: true, Resize: resize})
	close(resize)
	if err != nil || code != 0 {
		t.Fatalf("tty exec: exit %d err %v output %q", code, err, out.String())
	}
	if got := strings.TrimSpace(out.String()); got != "45 123" {
		t.Errorf("stty size in the exec = %q, want \"45 123\" (rows cols)", got)
	}
}
