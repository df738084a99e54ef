package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

func TestExecSync(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	pod := h.runPod("web")
	id := h.createStarted(pod, "app")
	p, _ := h.m.Pod(pod)
	mon := h.env.Runtime.Monitor(p.Dir)

	var gotArgs []string
	mon.ExecFunc = func(ctx context.Context, r sandbox.ExecRequest) (int, error) {
		gotArgs = r.Process.Args
		_, _ = io.WriteString(r.Stdout, "out")
		_, _ = io.WriteString(r.Stderr, "err")
		return 3, nil
	}
	res, err := h.m.ExecSync(ctx, id, []string{"sh", "-c", "exit 3"}, 0)
	if err != nil || string(res.Stdout) != "out" || string(res.Stderr) != "err" || res.ExitCode != 3 {
		t.Fatalf("ExecSync: %+v %v", res, err)
	}
	if len(gotArgs) != 3 || gotArgs[2] != "exit 3" {
		t.Errorf("args: %v", gotArgs)
	}

	// Output beyond the cap is dropped, not buffered (CVE-2022-31030).
	mon.ExecFunc = func(ctx context.Context, r sandbox.ExecRequest) (int, error) {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 20 {
			_, _ = r.Stdout.Write(chunk)
		}
		return 0, nil
	}
	res, err = h.m.ExecSync(ctx, id, []string{"yes"}, 0)
	if err != nil || len(res.Stdout) != sandbox.MaxExecSyncOutput {
		t.Fatalf("capped output: %d bytes, %v", len(res.Stdout), err)
	}

	// A timeout kills the process (the context ends) and is DeadlineExceeded.
	mon.ExecFunc = func(ctx context.Context, r sandbox.ExecRequest) (int, error) {
		<-ctx.Done()
		return -1, ctx.Err()
	}
	start := time.Now()
	_, err = h.m.ExecSync(ctx, id, []string{"sleep", "10"}, 1)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(start))
	}

	_, err = h.m.ExecSync(ctx, id, nil, 0)
	wantKind(t, err, errdefs.ErrInvalidArgument)
	_, err = h.m.ExecSync(ctx, "nope", []string{"true"}, 0)
	wantKind(t, err, errdefs.ErrNotFound)
	if err := h.m.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	_, err = h.m.ExecSync(ctx, id, []string{"true"}, 0)
	wantKind(t, err, errdefs.ErrFailedPrecondition)
}

type pipeRWC struct {
	io.Reader
	io.Writer
	closed chan struct{}
}

func (p *pipeRWC) Close() error {
	select {
	case <-p.closed:
	default:
		close(p.closed)
	}
	return nil
}

// PortForward of a host-network pod dials the node's localhost; the copy works both ways.
func TestPortForwardHostNetwork(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c) // echo
	}()
	h := newHarness(t)
	cfg := podConfig("host")
	cfg.Linux = hostNetworkLinux()
	pod, err := h.m.RunPod(context.Background(), cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	var out bytes.Buffer
	s := &pipeRWC{Reader: bytes.NewReader([]byte("ping")), Writer: &out, closed: make(chan struct{})}
	if err := h.m.PortForward(context.Background(), pod, int32(port), s); err != nil {
		t.Fatal(err)
	}
	if out.String() != "ping" {
		t.Errorf("echo: %q", out.String())
	}
	err = h.m.PortForward(context.Background(), pod, 70000, &pipeRWC{Reader: bytes.NewReader(nil), Writer: io.Discard, closed: make(chan struct{})})
	wantKind(t, err, errdefs.ErrInvalidArgument)
	_ = strconv.Itoa
}
