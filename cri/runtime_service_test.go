package cri

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/sandboxtest"
)

type rig struct {
	env *sandboxtest.Env
	m   *sandbox.Manager
	srv *Server
	rt  runtimeapi.RuntimeServiceClient
	dir string
}

// newRig serves the RuntimeService over the sandbox fakes on a unix socket, through the
// same interceptors as crid, and returns a client.
func newRig(t testing.TB) *rig {
	t.Helper()
	env := sandboxtest.NewEnv()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := sandbox.New(context.Background(), sandbox.Config{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state")}, env.Deps(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(Deps{Log: log, Sandbox: m, Network: env.Network})
	streams, err := NewStreamServer("127.0.0.1", 0, m)
	if err != nil {
		t.Fatal(err)
	}
	srv.Streaming = streams
	go func() { _ = streams.Start() }()
	g := grpc.NewServer(grpc.UnaryInterceptor(UnaryInterceptor(log)), grpc.StreamInterceptor(StreamInterceptor(log)))
	srv.Register(g)
	sock := filepath.Join(dir, "crid.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		g.Stop()
		_ = streams.Stop()
		m.Close()
	})
	return &rig{env: env, m: m, srv: srv, rt: runtimeapi.NewRuntimeServiceClient(conn), dir: dir}
}

func podCfg(name string, dir string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "u-" + name},
		Labels:       map[string]string{"app": name},
		LogDirectory: filepath.Join(dir, "logs", name),
	}
}

func ctrCfg(name string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  []string{"sleep", "1000"},
		LogPath:  name + ".log",
	}
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("got %v, want %v containing %q", err, code, contains)
	}
}

func TestPodAndContainerOverGRPC(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	run, err := r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg("web", r.dir)})
	if err != nil {
		t.Fatal(err)
	}
	pod := run.PodSandboxId
	st, err := r.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || st.Status.Network.Ip != "10.88.0.5" ||
		len(st.Status.Network.AdditionalIps) != 1 || st.Status.Metadata.Name != "web" || !strings.Contains(st.Info["info"], fmt.Sprintf(`"pid":%d,`, sandboxtest.InfraPid)) {
		t.Fatalf("pod status: %v", st)
	}
	cr, err := r.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: pod, Config: ctrCfg("app")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	cs, err := r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: cr.ContainerId, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	s := cs.Status
	if s.State != runtimeapi.ContainerState_CONTAINER_RUNNING || s.Image.Image != "busybox" || s.ImageId == "" ||
		!strings.Contains(s.ImageRef, "@sha256:") || s.StartedAt == 0 || s.LogPath != filepath.Join(r.dir, "logs", "web", "app.log") ||
		s.StopSignal != runtimeapi.Signal_SIGNAL_SIGQUIT || s.User.GetLinux() == nil || cs.Info["info"] == "" {
		t.Fatalf("container status: %v", s)
	}
	lc, _ := r.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{
		PodSandboxId: pod, State: &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
	}})
	if len(lc.Containers) != 1 || lc.Containers[0].Id != cr.ContainerId {
		t.Fatalf("list containers: %v", lc)
	}
	ex, err := r.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: cr.ContainerId, Cmd: []string{"echo"}})
	if err != nil || string(ex.Stdout) != "ok" {
		t.Fatalf("exec sync: %v %v", ex, err)
	}
	er, err := r.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: cr.ContainerId, Cmd: []string{"sh"}, Stdout: true})
	if err != nil || !strings.HasPrefix(er.Url, "http://127.0.0.1:") {
		t.Fatalf("exec url: %v %v", er, err)
	}
	stats, err := r.rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
	if err != nil || len(stats.Stats) != 1 || stats.Stats[0].Cpu.UsageCoreNanoSeconds.Value != 1e9 || stats.Stats[0].WritableLayer.UsedBytes.Value != 4096 {
		t.Fatalf("stats: %v %v", stats, err)
	}
	ps, err := r.rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
	if err != nil || len(ps.Stats) != 1 || len(ps.Stats[0].Linux.Containers) != 1 || ps.Stats[0].Linux.Memory.WorkingSetBytes.Value != 1<<20 {
		t.Fatalf("pod stats: %v %v", ps, err)
	}
	md, _ := r.rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	pm, _ := r.rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if len(md.Descriptors) == 0 || len(pm.PodMetrics) != 1 || len(pm.PodMetrics[0].ContainerMetrics[0].Metrics) == 0 {
		t.Fatalf("metrics: %v %v", md, pm)
	}
	if _, err := r.rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: cr.ContainerId, Timeout: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: cr.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: pod}); err != nil {
		t.Fatalf("remove of a removed pod: %v", err)
	}
	_, err = r.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: pod})
	wantCode(t, err, codes.NotFound, pod)
}

