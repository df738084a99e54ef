package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestExecTTYResize: the terminal size a client sends on the resize stream reaches the
// exec's terminal (what kubectl exec -t does when the window changes).
func TestExecTTYResize(t *testing.T) {
	d := sharedDaemon(t)
	_, id, _ := d.sleeper(t, "ttyresize")
	resp, err := d.RT.Exec(ctxT(t, criTimeout), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: []string{"sh", "-c", "sleep 1; stty size"}, Tty: true, Stdout: true, Stdin: true,
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
