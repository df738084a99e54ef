package cri

import (
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

var eventTypes = map[sandbox.EventType]runtimeapi.ContainerEventType{
	sandbox.EventCreated: runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
	sandbox.EventStarted: runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT,
	sandbox.EventStopped: runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT,
	sandbox.EventDeleted: runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT,
}

func (s *Server) toEvent(ev sandbox.Event) *runtimeapi.ContainerEventResponse {
	out := &runtimeapi.ContainerEventResponse{ContainerId: ev.ID, ContainerEventType: eventTypes[ev.Type], CreatedAt: ev.At.UnixNano()}
	if ev.Pod != nil {
		out.PodSandboxStatus = toPodStatus(ev.Pod)
	}
	for _, c := range ev.Containers {
		out.ContainersStatuses = append(out.ContainersStatuses, s.toContainerStatus(c))
	}
	return out
}

// GetContainerEvents streams container and pod sandbox events (kubelet's evented PLEG),
// in order, each once. A client that falls eventBuffer events behind is cut off with
// ResourceExhausted rather than allowed to hold up the runtime; kubelet then relists.
func (s *Server) GetContainerEvents(_ *runtimeapi.GetEventsRequest, stream runtimeapi.RuntimeService_GetContainerEventsServer) error {
	ch, cancel := s.Sandbox.Subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-s.done:
			return fmt.Errorf("crid is shutting down: %w", errdefs.ErrUnavailable)
		case ev, ok := <-ch:
			if !ok {
				return fmt.Errorf("event subscriber fell too far behind and was dropped: %w", errdefs.ErrResourceExhausted)
			}
			if err := stream.Send(s.toEvent(ev)); err != nil {
				return err
			}
		}
	}
}
