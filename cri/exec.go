package cri

import (
	"context"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// ExecSync runs a command in a container and returns its output (each stream capped at
// sandbox.MaxExecSyncOutput) and exit code; a timeout is DeadlineExceeded.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	if req.GetContainerId() == "" {
		return nil, invalid("container_id", "empty")
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalid("cmd", "empty")
	}
	if req.GetTimeout() < 0 {
		return nil, invalid("timeout", "negative: %d", req.GetTimeout())
	}
	res, err := s.Sandbox.ExecSync(ctx, req.ContainerId, req.Cmd, req.Timeout)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ExecSyncResponse{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, nil
}

func (s *Server) streaming() error {
	if s.Streaming == nil {
		return fmt.Errorf("the streaming server is not running: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// Exec returns a one-time URL of the streaming server for an exec session.
func (s *Server) Exec(_ context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if err := s.streaming(); err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, invalid("cmd", "empty")
	}
	if _, _, err := s.Sandbox.RunningContainer(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.Streaming.srv.GetExec(req)
}

// Attach returns a one-time URL of the streaming server to attach to a container.
func (s *Server) Attach(_ context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if err := s.streaming(); err != nil {
		return nil, err
	}
	if _, _, err := s.Sandbox.RunningContainer(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.Streaming.srv.GetAttach(req)
}

// PortForward returns a one-time URL of the streaming server to forward pod ports.
func (s *Server) PortForward(_ context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	if err := s.streaming(); err != nil {
		return nil, err
	}
	if _, err := s.Sandbox.Pod(req.GetPodSandboxId()); err != nil {
		return nil, err
	}
	return s.Streaming.srv.GetPortForward(req)
}
