package cri

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	dto "github.com/prometheus/client_model/go"

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

// The duration histogram resolves calls finely enough for a p99 estimated from its buckets
// to be judged against the List*/stats goals (10, 20, 50 ms): a 3 ms call and a 5 ms one
// land in different buckets, as do a 12 ms and a 20 ms one.
func TestDurationHistogramResolvesMilliseconds(t *testing.T) {
	bucketOf := func(seconds float64) float64 { // the upper bound of the bucket counting it
		h := rpcDuration.WithLabelValues(fmt.Sprintf("TestDurationHistogram %v", seconds))
		h.Observe(seconds)
		var m dto.Metric
		if err := h.(interface{ Write(*dto.Metric) error }).Write(&m); err != nil {
			t.Fatal(err)
		}
		for _, b := range m.GetHistogram().GetBucket() {
			if b.GetCumulativeCount() > 0 {
				return b.GetUpperBound()
			}
		}
		return -1
	}
	for _, pair := range [][2]float64{{0.003, 0.005}, {0.012, 0.020}} {
		if a, b := bucketOf(pair[0]), bucketOf(pair[1]); a == b || a < 0 || b < 0 {
			t.Errorf("%v s and %v s counted in the buckets up to %v and %v s: not told apart", pair[0], pair[1], a, b)
		}
	}
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
