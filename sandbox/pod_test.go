package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/sandboxtest"
)

func TestPodLifecycle(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.runPod("web")
	p, err := h.m.Pod(id)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != sandbox.PodReady || len(p.IPs) != 2 || p.IPs[0] != "10.88.0.5" || p.InfraPid != sandboxtest.InfraPid {
		t.Fatalf("pod after run: %+v", p)
	}
	resolv, _ := os.ReadFile(filepath.Join(p.Dir, "resolv.conf"))
	if !strings.Contains(string(resolv), "nameserver 10.0.0.10") || !strings.Contains(string(resolv), "search svc.local") {
		t.Errorf("resolv.conf: %q", resolv)
	}
	hosts, _ := os.ReadFile(filepath.Join(p.Dir, "hosts"))
	if !strings.Contains(string(hosts), "10.88.0.5\tweb") || !strings.Contains(string(hosts), "localhost") {
		t.Errorf("hosts: %q", hosts)
	}
	if st, err := os.Stat(p.Dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("pod dir: %v %v", st, err)
	}
	if got := h.env.Mounter.Live(); len(got) != 1 || got[0] != filepath.Join(p.Dir, "shm") {
		t.Errorf("shm mounts: %v", got)
	}

	// Prefix lookup, as crictl users type them.
	if q, err := h.m.Pod(id[:8]); err != nil || q.ID != id {
		t.Errorf("prefix lookup: %v %v", q, err)
	}

	cid := h.createStarted(id, "app")
	if err := h.m.StopPod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if p, _ := h.m.Pod(id); p.State != sandbox.PodNotReady {
		t.Errorf("after stop: %v", p.State)
	}
	if c, _ := h.m.Container(cid); c.State != sandbox.ContainerExited || c.ExitCode != 137 {
		t.Errorf("container after pod stop: %v %d", c.State, c.ExitCode)
	}
	if _, attached := h.env.Network.Live(); len(attached) != 0 {
		t.Errorf("CNI DEL not done at stop: %v", attached)
	}
	if err := h.m.StopPod(context.Background(), id); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if err := h.m.RemovePod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if err := h.m.RemovePod(context.Background(), id); err != nil {
		t.Errorf("second remove: %v", err)
	}
	if _, err := h.m.Pod(id); !errdefs.IsNotFound(err) {
		t.Errorf("status after remove: %v", err)
	}
	if err := h.m.StopPod(context.Background(), "unknown"); err != nil {
		t.Errorf("stop unknown: %v", err)
	}
	h.assertClean()
}

func TestRemoveReadyPodForcesStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.runPod("web")
	h.createStarted(id, "a")
	h.createStarted(id, "b")
	if err := h.m.RemovePod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

func TestRunPodValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	cases := []struct {
		name    string
		cfg     *runtimeapi.PodSandboxConfig
		handler string
		kind    error
		field   string
	}{
		{"nil config", nil, "", errdefs.ErrInvalidArgument, "config"},
		{"nil metadata", &runtimeapi.PodSandboxConfig{}, "", errdefs.ErrInvalidArgument, "config.metadata"},
		{"empty name", &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{}}, "", errdefs.ErrInvalidArgument, "config.metadata.name"},
		{"unknown handler", podConfig("x"), "kata", errdefs.ErrNotFound, "runtime_handler"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.m.RunPod(ctx, c.cfg, c.handler)
			if !errors.Is(err, c.kind) || !strings.HasPrefix(err.Error(), c.field) {
				t.Errorf("%s: %v, want %v naming %s", c.name, err, c.kind, c.field)
			}
		})
	}
	h.env.Network.NotReady = errors.New("no CNI config in /etc/cni/net.d")
	_, err := h.m.RunPod(ctx, podConfig("x"), "")
	wantKind(t, err, errdefs.ErrFailedPrecondition)
	if !strings.Contains(err.Error(), "no CNI config") {
		t.Errorf("network not ready error says why not: %v", err)
	}
	// A host-network pod does not need CNI.
	host := podConfig("host")
	host.Linux = &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE, Ipc: runtimeapi.NamespaceMode_NODE},
	}}
	id, err := h.m.RunPod(ctx, host, "")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := h.m.Pod(id); p.NetNS != "" || p.ShmMounted || len(p.IPs) != 0 {
		t.Errorf("host pod: %+v", p)
	}
	if err := h.m.RemovePod(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

// A failure at any step of RunPodSandbox leaves nothing behind.
func TestRunPodRollback(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"shm", "netns", "setup", "monitor-start", "infra"} {
		t.Run(step, func(t *testing.T) {
			h := newHarness(t)
			h.env.Fail.Set(step, errors.New("injected "+step+" failure"))
			_, err := h.m.RunPod(context.Background(), podConfig("web"), "")
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("RunPod: %v", err)
			}
			h.assertClean()
			// The name is free again.
			h.env.Fail.Set(step, nil)
			h.runPod("web")
		})
	}
}

