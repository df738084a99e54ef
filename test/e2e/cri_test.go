package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criTimeout bounds one CRI call; generous because 2 cores run the whole package.
const criTimeout = 60 * time.Second

// podConfig is what kubelet sends for a plain pod: unique name/uid, a log directory.
func (d *Daemon) podConfig(t testing.TB, name string) *runtimeapi.PodSandboxConfig {
	uid := randHex(8)
	logDir := filepath.Join(d.Dir, "logs", name+"-"+uid)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{
			Name:      name,
			Namespace: "e2e",
			Uid:       uid,
		},
		Hostname:     name,
		LogDirectory: logDir,
		Labels:       map[string]string{"e2e": "yes", "name": name},
		Annotations:  map[string]string{"e2e/test": t.Name()},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{
					Network: runtimeapi.NamespaceMode_POD,
					Pid:     runtimeapi.NamespaceMode_CONTAINER,
					Ipc:     runtimeapi.NamespaceMode_POD,
				},
			},
		},
	}
}

// podConfigOn is podConfig for a pod runPod runs with the runtime handler handler.
func (d *Daemon) podConfigOn(t testing.TB, name, handler string) *runtimeapi.PodSandboxConfig {
	cfg := d.podConfig(t, name)
	d.podHandlers.Store(cfg, handler)
	return cfg
}

// runPod runs a pod and removes it (through CRI) when the test ends.
func (d *Daemon) runPod(t testing.TB, cfg *runtimeapi.PodSandboxConfig) string {
	t.Helper()
	handler, _ := d.podHandlers.Load(cfg)
	h, _ := handler.(string)
	resp, err := d.RT.RunPodSandbox(ctxT(t, criTimeout), &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: h})
	if err != nil {
		t.Fatalf("RunPodSandbox %s: %v", cfg.Metadata.Name, err)
	}
	id := resp.PodSandboxId
	d.recordPod(id)
	t.Cleanup(func() { d.removePod(t, id) })
	return id
}

// removePod stops and removes a pod; NotFound counts as done (the test removed it).
func (d *Daemon) removePod(t testing.TB, id string) {
	if d.Pid() == 0 {
		return // the daemon's own cleanup deals with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), criTimeout)
	defer cancel()
	if _, err := d.RT.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil && !isNotFound(err) {
		t.Errorf("cleanup: StopPodSandbox %s: %v", id, err)
		return
	}
	if _, err := d.RT.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil && !isNotFound(err) {
		t.Errorf("cleanup: RemovePodSandbox %s: %v", id, err)
	}
}

// containerConfig: a container of image running cmd, logging to <name>.log.
func containerConfig(name, image string, cmd ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: image},
		Command:  cmd,
		LogPath:  name + ".log",
		Labels:   map[string]string{"e2e": "yes"},
		Linux:    &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{}},
	}
}

func (d *Daemon) createContainer(t testing.TB, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	resp, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{
		PodSandboxId: podID, Config: cfg, SandboxConfig: pod,
	})
	if err != nil {
		t.Fatalf("CreateContainer %s: %v", cfg.Metadata.Name, err)
	}
	d.recordContainer(resp.ContainerId)
	return resp.ContainerId
}

func (d *Daemon) startContainer(t testing.TB, id string) {
	t.Helper()
	if _, err := d.RT.StartContainer(ctxT(t, criTimeout), &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatalf("StartContainer %s: %v", id, err)
	}
}

// runContainer creates and starts a container.
func (d *Daemon) runContainer(t testing.TB, podID string, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	id := d.createContainer(t, podID, pod, cfg)
	d.startContainer(t, id)
	return id
}

// sleeper runs a pod with one long-running container and returns both ids.
func (d *Daemon) sleeper(t testing.TB, name string) (podID, ctrID string, pod *runtimeapi.PodSandboxConfig) {
	t.Helper()
	return d.sleeperOn(t, name, "")
}

// sleeperOn is sleeper with a pod of the runtime handler handler.
func (d *Daemon) sleeperOn(t testing.TB, name, handler string) (podID, ctrID string, pod *runtimeapi.PodSandboxConfig) {
	t.Helper()
	pod = d.podConfigOn(t, name, handler)
	podID = d.runPod(t, pod)
	ctrID = d.runContainer(t, podID, pod, containerConfig("sleep", testImage(t, d), "sleep", "3600"))
	return podID, ctrID, pod
}

