package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestContainerLogs: stdout and stderr land in the CRI log file, one "F" record per line,
// and a line longer than the monitor's buffer comes back whole after joining "P" records.
func TestContainerLogs(t *testing.T) { containerLogs(t, sharedDaemon(t), "") }

// containerLogs is TestContainerLogs on a pod of the runtime handler handler.
func containerLogs(t *testing.T, d *Daemon, handler string) {
	pod := d.podConfigOn(t, "logs", handler)
	podID := d.runPod(t, pod)
	const long = 70000
	cfg := containerConfig("logger", testImage(t, d), "sh", "-c",
		fmt.Sprintf("echo out1; echo err1 >&2; echo out2; head -c %d /dev/zero | tr '\\0' a; echo; echo 'tab\there'", long))
	id := d.runContainer(t, podID, pod, cfg)
	st := d.waitState(t, id, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	if st.ExitCode != 0 {
		t.Fatalf("logger exit %d", st.ExitCode)
	}
	if want := filepath.Join(pod.LogDirectory, cfg.LogPath); st.LogPath != want {
		t.Errorf("status log path %q, want %q", st.LogPath, want)
	}
	var stdout, stderr []string
	// The monitor may still be flushing right after the exit is reported.
	err := waitFor(5*time.Second, func() error {
		stdout, stderr = logMessages(t, readLog(t, pod, cfg))
		if len(stdout) < 4 {
			return fmt.Errorf("stdout records %d", len(stdout))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("log: %v\n%.2000s", err, readLog(t, pod, cfg))
	}
	wantLong := strings.Repeat("a", long)
	if len(stdout) != 4 || stdout[0] != "out1" || stdout[1] != "out2" || stdout[2] != wantLong || stdout[3] != "tab\there" {
		short := slices.Clone(stdout)
		for i := range short {
			if len(short[i]) > 80 {
				short[i] = fmt.Sprintf("%.20s...(%d bytes)", short[i], len(short[i]))
			}
		}
		t.Errorf("stdout records %q, want out1, out2, %d a's, tab\\there", short, long)
	}
	if !slices.Equal(stderr, []string{"err1"}) {
		t.Errorf("stderr records %q, want [err1]", stderr)
	}
}

// TestReopenContainerLog: after the log file is rotated away (renamed, as kubelet's
// rotation does), ReopenContainerLog makes the monitor write to a fresh file at the path.
func TestReopenContainerLog(t *testing.T) {
	d := sharedDaemon(t)
	pod := d.podConfig(t, "reopen")
	podID := d.runPod(t, pod)
	cfg := containerConfig("ticker", testImage(t, d), "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.1; done")
	id := d.runContainer(t, podID, pod, cfg)
	path := filepath.Join(pod.LogDirectory, cfg.LogPath)
	if err := waitFor(10*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), "tick2") {
			return fmt.Errorf("log %q: %v", b, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RT.ReopenContainerLog(ctxT(t, criTimeout), &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err != nil {
		t.Fatalf("ReopenContainerLog: %v", err)
	}
	if err := waitFor(10*time.Second, func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if out, _ := logMessages(t, string(b)); len(out) < 3 {
			return fmt.Errorf("new log has %d records", len(out))
		}
		return nil
	}); err != nil {
		t.Fatalf("new log file: %v", err)
	}
	// The rotated file stops growing once the reopen returned.
	old1, _ := os.ReadFile(path + ".1")
	time.Sleep(500 * time.Millisecond)
	old2, _ := os.ReadFile(path + ".1")
	if len(old2) != len(old1) {
		t.Errorf("rotated log still written after ReopenContainerLog (%d -> %d bytes)", len(old1), len(old2))
	}
	// Reopen on a stopped container is an error (kubelet expects that).
	if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: 0}); err != nil {
		t.Fatalf("StopContainer: %v", err)
	}
	if _, err := d.RT.ReopenContainerLog(ctxT(t, criTimeout), &runtimeapi.ReopenContainerLogRequest{ContainerId: id}); err == nil {
		t.Errorf("ReopenContainerLog on a stopped container succeeded")
	}
}
