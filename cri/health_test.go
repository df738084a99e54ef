package cri

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/crid-dev/crid/images"
)

type switchable struct {
	mu  sync.Mutex
	err error
}

func (r *switchable) Ready() error  { r.mu.Lock(); defer r.mu.Unlock(); return r.err }
func (r *switchable) set(err error) { r.mu.Lock(); r.err = err; r.mu.Unlock() }

// TestHealthStates: SERVING only while the runtime and the image store can serve, per
// service and for the whole server; Watch follows changes; shutdown ends in NOT_SERVING.
func TestHealthStates(t *testing.T) {
	healthWatchInterval = 10 * time.Millisecond
	dir := t.TempDir()
	imgs, err := images.Open(images.Config{Root: filepath.Join(dir, "images"), ContainersDir: filepath.Join(dir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	defer imgs.Close()
	rt := &switchable{}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := NewServer(Deps{Log: log, Runtime: rt, Images: imgs})
	g := grpc.NewServer(grpc.UnaryInterceptor(UnaryInterceptor(log)), grpc.StreamInterceptor(StreamInterceptor(log)))
	srv.Register(g)
	ln, err := net.Listen("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(ln) }()
	defer g.Stop()
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, "s.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	expect := func(step string, want map[string]healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for svc, w := range want {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.Status != w {
				t.Errorf("%s: Check(%q) = %v %v, want %v", step, svc, resp.GetStatus(), err, w)
			}
		}
	}
	const S, N = healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING
	expect("all ready", map[string]healthpb.HealthCheckResponse_ServingStatus{"": S, runtimeServiceName: S, imageServiceName: S})
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown service: %v, want NotFound", err)
	}

	watch, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next := func() healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		m, err := watch.Recv()
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		return m.Status
	}
	if st := next(); st != S {
		t.Fatalf("Watch first status %v", st)
	}

	rt.set(errors.New("monitor binary missing"))
	expect("runtime down", map[string]healthpb.HealthCheckResponse_ServingStatus{"": N, runtimeServiceName: N, imageServiceName: S})
	if st := next(); st != N {
		t.Fatalf("Watch after the runtime went down: %v", st)
	}
	rt.set(nil)
	if st := next(); st != S {
		t.Fatalf("Watch after the runtime came back: %v", st)
	}

	imgs.Close() // a store that cannot serve
	expect("image store closed", map[string]healthpb.HealthCheckResponse_ServingStatus{"": N, runtimeServiceName: S, imageServiceName: N})
	if st := next(); st != N {
		t.Fatalf("Watch after the store closed: %v", st)
	}

	list, err := hc.List(ctx, &healthpb.HealthListRequest{})
	if err != nil || len(list.Statuses) != 3 || list.Statuses[imageServiceName].Status != N {
		t.Errorf("List: %v %v", list, err)
	}

	srv.Shutdown()
	expect("shutting down", map[string]healthpb.HealthCheckResponse_ServingStatus{runtimeServiceName: N})
	if _, err := watch.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Watch at shutdown: %v, want Unavailable", err)
	}
}
