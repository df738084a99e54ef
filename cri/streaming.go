package cri

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"k8s.io/cri-streaming/pkg/streaming"
	remotecommand "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/crid-dev/crid/sandbox"
)

// StreamServer serves exec, attach and port-forward over SPDY and websocket (the
// k8s.io/cri-streaming server kubelet's runtimes use). The gRPC Exec/Attach/PortForward
// handlers only hand out its one-time URLs.
type StreamServer struct {
	srv  streaming.Server
	ln   net.Listener
	http *http.Server
}

// NewStreamServer listens on addr:port (port 0 picks a free one) and returns the server;
// Start serves it. Listening here lets the URLs carry the real port.
func NewStreamServer(addr string, port int, m *sandbox.Manager) (*StreamServer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
	if err != nil {
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = ln.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamRuntime{m})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("streaming server: %w", err)
	}
	return &StreamServer{srv: srv, ln: ln, http: &http.Server{Handler: srv, ReadHeaderTimeout: 30 * time.Second}}, nil
}

// Addr is the address the server listens on.
func (s *StreamServer) Addr() string { return s.ln.Addr().String() }

// Start serves until Stop; it returns nil after Stop.
func (s *StreamServer) Start() error {
	if err := s.http.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stop closes the listener and every open stream.
func (s *StreamServer) Stop() error { return s.http.Close() }

// streamRuntime adapts the sandbox to the streaming library.
type streamRuntime struct{ m *sandbox.Manager }

func (r streamRuntime) Exec(ctx context.Context, id string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	sizes, stop := termSizes(resize)
	defer stop()
	code, err := r.m.Exec(ctx, id, cmd, in, writerOrNil(out), writerOrNil(errw), tty, sizes)
	if err != nil {
		return err
	}
	if code != 0 {
		// The library reports this exit code to the client.
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

func (r streamRuntime) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	sizes, stop := termSizes(resize)
	defer stop()
	return r.m.Attach(ctx, id, in, writerOrNil(out), writerOrNil(errw), sizes)
}

func (r streamRuntime) PortForward(ctx context.Context, podID string, port int32, stream io.ReadWriteCloser) error {
	return r.m.PortForward(ctx, podID, port, stream)
}

// writerOrNil keeps a nil stream nil: an io.WriteCloser holding a nil pointer would look
// like a stream to the monitor.
func writerOrNil(w io.WriteCloser) io.Writer {
	if w == nil {
		return nil
	}
	return w
}

func termSizes(in <-chan remotecommand.TerminalSize) (<-chan sandbox.TermSize, func()) {
	return sandbox.RelaySizes(in, func(sz remotecommand.TerminalSize) sandbox.TermSize {
		return sandbox.TermSize{Width: sz.Width, Height: sz.Height}
	})
}