func (d *Daemon) containerStatus(t testing.TB, id string) *runtimeapi.ContainerStatus {
	t.Helper()
	resp, err := d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		t.Fatalf("ContainerStatus %s: %v", id, err)
	}
	return resp.Status
}

// waitState polls ContainerStatus until the container reaches state.
func (d *Daemon) waitState(t testing.TB, id string, state runtimeapi.ContainerState, timeout time.Duration) *runtimeapi.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := d.containerStatus(t, id)
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: state %v after %v, want %v (status %+v)", id, st.State, timeout, state, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// execSync runs cmd in the container and returns stdout, stderr and the exit code.
func (d *Daemon) execSync(t testing.TB, id string, timeout time.Duration, cmd ...string) (string, string, int32) {
	t.Helper()
	resp, err := d.RT.ExecSync(ctxT(t, criTimeout+timeout), &runtimeapi.ExecSyncRequest{
		ContainerId: id, Cmd: cmd, Timeout: int64(timeout / time.Second),
	})
	if err != nil {
		t.Fatalf("ExecSync %s %q: %v", id, cmd, err)
	}
	return string(resp.Stdout), string(resp.Stderr), resp.ExitCode
}

// mustExec runs cmd and fails the test unless it exits 0; it returns stdout.
func (d *Daemon) mustExec(t testing.TB, id string, cmd ...string) string {
	t.Helper()
	out, errOut, code := d.execSync(t, id, 30*time.Second, cmd...)
	if code != 0 {
		t.Fatalf("exec %q: exit %d, stdout %q, stderr %q", cmd, code, out, errOut)
	}
	return out
}

// podIP returns the pod's primary IP from PodSandboxStatus.
func (d *Daemon) podIP(t testing.TB, podID string) string {
	t.Helper()
	resp, err := d.RT.PodSandboxStatus(ctxT(t, criTimeout), &runtimeapi.PodSandboxStatusRequest{PodSandboxId: podID})
	if err != nil {
		t.Fatalf("PodSandboxStatus: %v", err)
	}
	if resp.Status.Network == nil || resp.Status.Network.Ip == "" {
		t.Fatalf("pod %s has no IP: %+v", podID, resp.Status.Network)
	}
	return resp.Status.Network.Ip
}

// readLog reads a container's CRI log file (pod log dir + container log path).
func readLog(t testing.TB, pod *runtimeapi.PodSandboxConfig, cfg *runtimeapi.ContainerConfig) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(pod.LogDirectory, cfg.LogPath))
	if err != nil {
		t.Fatalf("container log: %v", err)
	}
	return string(b)
}

// logMessages parses CRI-format log lines ("<RFC3339Nano> <stream> <P|F> <msg>") and joins
// partial lines; it fails the test on a malformed line.
func logMessages(t testing.TB, content string) (stdout, stderr []string) {
	t.Helper()
	var partial = map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) < 3 {
			t.Fatalf("malformed CRI log line %q", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Fatalf("CRI log line %q: timestamp: %v", line, err)
		}
		stream, tag, msg := f[1], f[2], ""
		if len(f) == 4 {
			msg = f[3]
		}
		if stream != "stdout" && stream != "stderr" {
			t.Fatalf("CRI log line %q: stream %q", line, stream)
		}
		tags := strings.Split(tag, ":")
		switch tags[0] {
		case "P":
			partial[stream] += msg
			continue
		case "F":
		default:
			t.Fatalf("CRI log line %q: tag %q", line, tag)
		}
		msg = partial[stream] + msg
		delete(partial, stream)
		if stream == "stdout" {
			stdout = append(stdout, msg)
		} else {
			stderr = append(stderr, msg)
		}
	}
	return stdout, stderr
}

// waitFor polls cond until it returns nil or timeout passes; it returns the last error.
func waitFor(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually is waitFor that reports a timeout as a test error.
func eventually(t testing.TB, timeout time.Duration, cond func() error) bool {
	t.Helper()
	if err := waitFor(timeout, cond); err != nil {
		t.Error(err)
		return false
	}
	return true
}
