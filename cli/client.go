package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultEndpoint is crid's own socket.
const DefaultEndpoint = "unix:///run/crid/crid.sock"

// endpointEnv overrides the default endpoint, as for crictl.
const endpointEnv = "CONTAINER_RUNTIME_ENDPOINT"

func defaultEndpoint() string {
	if e := os.Getenv(endpointEnv); e != "" {
		return e
	}
	return DefaultEndpoint
}

// client is one connection to a CRI runtime.
type client struct {
	endpoint string
	conn     *grpc.ClientConn
	rt       runtimeapi.RuntimeServiceClient
	is       runtimeapi.ImageServiceClient
}

// dial connects lazily (grpc.NewClient does no I/O), so a command that fails on its
// arguments never touches the socket; the first call reports an absent runtime.
func dial(endpoint string) (*client, error) {
	path, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok {
		if strings.Contains(endpoint, "://") {
			return nil, fmt.Errorf("runtime endpoint %q: only unix:// sockets are supported", endpoint)
		}
		path = endpoint
	}
	conn, err := grpc.NewClient("passthrough:///"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20)))
	if err != nil {
		return nil, fmt.Errorf("runtime endpoint %s: %w", endpoint, err)
	}
	return &client{
		endpoint: endpoint,
		conn:     conn,
		rt:       runtimeapi.NewRuntimeServiceClient(conn),
		is:       runtimeapi.NewImageServiceClient(conn),
	}, nil
}

func (c *client) Close() error { return c.conn.Close() }

// callTimeout bounds one CRI call that is not a pull or a wait.
const callTimeout = 2 * time.Minute
