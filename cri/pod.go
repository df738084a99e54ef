package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// listChunk is how many items one Stream* response carries: far below gRPC's 16 MiB
// message limit even with large label and annotation maps.
const listChunk = 500

// RunPodSandbox creates and starts a pod sandbox.
func (s *Server) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	id, err := s.Sandbox.RunPod(ctx, req.GetConfig(), req.GetRuntimeHandler())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

// StopPodSandbox stops the pod's containers and infra and releases its network.
func (s *Server) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalid("pod_sandbox_id", "empty")
	}
	if err := s.Sandbox.StopPod(ctx, req.PodSandboxId); err != nil {
		return nil, err
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// RemovePodSandbox removes the pod and everything in it; unknown ids succeed.
func (s *Server) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalid("pod_sandbox_id", "empty")
	}
	if err := s.Sandbox.RemovePod(ctx, req.PodSandboxId); err != nil {
		return nil, err
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

// PodSandboxStatus reports a pod from memory.
func (s *Server) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	p, err := s.Sandbox.Pod(req.GetPodSandboxId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.PodSandboxStatusResponse{Status: toPodStatus(p), Timestamp: time.Now().UnixNano()}
	for _, c := range s.Sandbox.PodContainers(p.ID) {
		resp.ContainersStatuses = append(resp.ContainersStatuses, s.toContainerStatus(c))
	}
	if req.GetVerbose() {
		resp.Info = podInfo(p)
	}
	return resp, nil
}

func podFilter(f *runtimeapi.PodSandboxFilter) sandbox.PodFilter {
	var out sandbox.PodFilter
	if f == nil {
		return out
	}
	out.ID, out.Labels = f.Id, f.LabelSelector
	if f.State != nil {
		st := sandbox.PodNotReady
		if f.State.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			st = sandbox.PodReady
		}
		out.State = &st
	}
	return out
}

// ListPodSandbox lists pods from memory.
func (s *Server) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: toPodSandboxes(s.Sandbox.Pods(podFilter(req.GetFilter())))}, nil
}

// StreamPodSandboxes is ListPodSandbox in chunks, each pod in exactly one.
func (s *Server) StreamPodSandboxes(req *runtimeapi.StreamPodSandboxesRequest, stream runtimeapi.RuntimeService_StreamPodSandboxesServer) error {
	pods := s.Sandbox.Pods(podFilter(req.GetFilter()))
	return sendChunks(len(pods), func(lo, hi int) error {
		return stream.Send(&runtimeapi.StreamPodSandboxesResponse{PodSandboxes: toPodSandboxes(pods[lo:hi])})
	})
}

// sendChunks calls send for consecutive ranges of at most listChunk items. An empty list
// sends nothing: the stream just ends.
func sendChunks(n int, send func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += listChunk {
		if err := send(lo, min(lo+listChunk, n)); err != nil {
			return err
		}
	}
	return nil
}

// UpdatePodSandboxResources records the pod-level resources (kubelet owns the pod cgroup).
func (s *Server) UpdatePodSandboxResources(ctx context.Context, req *runtimeapi.UpdatePodSandboxResourcesRequest) (*runtimeapi.UpdatePodSandboxResourcesResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalid("pod_sandbox_id", "empty")
	}
	if err := s.Sandbox.UpdatePodResources(ctx, req.PodSandboxId, req.GetResources()); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdatePodSandboxResourcesResponse{}, nil
}

// CheckpointContainer needs CRIU, which crid does not use.
func (s *Server) CheckpointContainer(context.Context, *runtimeapi.CheckpointContainerRequest) (*runtimeapi.CheckpointContainerResponse, error) {
	return nil, fmt.Errorf("CheckpointContainer: crid has no checkpoint/restore (no CRIU): %w", errdefs.ErrUnimplemented)
}

// CheckpointPod needs CRIU, which crid does not use.
func (s *Server) CheckpointPod(context.Context, *runtimeapi.CheckpointPodRequest) (*runtimeapi.CheckpointPodResponse, error) {
	return nil, fmt.Errorf("CheckpointPod: crid has no checkpoint/restore (no CRIU): %w", errdefs.ErrUnimplemented)
}

// RestorePod needs CRIU, which crid does not use.
func (s *Server) RestorePod(context.Context, *runtimeapi.RestorePodRequest) (*runtimeapi.RestorePodResponse, error) {
	return nil, fmt.Errorf("RestorePod: crid has no checkpoint/restore (no CRIU): %w", errdefs.ErrUnimplemented)
}