// A config the spec refuses (a non-namespaced sysctl, say) makes nothing at all.
func TestRunPodBadSpecMakesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.Fail.Set("pod-spec", fmt.Errorf("linux.sysctls[kernel.panic]: not namespaced: %w", errdefs.ErrInvalidArgument))
	_, err := h.m.RunPod(context.Background(), podConfig("web"), "")
	wantKind(t, err, errdefs.ErrInvalidArgument)
	if n := len(h.env.Runtime.Cleaned); n != 0 {
		t.Errorf("a rollback ran (%d monitor cleanups): the refusal came too late", n)
	}
	h.assertClean()
}

// kubelet retries a timed-out RunPodSandbox with the same name: the retry waits for the
// first call and gets its pod, not "name is reserved".
func TestRunPodRetryGetsInFlightResult(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gate := make(chan struct{})
	h.env.Network.SetupGate = gate
	cfg := podConfig("slow")

	ctx1, cancel1 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel1()
	first := make(chan error, 1)
	go func() {
		_, err := h.m.RunPod(ctx1, cfg, "")
		first <- err
	}()
	time.Sleep(100 * time.Millisecond) // the first caller's deadline passes
	second := make(chan string, 1)
	go func() {
		id, err := h.m.RunPod(context.Background(), cfg, "")
		if err != nil {
			t.Error(err)
		}
		second <- id
	}()
	time.Sleep(50 * time.Millisecond)
	close(gate)
	if err := <-first; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("first call: %v, want success or its deadline", err)
	}
	id := <-second
	if pods := h.m.Pods(sandbox.PodFilter{}); len(pods) != 1 || pods[0].ID != id {
		t.Fatalf("want one pod %s, got %d", id, len(pods))
	}
	// A later retry (its answer lost just as the pod was done) gets the ready pod again.
	if again, err := h.m.RunPod(context.Background(), cfg, ""); err != nil || again != id {
		t.Fatalf("retry of a ready pod: %q %v, want %q", again, err, id)
	}
	// Once stopped, the metadata are not reused: a new attempt is needed.
	if err := h.m.StopPod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	_, err := h.m.RunPod(context.Background(), cfg, "")
	wantKind(t, err, errdefs.ErrAlreadyExists)
	if !strings.Contains(err.Error(), id) {
		t.Errorf("clash error names the other pod: %v", err)
	}
	if n := len(h.m.Pods(sandbox.PodFilter{})); n != 1 {
		t.Errorf("%d pods, want 1", n)
	}
}

// A RunPodSandbox whose caller gave up finishes anyway; the retry that comes after it is
// done gets its id once.
func TestRunPodRetryAfterAbandonedCall(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gate, entered := make(chan struct{}), make(chan struct{})
	h.env.Network.SetupGate, h.env.Network.SetupEntered = gate, entered
	cfg := podConfig("slow")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan string, 1)
	go func() {
		id, _ := h.m.RunPod(ctx, cfg, "")
		done <- id
	}()
	<-entered // the call is in flight, in the network setup
	cancel()  // and its caller gives up
	close(gate)
	first := <-done
	if first == "" {
		t.Fatal("the abandoned call did not finish its pod")
	}
	id, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil || id != first {
		t.Fatalf("retry: %q %v, want %q", id, err, first)
	}
}

func TestListPodFilters(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.runPod("a")
	b := h.runPod("b")
	if err := h.m.StopPod(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ready, notReady := sandbox.PodReady, sandbox.PodNotReady
	cases := []struct {
		name string
		f    sandbox.PodFilter
		want []string
	}{
		{"all", sandbox.PodFilter{}, []string{a, b}},
		{"ID: a[:5]", sandbox.PodFilter{ID: a[:5]}, []string{a}},
		{"ID: a", sandbox.PodFilter{ID: a}, []string{a}},
		{"State: &ready", sandbox.PodFilter{State: &ready}, []string{a}},
		{"State: &notReady", sandbox.PodFilter{State: &notReady}, []string{b}},
		{"Labels: app=b", sandbox.PodFilter{Labels: map[string]string{"app": "b"}}, []string{b}},
		{"Labels: tier=web", sandbox.PodFilter{Labels: map[string]string{"tier": "web"}}, []string{a, b}},
		{"Labels: app=b,tier=db", sandbox.PodFilter{Labels: map[string]string{"app": "b", "tier": "db"}}, nil},
		{"ID: a, State: &notReady", sandbox.PodFilter{ID: a, State: &notReady}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sameIDs(t, ids(h.m.Pods(c.f), func(p *sandbox.Pod) string { return p.ID }), c.want)
		})
	}
}

