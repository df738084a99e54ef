package cri

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/images"
)

// unaryRPC is one unary CRI method of Server, called as the gRPC server would.
type unaryRPC struct {
	name string
	req  reflect.Type // the request message type (not a pointer)
	call func(ctx context.Context, req any) (any, error)
}

// unaryRPCs lists the unary methods of the RuntimeService and ImageService, by name.
func unaryRPCs(server *Server) []unaryRPC {
	srv := reflect.ValueOf(server)
	ctxType := reflect.TypeFor[context.Context]()
	var out []unaryRPC
	for _, iface := range []reflect.Type{reflect.TypeFor[runtimeapi.RuntimeServiceServer](), reflect.TypeFor[runtimeapi.ImageServiceServer]()} {
		for i := 0; i < iface.NumMethod(); i++ {
			m := iface.Method(i)
			if m.Type.NumIn() != 2 || m.Type.In(0) != ctxType || strings.HasPrefix(m.Name, "mustEmbed") {
				continue // streaming RPCs take a stream, not a context
			}
			method := srv.MethodByName(m.Name)
			out = append(out, unaryRPC{name: m.Name, req: m.Type.In(1).Elem(), call: func(ctx context.Context, in any) (any, error) {
				res := method.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(in)})
				err, _ := res[1].Interface().(error)
				return res[0].Interface(), err
			}})
		}
	}
	slices.SortFunc(out, func(a, b unaryRPC) int { return strings.Compare(a.name, b.name) })
	return out
}

// FuzzUnaryRPC sends any bytes, as the request of any unary CRI method, through crid's
// handlers, interceptor and the sandbox's validation (over the sandbox fakes and a real
// image store). No request may panic (Internal) or fail with an unmapped error (Unknown):
// bad input is refused with a code and a message. PullImage is left out: it would reach
// whatever a fuzzed reference names.
func FuzzUnaryRPC(f *testing.F) {
	r := newRig(f)
	hosts := filepath.Join(r.dir, "certs.d", "_default")
	if err := os.MkdirAll(hosts, 0o755); err != nil {
		f.Fatal(err)
	}
	// Nothing listens on port 9 of loopback: any registry access fails at once.
	if err := os.WriteFile(filepath.Join(hosts, "hosts.toml"), []byte("server = \"http://127.0.0.1:9\"\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	store, err := images.Open(images.Config{Root: filepath.Join(r.dir, "images"), ContainersDir: filepath.Join(r.dir, "containers"),
		RegistryConfigDir: filepath.Dir(hosts), PullProgressTimeout: time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { store.Close() })
	r.srv.Images = store
	rpcs := slices.DeleteFunc(unaryRPCs(r.srv), func(u unaryRPC) bool { return u.name == "PullImage" })
	index := func(name string) uint8 {
		return uint8(slices.IndexFunc(rpcs, func(u unaryRPC) bool { return u.name == name }))
	}
	add := func(name string, m proto.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(index(name), b)
	}
	pod := podCfg("fuzz", r.dir)
	add("RunPodSandbox", &runtimeapi.RunPodSandboxRequest{Config: pod})
	add("CreateContainer", &runtimeapi.CreateContainerRequest{PodSandboxId: "0123456789ab", Config: ctrCfg("c"), SandboxConfig: pod})
	add("ExecSync", &runtimeapi.ExecSyncRequest{ContainerId: "c", Cmd: []string{"true"}, Timeout: 1})
	add("UpdateContainerResources", &runtimeapi.UpdateContainerResourcesRequest{ContainerId: "c", Linux: &runtimeapi.LinuxContainerResources{CpuShares: 2}})
	add("ListContainers", &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: map[string]string{"a": "b"}}})
	add("ImageStatus", &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: "sha256:78"}, Verbose: true})
	add("RemoveImage", &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "busybox"}})
	add("UpdateRuntimeConfig", &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.1.0.0/16"}}})
	wrap := UnaryInterceptor(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		rpc := rpcs[int(which)%len(rpcs)]
		req := reflect.New(rpc.req).Interface()
		if proto.Unmarshal(data, req.(proto.Message)) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := wrap(ctx, req, &grpc.UnaryServerInfo{FullMethod: "/runtime.v1/" + rpc.name}, rpc.call)
		switch code := status.Code(err); code {
		case codes.Internal, codes.Unknown:
			t.Fatalf("%s(%v): %v", rpc.name, req, err)
		case codes.OK:
		default:
			if msg := status.Convert(err).Message(); msg == "" {
				t.Fatalf("%s(%v): %s without a message", rpc.name, req, code)
			}
		}
	})
}
