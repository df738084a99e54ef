package cri

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

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
	if n := callEmpty(t, r.srv, reflect.TypeOf((*runtimeapi.RuntimeServiceServer)(nil)).Elem()); n < 25 {
		t.Fatalf("only %d RuntimeService RPCs found: the reflection walk is broken", n)
	}
	if n := callEmpty(t, r.srv, reflect.TypeOf((*runtimeapi.ImageServiceServer)(nil)).Elem()); n < 5 {
		t.Fatalf("only %d ImageService RPCs found", n)
	}
}

func callEmpty(t *testing.T, server *Server, iface reflect.Type) (called int) {
	wrap := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv := reflect.ValueOf(server)
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	for i := 0; i < iface.NumMethod(); i++ {
		m := iface.Method(i)
		if m.Type.NumIn() != 2 || m.Type.In(0) != ctxType || strings.HasPrefix(m.Name, "mustEmbed") {
			continue // streaming RPCs take a stream, not a context
		}
		called++
		req := reflect.New(m.Type.In(1).Elem())
		method := srv.MethodByName(m.Name)
		handler := func(ctx context.Context, in any) (any, error) {
			out := method.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(in)})
			err, _ := out[1].Interface().(error)
			return out[0].Interface(), err
		}
		_, err := wrap(context.Background(), req.Interface(), &grpc.UnaryServerInfo{FullMethod: "/runtime.v1/" + m.Name}, handler)
		switch code := status.Code(err); code {
		case codes.Internal, codes.Unknown:
			t.Errorf("%s(empty request): %v", m.Name, err)
		case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition:
			if msg := status.Convert(err).Message(); len(msg) < 10 {
				t.Errorf("%s(empty request): message too thin to act on: %q", m.Name, msg)
			}
		}
	}
	return called
}