func TestBadInputCodes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, err := r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{})
	wantCode(t, err, codes.InvalidArgument, "config")
	_, err = r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}})
	wantCode(t, err, codes.InvalidArgument, "config.metadata")
	_, err = r.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: podCfg("x", r.dir), RuntimeHandler: "runsc"})
	wantCode(t, err, codes.NotFound, "runtime_handler")
	_, err = r.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: "nope", Config: ctrCfg("a")})
	wantCode(t, err, codes.NotFound, "nope")
	_, err = r.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{})
	wantCode(t, err, codes.InvalidArgument, "pod_sandbox_id")
	_, err = r.rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "nope"})
	wantCode(t, err, codes.NotFound, "nope")
	_, err = r.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{})
	wantCode(t, err, codes.InvalidArgument, "container id")
	_, err = r.rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "x"})
	wantCode(t, err, codes.InvalidArgument, "cmd")
	_, err = r.rt.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: "nope"})
	wantCode(t, err, codes.NotFound, "nope")
	if _, err := r.rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: "nope"}); err != nil {
		t.Errorf("remove unknown container: %v", err)
	}
	_, err = r.rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: "nope"})
	wantCode(t, err, codes.InvalidArgument, "resources: missing")
	_, err = r.rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{})
	wantCode(t, err, codes.Unimplemented, "CRIU")
	_, err = r.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
		NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.88.0.0/16"}}})
	if err != nil || r.env.Network.CIDR != "10.88.0.0/16" {
		t.Errorf("UpdateRuntimeConfig: %v %q", err, r.env.Network.CIDR)
	}
}

