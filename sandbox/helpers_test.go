package sandbox_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/sandboxtest"
)

type harness struct {
	t     testing.TB
	env   *sandboxtest.Env
	cfg   sandbox.Config
	m     *sandbox.Manager
	logs  string
	state string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	return newHarnessWith(t, func(*sandbox.Config) {})
}

// newHarnessWith: configure changes the Manager's config before it opens.
func newHarnessWith(t testing.TB, configure func(*sandbox.Config)) *harness {
	t.Helper()
	h := &harness{t: t, env: sandboxtest.NewEnv(), logs: t.TempDir(), state: t.TempDir()}
	h.cfg = sandbox.Config{Root: t.TempDir(), State: h.state, StopGrace: 2 * time.Second}
	configure(&h.cfg)
	h.open()
	t.Cleanup(func() { h.m.Close() })
	return h
}

// open (re)starts the Manager over the same root, state and fakes, as a daemon restart.
func (h *harness) open() {
	h.t.Helper()
	m, err := sandbox.New(context.Background(), h.cfg, h.env.Deps(), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = m
}

func (h *harness) restart() {
	h.t.Helper()
	if err := h.m.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func podConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "default", Uid: "uid-" + name},
		Labels:       map[string]string{"app": name, "tier": "web"},
		Annotations:  map[string]string{"a": "b"},
		LogDirectory: "/var/log/pods/default_" + name,
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"svc.local"}},
		Hostname:     name,
	}
}

func ctrConfig(name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sleep", "100"},
		Labels:   map[string]string{"c": name},
		LogPath:  name + "/0.log",
	}
}

func (h *harness) runPod(name string) string {
	h.t.Helper()
	cfg := podConfig(name)
	cfg.LogDirectory = filepath.Join(h.logs, name)
	id, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		h.t.Fatalf("RunPod %s: %v", name, err)
	}
	return id
}

func (h *harness) createStarted(podID, name string) string {
	h.t.Helper()
	id, err := h.m.CreateContainer(context.Background(), podID, ctrConfig(name))
	if err != nil {
		h.t.Fatalf("CreateContainer %s: %v", name, err)
	}
	if err := h.m.StartContainer(context.Background(), id); err != nil {
		h.t.Fatalf("StartContainer %s: %v", name, err)
	}
	// Its cgroup's files are opened in the background after the start (openCgroup): wait
	// for it, so that what a test counts (reads, Forgotten) does not change under it later.
	path := sandboxtest.FakeCgroupPrefix + id
	opened := func() bool { return slices.Contains(h.env.Cgroups.Opened(), path) }
	if t, ok := h.t.(*testing.T); ok {
		waitUntil(t, "the open of "+path, opened)
	}
	for !opened() {
		time.Sleep(time.Millisecond)
	}
	return id
}

// assertClean fails unless nothing made for pods and containers is left: netns, CNI
// attachments, mounts, rootfs, monitors, pod dirs and records.
func (h *harness) assertClean() {
	h.t.Helper()
	netns, attached := h.env.Network.Live()
	if len(netns)+len(attached) > 0 {
		h.t.Errorf("network left: netns %v attached %v", netns, attached)
	}
	if l := h.env.Mounter.Live(); len(l) > 0 {
		h.t.Errorf("mounts left: %v", l)
	}
	if l := h.env.Images.Live(); len(l) > 0 {
		h.t.Errorf("rootfs left: %v", l)
	}
	if l := h.env.Runtime.Live(); len(l) > 0 {
		h.t.Errorf("monitors left: %v", l)
	}
	if ents, _ := os.ReadDir(filepath.Join(h.state, "pods")); len(ents) > 0 {
		h.t.Errorf("pod dirs left: %d", len(ents))
	}
	if n := len(h.m.Pods(sandbox.PodFilter{})); n > 0 {
		h.t.Errorf("%d pods left in the index", n)
	}
	// The store is checked through a restart: nothing may come back.
	h.restart()
	if n := len(h.m.Pods(sandbox.PodFilter{})) + len(h.m.Containers(sandbox.ContainerFilter{})); n > 0 {
		h.t.Errorf("%d records came back after a restart", n)
	}
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want kind %v", err, kind)
	}
}

func hostNetworkLinux() *runtimeapi.LinuxPodSandboxConfig {
	return &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
	}}
}

// ids maps a listing to its ids.
func ids[T any](list []T, id func(T) string) []string {
	out := make([]string, 0, len(list))
	for _, x := range list {
		out = append(out, id(x))
	}
	return out
}

// sameIDs reports a filter case whose result is not exactly want, in any order.
func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
