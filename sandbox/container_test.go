package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

func TestContainerLifecycleAndEvents(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	events, cancel := h.m.Subscribe()
	defer cancel()

	id, err := h.m.CreateContainer(ctx, pod, ctrConfig("app"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.m.Container(id)
	if c.State != sandbox.ContainerCreated || c.Image.Spec != "busybox" || !strings.HasPrefix(c.Image.Ref, "docker.io/library/busybox@sha256:") ||
		c.Image.ID == "" || c.LogPath != filepath.Join(h.logs, "web", "app/0.log") || c.StopSignal != int(syscall.SIGQUIT) {
		t.Fatalf("created: %+v", c)
	}
	if err := h.m.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	wantKind(t, h.m.StartContainer(ctx, id), errdefs.ErrFailedPrecondition)
	if c, _ := h.m.Container(id); c.State != sandbox.ContainerRunning || c.StartedAt.IsZero() {
		t.Fatalf("started: %+v", c)
	}
	if err := h.m.StopContainer(ctx, id, 10); err != nil {
		t.Fatal(err)
	}
	c, _ = h.m.Container(id)
	// The image's StopSignal (SIGQUIT) ended it.
	if c.State != sandbox.ContainerExited || c.ExitCode != 128+int32(syscall.SIGQUIT) || c.Reason != "Error" || c.FinishedAt.IsZero() {
		t.Fatalf("stopped: %+v", c)
	}
	if err := h.m.StopContainer(ctx, id, 10); err != nil {
		t.Errorf("stop of an exited container: %v", err)
	}
	if err := h.m.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.m.RemoveContainer(ctx, id); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := h.m.Container(id); !errdefs.IsNotFound(err) {
		t.Errorf("status after remove: %v", err)
	}
	if l := h.env.Images.Live(); len(l) != 0 {
		t.Errorf("rootfs left: %v", l)
	}

	want := []sandbox.EventType{sandbox.EventCreated, sandbox.EventStarted, sandbox.EventStopped, sandbox.EventDeleted}
	for i, w := range want {
		ev := nextEvent(t, events, fmt.Sprint(i, " (", w, ")"))
		// The pod's containers come along; a deleted one is no longer among them.
		wantN := 1
		if w == sandbox.EventDeleted {
			wantN = 0
		}
		if ev.Type != w || ev.ID != id || ev.Pod == nil || ev.Pod.ID != pod || len(ev.Containers) != wantN {
			t.Fatalf("event %d: %+v, want %v for %s", i, ev, w, id)
		}
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected extra event %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}
}

// A process that ignores its stop signal is killed when the timeout passes.
func TestStopContainerEscalatesToKill(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "stubborn")
	p, _ := h.m.Pod(pod)
	h.env.Runtime.Monitor(p.Dir).IgnoreSignals = true
	start := time.Now()
	if err := h.m.StopContainer(context.Background(), id, 1); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < time.Second {
		t.Errorf("SIGKILL came before the timeout")
	}
	if c, _ := h.m.Container(id); c.ExitCode != 137 {
		t.Errorf("exit code %d, want 137", c.ExitCode)
	}
}

func TestExitReasons(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	cases := []struct {
		code   int32
		oom    bool
		reason string
	}{{0, false, "Completed"}, {3, false, "Error"}, {137, true, "OOMKilled"}}
	for i, c := range cases {
		t.Run(c.reason, func(t *testing.T) {
			id := h.createStarted(pod, fmt.Sprint("c", i))
			mon.Exit(id, c.code, c.oom)
			var got *sandbox.Container
			waitUntil(t, "the exit of "+id, func() bool {
				got, _ = h.m.Container(id)
				return got.State == sandbox.ContainerExited
			})
			if got.ExitCode != c.code || got.Reason != c.reason {
				t.Errorf("exit %d oom %v: got %d %q", c.code, c.oom, got.ExitCode, got.Reason)
			}
		})
	}
}

func TestCreateContainerValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	withMount := func(m *runtimeapi.Mount) *runtimeapi.ContainerConfig {
		c := ctrConfig("m")
		c.Mounts = []*runtimeapi.Mount{m}
		return c
	}
	escaping := ctrConfig("esc")
	escaping.LogPath = "../other-pod/0.log"
	absLog := ctrConfig("abs")
	absLog.LogPath = "/etc/passwd"
	noImage := ctrConfig("noimg")
	noImage.Image = nil
	cases := []struct {
		name  string
		pod   string
		cfg   *runtimeapi.ContainerConfig
		kind  error
		field string
	}{
		{"nil config", pod, nil, errdefs.ErrInvalidArgument, "config"},
		{"nil metadata", pod, &runtimeapi.ContainerConfig{}, errdefs.ErrInvalidArgument, "config.metadata"},
		{"no image", pod, noImage, errdefs.ErrInvalidArgument, "config.image.image"},
		{"unknown image", pod, &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: "x"}, Image: &runtimeapi.ImageSpec{Image: "nope:1"}}, errdefs.ErrNotFound, "config.image"},
		{"unknown pod", "nope", ctrConfig("x"), errdefs.ErrNotFound, "pod sandbox"},
		{"relative container path", pod, withMount(&runtimeapi.Mount{ContainerPath: "data", HostPath: "/tmp"}), errdefs.ErrInvalidArgument, "config.mounts[0].container_path"},
		{"relative host path", pod, withMount(&runtimeapi.Mount{ContainerPath: "/data", HostPath: "tmp"}), errdefs.ErrInvalidArgument, "config.mounts[0].host_path"},
		{"missing host path", pod, withMount(&runtimeapi.Mount{ContainerPath: "/data", HostPath: "/no/such/dir"}), errdefs.ErrInvalidArgument, "config.mounts[0].host_path"},
		{"log path escaping", pod, escaping, errdefs.ErrInvalidArgument, "config.log_path"},
		{"absolute log path", pod, absLog, errdefs.ErrInvalidArgument, "config.log_path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.m.CreateContainer(ctx, c.pod, c.cfg)
			if !errors.Is(err, c.kind) || !strings.HasPrefix(err.Error(), c.field) {
				t.Errorf("%s: %v, want %v naming %s", c.name, err, c.kind, c.field)
			}
		})
	}
	if n := len(h.m.Containers(sandbox.ContainerFilter{})); n != 0 {
		t.Errorf("bad input made %d containers", n)
	}
	// A stopped pod takes no new containers.
	if err := h.m.StopPod(ctx, pod); err != nil {
		t.Fatal(err)
	}
	_, err := h.m.CreateContainer(ctx, pod, ctrConfig("late"))
	wantKind(t, err, errdefs.ErrFailedPrecondition)
}

