package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestExecSync(t *testing.T) { execSync(t, sharedDaemon(t), "") }

// execSync is TestExecSync in a pod of the runtime handler handler.
func execSync(t *testing.T, d *Daemon, handler string) {
	_, id, _ := d.sleeperOn(t, "execsync", handler)

	out, errOut, code := d.execSync(t, id, 0, "sh", "-c", "echo hello; echo oops >&2; exit 5")
	if out != "hello\n" || errOut != "oops\n" || code != 5 {
		t.Errorf("ExecSync: stdout %q stderr %q exit %d, want hello/oops/5", out, errOut, code)
	}
	// The exec runs in the container: same root, same environment as the container.
	if got := d.mustExec(t, id, "cat", "/proc/1/cmdline"); !strings.HasPrefix(got, "sleep\x003600") {
		t.Errorf("pid 1 seen by the exec %q, want the container's sleep", got)
	}
	// A missing binary: containerd answers with an error, CRI-O with a non-zero exit; both
	// are fine for kubelet (a failed probe), success is not.
	if resp, err := d.RT.ExecSync(ctxT(t, criTimeout), &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"/no/such/binary"}}); err == nil && resp.ExitCode == 0 {
		t.Errorf("exec of a missing binary exited 0")
	}

	// A timeout ends the command: either an error or a non-zero status, well before the
	// command would have finished by itself, and no leftover process in the container.
	start := time.Now()
	resp, err := d.RT.ExecSync(ctxT(t, criTimeout), &runtimeapi.ExecSyncRequest{
		ContainerId: id, Cmd: []string{"sleep", "4321"}, Timeout: 1,
	})
	el := time.Since(start)
	if err == nil && resp.ExitCode == 0 {
		t.Errorf("ExecSync with timeout 1s of sleep 4321: exit 0 after %v", el)
	}
	if el > 10*time.Second {
		t.Errorf("ExecSync with timeout 1s returned after %v", el)
	}
	eventually(t, 5*time.Second, func() error {
		ps := d.mustExec(t, id, "ps", "-o", "args")
		if strings.Contains(ps, "sleep 4321") {
			return errString("timed-out exec still running:\n" + ps)
		}
		return nil
	})

	// Large output comes back complete.
	out, _, code = d.execSync(t, id, 0, "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
	if code != 0 || len(out) != 3000000 || strings.Trim(out, "x") != "" {
		t.Errorf("3 MB exec output: exit %d, %d bytes", code, len(out))
	}
}

// syncBuffer is a bytes.Buffer safe for one writer goroutine and a polling reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type errString string

func (e errString) Error() string { return string(e) }

// TestExecStream: Exec through the streaming URL, with stdin, separate stdout/stderr and
// the exit code on the v4 error stream.
func TestExecStream(t *testing.T) { execStream(t, sharedDaemon(t), "") }

