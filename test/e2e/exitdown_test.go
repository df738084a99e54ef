package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// TestExitWhileDown: a container that exits while crid is down shows its real exit code,
// reason and finish time once crid is back.
func TestExitWhileDown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sigName(sig), func(t *testing.T) {
			d := startDaemon(t, daemonOptions{})
			trigger := filepath.Join(d.Dir, "trigger")
			if err := os.MkdirAll(trigger, 0o755); err != nil {
				t.Fatal(err)
			}
			pod := d.podConfig(t, "exitdown")
			podID := d.runPod(t, pod)
			cfg := containerConfig("waiter", testImage(t, d), "sh", "-c",
				"while [ ! -e /trigger/go ]; do sleep 0.05; done; echo done; exit 7")
			cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/trigger", HostPath: trigger}}
			id := d.runContainer(t, podID, pod, cfg)

			if err := d.Stop(sig); err != nil {
				t.Fatal(err)
			}
			down := time.Now()
			if err := os.WriteFile(filepath.Join(trigger, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			// Give the monitor time to record the exit while nobody listens.
			if err := waitFor(10*time.Second, func() error {
				for _, p := range d.ourProcesses() {
					b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
					if strings.HasPrefix(string(b), "sh\x00-c\x00while") && hoststate.Alive(p) {
						return errString("container still running")
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if err := d.Start(); err != nil {
				t.Fatalf("start after %v: %v", sig, err)
			}
			st := d.containerStatus(t, id)
			if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 7 || st.Reason != "Error" {
				t.Errorf("after restart: state %v exit %d reason %q, want EXITED 7 Error", st.State, st.ExitCode, st.Reason)
			}
			if fin := time.Unix(0, st.FinishedAt); fin.Before(down) {
				t.Errorf("finishedAt %v is before crid went down (%v)", fin, down)
			}
			out, _ := logMessages(t, readLog(t, pod, cfg))
			if !containsString(out, "done") {
				t.Errorf("output written while crid was down is not in the log: %q", out)
			}
		})
	}
}
