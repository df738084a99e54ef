package cri

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crid-dev/crid/images"
)

// TestEveryUnaryRPCSurvivesAnEmptyRequest calls each unary RuntimeService RPC with an
// empty request (nil nested configs everywhere), as a careless or hostile client might.
// None may panic (Internal) or answer with an unmapped error (Unknown): bad input is
// InvalidArgument or NotFound with a message, or a valid empty answer.
func TestEveryUnaryRPCSurvivesAnEmptyRequest(t *testing.T) {
	r := newRig(t)
	store, err := images.Open(images.Config{Root: filepath.Join(r.dir, "images"), ContainersDir: filepath.Join(r.dir, "containers")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r.srv.Images = store
	rpcs := unaryRPCs(r.srv)
	if len(rpcs) < 30 {
		t.Fatalf("only %d unary RPCs found: the reflection walk is broken", len(rpcs))
	}
	wrap := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, rpc := range rpcs {
		req := reflect.New(rpc.req).Interface()
		_, err := wrap(context.Background(), req, &grpc.UnaryServerInfo{FullMethod: "/runtime.v1/" + rpc.name}, rpc.call)
		switch code := status.Code(err); code {
		case codes.Internal, codes.Unknown:
			t.Errorf("%s(empty request): %v", rpc.name, err)
		case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition:
			if msg := status.Convert(err).Message(); len(msg) < 10 {
				t.Errorf("%s(empty request): message too thin to act on: %q", rpc.name, msg)
			}
		}
	}
}
