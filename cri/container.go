package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// CreateContainer creates a container in a pod; its process waits for StartContainer.
func (s *Server) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	if req.GetPodSandboxId() == "" {
		return nil, invalid("pod_sandbox_id", "empty")
	}
	id, err := s.Sandbox.CreateContainer(ctx, req.PodSandboxId, req.GetConfig())
	if err != nil {
		return nil, err
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

// StartContainer starts a created container.
func (s *Server) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	if err := s.Sandbox.StartContainer(ctx, req.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtimeapi.StartContainerResponse{}, nil
}

// StopContainer stops a container with its stop signal, then SIGKILL after the timeout.
func (s *Server) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	if req.GetTimeout() < 0 {
		return nil, invalid("timeout", "negative: %d", req.GetTimeout())
	}
	if err := s.Sandbox.StopContainer(ctx, req.GetContainerId(), req.GetTimeout()); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

// RemoveContainer removes a container, killing it first; unknown ids succeed.
func (s *Server) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	if req.GetContainerId() == "" {
		return nil, invalid("container_id", "empty")
	}
	if err := s.Sandbox.RemoveContainer(ctx, req.ContainerId); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func containerFilter(f *runtimeapi.ContainerFilter) sandbox.ContainerFilter {
	var out sandbox.ContainerFilter
	if f == nil {
		return out
	}
	out.ID, out.PodID, out.Labels = f.Id, f.PodSandboxId, f.LabelSelector
	if f.State != nil {
		st := fromContainerState(f.State.State)
		out.State = &st
	}
	return out
}

func fromContainerState(s runtimeapi.ContainerState) sandbox.ContainerState {
	switch s {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return sandbox.ContainerCreated
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return sandbox.ContainerRunning
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		return sandbox.ContainerExited
	}
	return sandbox.ContainerUnknown
}

// ListContainers lists containers from memory.
func (s *Server) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: toContainers(s.Sandbox.Containers(containerFilter(req.GetFilter())))}, nil
}

// StreamContainers is ListContainers in chunks.
func (s *Server) StreamContainers(req *runtimeapi.StreamContainersRequest, stream runtimeapi.RuntimeService_StreamContainersServer) error {
	cs := s.Sandbox.Containers(containerFilter(req.GetFilter()))
	return sendChunks(len(cs), func(lo, hi int) error {
		return stream.Send(&runtimeapi.StreamContainersResponse{Containers: toContainers(cs[lo:hi])})
	})
}

// ContainerStatus reports a container from memory.
func (s *Server) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	c, err := s.Sandbox.Container(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ContainerStatusResponse{Status: s.toContainerStatus(c)}
	if req.GetVerbose() {
		resp.Info = containerInfo(c)
	}
	return resp, nil
}

// UpdateContainerResources changes a container's limits live and keeps them.
func (s *Server) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	if err := s.Sandbox.UpdateContainerResources(ctx, req.GetContainerId(), req.GetLinux()); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}

// ReopenContainerLog reopens a running container's log after kubelet rotated it.
func (s *Server) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	if err := s.Sandbox.ReopenContainerLog(ctx, req.GetContainerId()); err != nil {
		return nil, err
	}
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}