// execStream is TestExecStream in a pod of the runtime handler handler.
func execStream(t *testing.T, d *Daemon, handler string) {
	_, id, _ := d.sleeperOn(t, "exec", handler)

	resp, err := d.RT.Exec(ctxT(t, criTimeout), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: []string{"sh", "-c", "read x; echo got:$x; echo err >&2; exit 3"},
		Stdin: true, Stdout: true, Stderr: true,
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if resp.Url == "" {
		t.Fatalf("Exec returned no URL")
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code, err := remoteCommand(ctx, resp.Url, streamOptions{Stdin: strings.NewReader("ping\n"), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatalf("exec stream: %v (stdout %q stderr %q)", err, stdout.String(), stderr.String())
	}
	if code != 3 || stdout.String() != "got:ping\n" || stderr.String() != "err\n" {
		t.Errorf("exec stream: exit %d stdout %q stderr %q, want 3, got:ping, err", code, stdout.String(), stderr.String())
	}

	// A TTY exec: one output stream, and the terminal is a tty inside.
	resp, err = d.RT.Exec(ctxT(t, criTimeout), &runtimeapi.ExecRequest{
		ContainerId: id, Cmd: []string{"sh", "-c", "test -t 0 && echo istty"}, Tty: true, Stdout: true, Stdin: true,
	})
	if err != nil {
		t.Fatalf("Exec tty: %v", err)
	}
	stdout.Reset()
	resize := make(chan [2]uint16, 1)
	resize <- [2]uint16{100, 40}
	close(resize)
	code, err = remoteCommand(ctx, resp.Url, streamOptions{Stdin: strings.NewReader(""), Stdout: &stdout, TTY: true, Resize: resize})
	if err != nil || code != 0 || !strings.Contains(stdout.String(), "istty") {
		t.Errorf("tty exec: exit %d err %v output %q, want istty", code, err, stdout.String())
	}
}

// TestAttach: attach to a container started with stdin: what we write comes back on its
// stdout, through the streaming URL.
func TestAttach(t *testing.T) { attach(t, sharedDaemon(t), "") }

// attach is TestAttach on a pod of the runtime handler handler.
func attach(t *testing.T, d *Daemon, handler string) {
	pod := d.podConfigOn(t, "attach", handler)
	podID := d.runPod(t, pod)
	cfg := containerConfig("cat", testImage(t, d), "sh", "-c", "while read l; do echo echo:$l; done")
	cfg.Stdin, cfg.StdinOnce = true, true
	id := d.runContainer(t, podID, pod, cfg)

	resp, err := d.RT.Attach(ctxT(t, criTimeout), &runtimeapi.AttachRequest{ContainerId: id, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		t.Fatalf("Attach: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout syncBuffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := remoteCommand(ctx, resp.Url, streamOptions{Stdin: pr, Stdout: &stdout, Stderr: &bytes.Buffer{}})
		done <- err
	}()
	_, _ = pw.Write([]byte("hello\n"))
	eventually(t, 10*time.Second, func() error {
		if !strings.Contains(stdout.String(), "echo:hello") {
			return errString("attach output " + stdout.String())
		}
		return nil
	})
	// Closing stdin ends the first attach session; with StdinOnce the container's stdin
	// closes too, so the read loop ends, the container exits 0 and the session ends.
	pw.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach stream: %v", err)
		}
	case <-ctx.Done():
		t.Errorf("attach session did not end after the container's stdin closed")
	}
	if st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 10*time.Second); st.ExitCode != 0 {
		t.Errorf("attached container exit %d, want 0 after stdin closed", st.ExitCode)
	}
	// The attached output also reaches the log.
	eventually(t, 10*time.Second, func() error {
		if out, _ := logMessages(t, readLog(t, pod, cfg)); !containsString(out, "echo:hello") {
			return errString("log has no echo:hello")
		}
		return nil
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPortForward: an HTTP request through the portforward URL reaches busybox httpd in
// the pod's network namespace.
func TestPortForward(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "portfwd")
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("httpd", testImage(t, d), "sh", "-c",
		"mkdir -p /www && echo forwarded-page > /www/index.html && exec httpd -f -p 8080 -h /www"))
	waitListening(t, d, podID, id, 8080)

	resp, err := d.RT.PortForward(ctxT(t, criTimeout), &runtimeapi.PortForwardRequest{PodSandboxId: podID, Port: []int32{8080}})
	if err != nil {
		t.Fatalf("PortForward: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := portForwardOnce(ctx, resp.Url, 8080, []byte("GET / HTTP/1.0\r\nHost: x\r\n\r\n"))
	if err != nil {
		t.Fatalf("port forward: %v (got %q)", err, got)
	}
	if !strings.Contains(string(got), "200 OK") || !strings.Contains(string(got), "forwarded-page") {
		t.Errorf("port-forwarded response %q", got)
	}
}

// waitListening waits until the pod's IP accepts TCP connections on port: dialled from the
// host (which reaches pod IPs through the test bridge), so it does not depend on exec.
func waitListening(t testing.TB, d *Daemon, podID, ctrID string, port int) {
	t.Helper()
	addr := net.JoinHostPort(d.podIP(t, podID), fmt.Sprint(port))
	if err := waitFor(15*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		st := d.containerStatus(t, ctrID)
		log, _ := os.ReadFile(st.LogPath)
		t.Fatalf("nothing listens on %s: %v; container %v exit %d, log:\n%s", addr, err, st.State, st.ExitCode, log)
	}
}

// newBlockingReader is a stdin that sends nothing until closed (a terminal left idle).
func newBlockingReader() (io.Reader, func()) {
	r, w := io.Pipe()
	return r, func() { w.Close() }
}