func TestUpdatePodResourcesAndCIDR(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := h.runPod("a")
	if err := h.m.UpdatePodResources(context.Background(), id, &runtimeapi.LinuxContainerResources{CpuShares: 512}); err != nil {
		t.Fatal(err)
	}
	wantKind(t, h.m.UpdatePodResources(context.Background(), "nope", &runtimeapi.LinuxContainerResources{}), errdefs.ErrNotFound)
	h.restart()
	if p, _ := h.m.Pod(id); p.Resources.GetCpuShares() != 512 {
		t.Errorf("pod resources not persisted: %v", p.Resources)
	}
	if err := h.m.SetPodCIDR("10.88.0.0/16"); err != nil || h.env.Network.CIDR != "10.88.0.0/16" {
		t.Errorf("SetPodCIDR: %v %q", err, h.env.Network.CIDR)
	}
}

// Pod metadata tuples that read alike once joined with "_" are different pods: each gets
// its own sandbox, and a retry of one never returns the other's id.
func TestRunPodDistinctTuplesNeverCollide(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	pairs := [][2]*runtimeapi.PodSandboxMetadata{
		{{Name: "a_b", Namespace: "c", Uid: "u"}, {Name: "a", Namespace: "b_c", Uid: "u"}},
		{{Name: "a", Namespace: "b", Uid: "c_1", Attempt: 2}, {Name: "a", Namespace: "b", Uid: "c", Attempt: 12}},
		{{Name: "x", Namespace: "y z", Uid: "\"q\""}, {Name: "x \"y", Namespace: "z\"", Uid: "q"}},
	}
	for i, pair := range pairs {
		var ids [2]string
		for j, md := range pair {
			cfg := podConfig(fmt.Sprintf("tuple-%d-%d", i, j))
			cfg.Metadata = md
			cfg.LogDirectory = filepath.Join(h.logs, cfg.Hostname)
			id, err := h.m.RunPod(context.Background(), cfg, "")
			if err != nil {
				t.Fatalf("pair %d: RunPod %+v: %v", i, md, err)
			}
			ids[j] = id
		}
		if ids[0] == ids[1] {
			t.Errorf("pair %d: %+v and %+v got the same pod %s", i, pair[0], pair[1], ids[0])
		}
		// The retry of each (same metadata) returns its own pod.
		for j, md := range pair {
			cfg := podConfig(fmt.Sprintf("tuple-%d-%d", i, j))
			cfg.Metadata = md
			cfg.LogDirectory = filepath.Join(h.logs, cfg.Hostname)
			if again, err := h.m.RunPod(context.Background(), cfg, ""); err != nil || again != ids[j] {
				t.Errorf("pair %d: retry of %+v: %q %v, want %q", i, md, again, err, ids[j])
			}
		}
	}
}

// TestRunPodNetworkNone: a pod annotated for network none gets its own namespace (pinned,
// then removed) and no CNI ADD or DEL, and needs no CNI config.
func TestRunPodNetworkNone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.env.Network.NotReady = errors.New("no CNI config")
	cfg := podConfig("none")
	cfg.LogDirectory = filepath.Join(h.logs, "none")
	cfg.Annotations = map[string]string{sandbox.AnnotationNetwork: "none"}
	id, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		t.Fatalf("RunPod with network none and no CNI config: %v", err)
	}
	p, _ := h.m.Pod(id)
	netns, attached := h.env.Network.Live()
	if len(p.IPs) != 0 || len(netns) != 1 || len(attached) != 0 {
		t.Errorf("network none: IPs %v, netns %v, CNI attached %v; want its own netns and no ADD", p.IPs, netns, attached)
	}
	if err := h.m.RemovePod(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	h.assertClean()
}

// RunPodSandbox's two slowest steps overlap: the infra process is made while the CNI
// plugins run (it needs the netns, not its interfaces).
func TestRunPodMakesInfraDuringNetworkSetup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	gate, entered := make(chan struct{}), make(chan struct{})
	h.env.Network.SetupGate, h.env.Network.SetupEntered = gate, entered
	done := make(chan error, 1)
	go func() {
		_, err := h.m.RunPod(context.Background(), podConfig("web"), "")
		done <- err
	}()
	<-entered // the ADD is held until the gate opens
	waitUntil(t, "the infra process while the network setup is held", func() bool {
		for _, m := range h.env.Runtime.All() {
			if slices.Contains(m.Procs(), sandbox.InfraID) {
				return true
			}
		}
		return false
	})
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
