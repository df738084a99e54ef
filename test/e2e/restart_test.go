package e2e

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// hostPidOf finds the host pid of the process of ours whose command line is exactly cmd.
func (d *Daemon) hostPidOf(t *testing.T, cmd string) int {
	t.Helper()
	// A started container may not have exec'd its command yet: an external runtime's start
	// returns once it released the init, which execs after (e2e run 8 of flakes2: runc,
	// none found). Wait for it up to the test's deadline, then there must be exactly one.
	bound := time.Now().Add(time.Minute)
	if dl, ok := t.Deadline(); ok {
		bound = dl.Add(-10 * time.Second)
	}
	var found []int
	for {
		for _, pid := range d.ourProcesses() {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.TrimSuffix(strings.ReplaceAll(string(b), "\x00", " "), " ") == cmd {
				found = append(found, pid)
			}
		}
		if len(found) > 0 || time.Now().After(bound) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling for the exec
	}
	if len(found) != 1 {
		t.Fatalf("host processes running %q: %v, want exactly one", cmd, found)
	}
	return found[0]
}

// restartScene is what the restart tests leave running before they restart crid: a pod
// with a running, an exited and a created container, and a stopped pod.
type restartScene struct {
	pod                      *runtimeapi.PodSandboxConfig
	podID, stoppedID         string
	running, exited, created string
	runningCmd               string
	runningPid               int
}

func newRestartScene(t *testing.T, d *Daemon, handler string) *restartScene {
	t.Helper()
	img := testImage(t, d)
	s := &restartScene{pod: d.podConfigOn(t, "restart", handler)}
	s.podID = d.runPod(t, s.pod)
	// A sleep argument of its own, to find the container's process on the host.
	s.runningCmd = fmt.Sprint("sleep ", 3000+time.Now().UnixNano()%1000)
	s.running = d.runContainer(t, s.podID, s.pod, containerConfig("running", img, strings.Fields(s.runningCmd)...))
	s.exited = d.runContainer(t, s.podID, s.pod, containerConfig("exited", img, "sh", "-c", "echo bye; exit 4"))
	d.waitState(t, s.exited, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
	s.created = d.createContainer(t, s.podID, s.pod, containerConfig("created", img, "sleep", "1"))
	s.stoppedID = d.runPod(t, d.podConfigOn(t, "restart-stopped", handler))
	if _, err := d.RT.StopPodSandbox(ctxT(t, criTimeout), &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.stoppedID}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	s.runningPid = d.hostPidOf(t, s.runningCmd)
	return s
}

// restartedSceneOn starts a crid of the test's own with opts, builds the scene with pods
// of the runtime handler handler, snapshots what CRI reports and restarts crid after sig.
func restartedSceneOn(t *testing.T, sig syscall.Signal, opts daemonOptions, handler string) (*Daemon, *restartScene, criSnapshot) {
	t.Helper()
	d := startDaemon(t, opts)
	s := newRestartScene(t, d, handler)
	before := d.snapshot(t)
	if err := d.Restart(sig); err != nil {
		t.Fatalf("restart after %v: %v", sig, err)
	}
	return d, s, before
}

// TestRestartKeepsContainers: crid restarted (SIGTERM, SIGKILL) with running containers
// leaves them running untouched, reports the same containers and statuses, and can still
// exec into and stop them with their real exit status.
func TestRestartKeepsContainers(t *testing.T) { restartKeepsContainers(t, daemonOptions{}, "") }

// restartKeepsContainers is TestRestartKeepsContainers with a crid started with opts and
// pods of the runtime handler handler.
func restartKeepsContainers(t *testing.T, opts daemonOptions, handler string) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sigName(sig), func(t *testing.T) {
			d, s, before := restartedSceneOn(t, sig, opts, handler)
			if !hoststate.Alive(s.runningPid) {
				t.Fatalf("container process %d died with crid", s.runningPid)
			}
			compareSnapshots(t, before, d.snapshot(t), cmpContainers|cmpImages)
			if got := d.hostPidOf(t, s.runningCmd); got != s.runningPid {
				t.Errorf("container pid %d after the restart, was %d", got, s.runningPid)
			}
			if out := d.mustExec(t, s.running, "echo", "alive"); out != "alive\n" {
				t.Errorf("exec after restart: %q", out)
			}
			if _, err := d.RT.StopContainer(ctxT(t, criTimeout), &runtimeapi.StopContainerRequest{ContainerId: s.running, Timeout: 1}); err != nil {
				t.Fatalf("StopContainer after restart: %v", err)
			}
			if st := d.containerStatus(t, s.running); st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 {
				t.Errorf("stopped after restart: %v exit %d, want EXITED 137", st.State, st.ExitCode)
			}
			if hoststate.Alive(s.runningPid) {
				t.Errorf("container process %d alive after StopContainer", s.runningPid)
			}
		})
	}
}