// Every RuntimeService RPC except checkpoint/restore is crid's own, not the generated
// Unimplemented stub that the embedded struct would answer with.
func TestNoRuntimeRPCIsAStub(t *testing.T) {
	r := newRig(t)
	allowed := map[string]bool{"CheckpointContainer": true, "CheckpointPod": true, "RestorePod": true}
	iface := reflect.TypeOf((*runtimeapi.RuntimeServiceServer)(nil)).Elem()
	srv := reflect.ValueOf(r.srv)
	for i := range iface.NumMethod() {
		m := iface.Method(i)
		if allowed[m.Name] || m.Type.NumIn() != 2 || m.Type.In(0) != reflect.TypeOf((*context.Context)(nil)).Elem() {
			continue // streaming RPCs are checked in TestStreamRPCs
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		out := srv.MethodByName(m.Name).Call([]reflect.Value{reflect.ValueOf(ctx), reflect.New(m.Type.In(1).Elem())})
		cancel()
		if err, _ := out[1].Interface().(error); err != nil && strings.Contains(err.Error(), "not implemented") {
			t.Errorf("%s is a stub: %v", m.Name, err)
		}
	}
}

type sink[T any] struct {
	grpc.ServerStream
	ctx  context.Context
	sent []*T
}

func (s *sink[T]) Send(v *T) error          { s.sent = append(s.sent, v); return nil }
func (s *sink[T]) Context() context.Context { return s.ctx }

func TestStreamRPCs(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for i := range 3 {
		p, err := r.m.RunPod(ctx, podCfg(string(rune('a'+i)), r.dir), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.m.CreateContainer(ctx, p, ctrCfg("c")); err != nil {
			t.Fatal(err)
		}
	}
	pods := &sink[runtimeapi.StreamPodSandboxesResponse]{ctx: ctx}
	ctrs := &sink[runtimeapi.StreamContainersResponse]{ctx: ctx}
	cstats := &sink[runtimeapi.StreamContainerStatsResponse]{ctx: ctx}
	pstats := &sink[runtimeapi.StreamPodSandboxStatsResponse]{ctx: ctx}
	pmetrics := &sink[runtimeapi.StreamPodSandboxMetricsResponse]{ctx: ctx}
	if r.srv.StreamPodSandboxes(&runtimeapi.StreamPodSandboxesRequest{}, pods) != nil ||
		r.srv.StreamContainers(&runtimeapi.StreamContainersRequest{}, ctrs) != nil ||
		r.srv.StreamContainerStats(&runtimeapi.StreamContainerStatsRequest{}, cstats) != nil ||
		r.srv.StreamPodSandboxStats(&runtimeapi.StreamPodSandboxStatsRequest{}, pstats) != nil ||
		r.srv.StreamPodSandboxMetrics(&runtimeapi.StreamPodSandboxMetricsRequest{}, pmetrics) != nil {
		t.Fatal("a stream RPC failed")
	}
	if len(pods.sent) != 1 || len(pods.sent[0].PodSandboxes) != 3 || len(ctrs.sent[0].Containers) != 3 ||
		len(cstats.sent[0].ContainerStats) != 3 || len(pstats.sent[0].PodSandboxStats) != 3 || len(pmetrics.sent[0].PodSandboxMetrics) != 3 {
		t.Fatalf("stream contents: %d %v", len(pods.sent), pods.sent)
	}
	// Chunking: each item exactly once.
	n := 0
	if err := sendChunks(1234, func(lo, hi int) error { n += hi - lo; return nil }); err != nil || n != 1234 {
		t.Fatalf("chunks cover %d of 1234", n)
	}
}

func TestGetContainerEvents(t *testing.T) {
	r := newRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := r.rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *runtimeapi.ContainerEventResponse, 64)
	go func() {
		defer close(events)
		for {
			ev, err := stream.Recv()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	probe := waitSubscribed(t, r, events)
	pod, err := r.m.RunPod(context.Background(), podCfg("web", r.dir), "")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := r.m.CreateContainer(context.Background(), pod, ctrCfg("other"))
	cid, _ := r.m.CreateContainer(context.Background(), pod, ctrCfg("c"))
	if err := r.m.StartContainer(context.Background(), cid); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		id  string
		typ runtimeapi.ContainerEventType
	}{
		{pod, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT},
		{pod, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT},
		{other, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT},
		{cid, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT},
		{cid, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT},
	}
	for i := 0; i < len(want); {
		ev, ok := <-events
		if !ok {
			t.Fatalf("event stream ended after %d events", i)
		}
		if ev.PodSandboxStatus.GetId() == probe {
			continue
		}
		w := want[i]
		if ev.ContainerId != w.id || ev.ContainerEventType != w.typ || ev.PodSandboxStatus.GetId() != pod || ev.CreatedAt == 0 {
			t.Fatalf("event %d: %v, want %v %v", i, ev, w.id, w.typ)
		}
		// kubelet's evented PLEG takes the list as the pod's whole status: both
		// containers must be there once both exist.
		if w.id == cid && len(ev.ContainersStatuses) != 2 {
			t.Fatalf("event %d does not carry all the pod's containers: %v", i, ev)
		}
		i++
	}
}

// waitSubscribed returns once events flow: the server subscribes when its handler runs,
// after the client's stream is open, and what happens before is not sent. It makes probe
// containers, in a pod of their own, until one's event arrives; it returns that pod.
func waitSubscribed(t *testing.T, r *rig, events <-chan *runtimeapi.ContainerEventResponse) string {
	t.Helper()
	probe, err := r.m.RunPod(context.Background(), podCfg("probe", r.dir), "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if _, err := r.m.CreateContainer(context.Background(), probe, ctrCfg(fmt.Sprint("probe", i))); err != nil {
			t.Fatal(err)
		}
		select {
		case _, ok := <-events:
			if !ok {
				t.Fatal("event stream ended before the first event")
			}
			return probe
		case <-time.After(20 * time.Millisecond): // not subscribed yet: another probe
		}
	}
}

func TestHandlerStatus(t *testing.T) {
	r := newRig(t)
	resp := &runtimeapi.StatusResponse{}
	HandlerStatus(r.m)(resp, false)
	if len(resp.RuntimeHandlers) != 1 || resp.RuntimeHandlers[0].Name != "" || resp.RuntimeHandlers[0].Features.UserNamespaces || resp.Features == nil {
		t.Fatalf("handlers: %v", resp)
	}
}