func TestContainerNameClash(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	_, err := h.m.CreateContainer(context.Background(), pod, ctrConfig("app"))
	wantKind(t, err, errdefs.ErrAlreadyExists)
	if !strings.Contains(err.Error(), id) {
		t.Errorf("clash error names the other container: %v", err)
	}
	// Another attempt of the same name is a new container (kubelet restarts).
	next := ctrConfig("app")
	next.Metadata.Attempt = 1
	if _, err := h.m.CreateContainer(context.Background(), pod, next); err != nil {
		t.Fatal(err)
	}
}

func TestCreateContainerRollback(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"prepare-rootfs", "container-spec", "cdi-inject", "hooks", "nri-create", "create"} {
		t.Run(step, func(t *testing.T) {
			h := newHarness(t)
			pod := h.runPod("web")
			h.env.Devices.Known["vendor.example/gpu=0"] = []string{"GPU=0"}
			cfg := ctrConfig("app")
			cfg.CDIDevices = []*runtimeapi.CDIDevice{{Name: "vendor.example/gpu=0"}}
			h.env.Fail.Set(step, errors.New("injected "+step+" failure"))
			_, err := h.m.CreateContainer(context.Background(), pod, cfg)
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("CreateContainer: %v", err)
			}
			if l := h.env.Images.Live(); len(l) != 0 {
				t.Errorf("rootfs left: %v", l)
			}
			p, _ := h.m.Pod(pod)
			if ents, _ := os.ReadDir(filepath.Join(p.Dir, "containers")); len(ents) != 0 {
				t.Errorf("container dirs left: %d", len(ents))
			}
			if procs := h.env.Runtime.Monitor(p.Dir).Procs(); len(procs) != 1 { // the infra only
				t.Errorf("monitor processes left: %v", procs)
			}
			h.env.Fail.Set(step, nil)
			h.createStarted(pod, "app") // the name is free
			if err := h.m.RemovePod(context.Background(), pod); err != nil {
				t.Fatal(err)
			}
			h.assertClean()
		})
	}
}

// An unknown CDI device is refused before anything is made; a known one's edits reach the
// spec the monitor gets.
func TestCreateContainerCDIDevices(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	h.env.Devices.Known["vendor.example/gpu=0"] = []string{"GPU=0"}
	cfg := ctrConfig("app")
	cfg.CDIDevices = []*runtimeapi.CDIDevice{{Name: "vendor.example/gpu=1"}}
	if _, err := h.m.CreateContainer(context.Background(), pod, cfg); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown device: %v", err)
	}
	if l := h.env.Images.Live(); len(l) != 0 {
		t.Errorf("rootfs made for a refused container: %v", l)
	}
	if n := len(h.m.Containers(sandbox.ContainerFilter{})); n != 0 {
		t.Errorf("%d containers after a refused create", n)
	}
	p, _ := h.m.Pod(pod)
	if ents, _ := os.ReadDir(filepath.Join(p.Dir, "containers")); len(ents) != 0 {
		t.Errorf("container dirs made for a refused container: %d", len(ents))
	}
	cfg.CDIDevices[0].Name = "vendor.example/gpu=0"
	id, err := h.m.CreateContainer(context.Background(), pod, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.m.Container(id)
	if !slices.Contains(c.Spec.Process.Env, "GPU=0") {
		t.Errorf("device edits not in the spec: %v", c.Spec.Process.Env)
	}
}

