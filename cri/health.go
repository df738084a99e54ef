package cri

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The standard gRPC health service (grpc.health.v1.Health) on the CRI socket, for probes
// and service managers: SERVING only while the runtime (executor and monitor usable) and
// the image store can serve, NOT_SERVING otherwise and once shutdown began. Computed on
// each call from the same readiness Status reports, so it is never stale.

// Health service names: "" is the whole server.
var (
	runtimeServiceName = runtimeapi.RuntimeService_ServiceDesc.ServiceName
	imageServiceName   = runtimeapi.ImageService_ServiceDesc.ServiceName
)

// healthWatchInterval is how often Watch re-evaluates; a var so tests need not wait.
var healthWatchInterval = time.Second

type healthServer struct {
	healthpb.UnimplementedHealthServer
	s *Server
}

func (s *Server) runtimeReady() error {
	if s.Runtime == nil {
		return errors.New("runtime not configured")
	}
	return s.Runtime.Ready()
}

func (s *Server) imagesReady() error {
	if s.Images == nil {
		return errors.New("image service not configured")
	}
	return s.Images.Ready()
}

// servingStatus is the status of service, or false when service is unknown.
func (h *healthServer) servingStatus(service string) (healthpb.HealthCheckResponse_ServingStatus, bool) {
	var checks []func() error
	switch service {
	case "":
		checks = []func() error{h.s.runtimeReady, h.s.imagesReady}
	case runtimeServiceName:
		checks = []func() error{h.s.runtimeReady}
	case imageServiceName:
		checks = []func() error{h.s.imagesReady}
	default:
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, false
	}
	select {
	case <-h.s.done:
		return healthpb.HealthCheckResponse_NOT_SERVING, true
	default:
	}
	for _, c := range checks {
		if err := c(); err != nil {
			return healthpb.HealthCheckResponse_NOT_SERVING, true
		}
	}
	return healthpb.HealthCheckResponse_SERVING, true
}

func (h *healthServer) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, ok := h.servingStatus(req.GetService())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

func (h *healthServer) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	resp := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, name := range []string{"", runtimeServiceName, imageServiceName} {
		st, _ := h.servingStatus(name)
		resp.Statuses[name] = &healthpb.HealthCheckResponse{Status: st}
	}
	return resp, nil
}

// Watch sends the status now and on every change, as the protocol asks (an unknown service
// is SERVICE_UNKNOWN, not an error), until the client leaves or crid shuts down.
func (h *healthServer) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	tick := time.NewTicker(healthWatchInterval)
	defer tick.Stop()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		st, _ := h.servingStatus(req.GetService())
		if st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-h.s.done:
			if last != healthpb.HealthCheckResponse_NOT_SERVING {
				_ = stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_NOT_SERVING})
			}
			return status.Error(codes.Unavailable, "crid is shutting down")
		case <-tick.C:
		}
	}
}
