package cri

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

func call(t *testing.T, handler grpc.UnaryHandler) error {
	t.Helper()
	in := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	_, err := in(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: "/runtime.v1.RuntimeService/Test"}, handler)
	return err
}

func TestInterceptorMapsErrorKinds(t *testing.T) {
	err := call(t, func(context.Context, any) (any, error) {
		return nil, fmt.Errorf("pod %q: %w", "p1", errdefs.ErrNotFound)
	})
	if s, _ := status.FromError(err); s.Code() != codes.NotFound || s.Message() != `pod "p1": not found` {
		t.Fatalf("got %v", err)
	}
	if err := call(t, func(context.Context, any) (any, error) { return nil, invalid("config.metadata", "is required") }); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("got %v", err)
	}
}

func TestInterceptorTurnsPanicIntoInternal(t *testing.T) {
	err := call(t, func(context.Context, any) (any, error) {
		var m map[string]int
		m["x"] = 1 //nolint:govet,staticcheck // a nil-map write panics: the runtime panic under test
		return nil, nil
	})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic must become Internal, got %v", err)
	}
}

type notReady struct{ why string }

func (n notReady) Ready() error {
	if n.why == "" {
		return nil
	}
	return fmt.Errorf("%s", n.why)
}

func TestStatusTellsTheTruth(t *testing.T) {
	s := NewServer(Deps{Runtime: notReady{}, Network: notReady{"no network config found in /etc/cni/net.d"}})
	resp, err := s.Status(context.Background(), &runtimeapi.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	conds := map[string]*runtimeapi.RuntimeCondition{}
	for _, c := range resp.Status.Conditions {
		conds[c.Type] = c
	}
	if !conds[runtimeapi.RuntimeReady].Status {
		t.Errorf("runtime should be ready: %v", conds[runtimeapi.RuntimeReady])
	}
	n := conds[runtimeapi.NetworkReady]
	if n.Status || n.Reason == "" || n.Message != "no network config found in /etc/cni/net.d" {
		t.Errorf("network condition must be false with reason and message: %v", n)
	}
}