func TestStartFailureIsReported(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pod := h.runPod("web")
	id, _ := h.m.CreateContainer(context.Background(), pod, ctrConfig("app"))
	h.env.Fail.Set("start", errors.New("exec format error"))
	if err := h.m.StartContainer(context.Background(), id); err == nil {
		t.Fatal("start succeeded")
	}
	c, _ := h.m.Container(id)
	if c.State != sandbox.ContainerExited || c.Reason != "StartError" || !strings.Contains(c.Message, "exec format error") {
		t.Errorf("after failed start: %+v", c)
	}
}

func TestListContainerFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	p1, p2 := h.runPod("a"), h.runPod("b")
	a := h.createStarted(p1, "x")
	b, _ := h.m.CreateContainer(context.Background(), p1, ctrConfig("y"))
	c := h.createStarted(p2, "x")
	running, created := sandbox.ContainerRunning, sandbox.ContainerCreated
	cases := []struct {
		name string
		f    sandbox.ContainerFilter
		want []string
	}{
		{"all", sandbox.ContainerFilter{}, []string{a, b, c}},
		{"PodID: p1", sandbox.ContainerFilter{PodID: p1}, []string{a, b}},
		{"PodID: p2[:6]", sandbox.ContainerFilter{PodID: p2[:6]}, []string{c}},
		{"ID: b[:7]", sandbox.ContainerFilter{ID: b[:7]}, []string{b}},
		{"State: &running", sandbox.ContainerFilter{State: &running}, []string{a, c}},
		{"State: &created, PodID: p1", sandbox.ContainerFilter{State: &created, PodID: p1}, []string{b}},
		{"Labels: c=x", sandbox.ContainerFilter{Labels: map[string]string{"c": "x"}}, []string{a, c}},
		{"Labels: c=x, PodID: p2", sandbox.ContainerFilter{Labels: map[string]string{"c": "x"}, PodID: p2}, []string{c}},
		{"ID: a, PodID: p2", sandbox.ContainerFilter{ID: a, PodID: p2}, nil},
	}
	for _, cs := range cases {
		t.Run(cs.name, func(t *testing.T) {
			sameIDs(t, ids(h.m.Containers(cs.f), func(c *sandbox.Container) string { return c.ID }), cs.want)
		})
	}
}

func TestUpdateResourcesAndReopenLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	if err := h.m.UpdateContainerResources(ctx, id, &runtimeapi.LinuxContainerResources{CpuShares: 256}); err != nil {
		t.Fatal(err)
	}
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)
	if r := mon.Updated[id]; r == nil || *r.CPU.Shares != 256 {
		t.Errorf("monitor update: %+v", r)
	}
	wantKind(t, h.m.UpdateContainerResources(ctx, id, &runtimeapi.LinuxContainerResources{CpuShares: -1}), errdefs.ErrInvalidArgument)
	wantKind(t, h.m.UpdateContainerResources(ctx, id, nil), errdefs.ErrInvalidArgument)
	h.restart()
	c, _ := h.m.Container(id)
	if r := h.m.ContainerResources(c); r.GetCpuShares() != 256 {
		t.Errorf("resources after restart: %v", r)
	}
	if err := h.m.ReopenContainerLog(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.m.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	wantKind(t, h.m.ReopenContainerLog(ctx, id), errdefs.ErrFailedPrecondition)
	wantKind(t, h.m.UpdateContainerResources(ctx, id, &runtimeapi.LinuxContainerResources{}), errdefs.ErrFailedPrecondition)
}

func TestImageVolumesAndImageMounts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.env.Images.Add(&sandbox.Image{ID: "sha256:" + strings.Repeat("3", 64),
		Config: ocispec.Image{Config: ocispec.ImageConfig{Volumes: map[string]struct{}{"/data": {}}}}}, "withvol")
	pod := h.runPod("web")
	cfg := ctrConfig("app")
	cfg.Image.Image = "withvol"
	cfg.Mounts = []*runtimeapi.Mount{{ContainerPath: "/models", Image: &runtimeapi.ImageSpec{Image: "busybox"}}}
	id, err := h.m.CreateContainer(ctx, pod, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := h.m.Container(id)
	if st, err := os.Stat(filepath.Join(c.Dir, "volumes", "0")); err != nil || !st.IsDir() {
		t.Errorf("image volume dir: %v", err)
	}
	if len(c.ExtraRootfs) != 1 || len(h.env.Images.Live()) != 2 || len(h.env.Mounter.Live()) != 2 {
		t.Errorf("image mount: extra %v rootfs %v mounts %v", c.ExtraRootfs, h.env.Images.Live(), h.env.Mounter.Live())
	}
	if err := h.m.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if len(h.env.Images.Live()) != 0 || len(h.env.Mounter.Live()) != 1 { // the pod's shm stays
		t.Errorf("after remove: rootfs %v mounts %v", h.env.Images.Live(), h.env.Mounter.Live())
	}
}
