package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	runtimeName       = "crid"
	criAPIVersion     = "v1"
	kubeletAPIVersion = "0.1.0" // the version string kubelet expects in VersionResponse.Version
)

// Version reports crid and the CRI version it speaks.
func (s *Server) Version(_ context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{
		Version:           kubeletAPIVersion,
		RuntimeName:       runtimeName,
		RuntimeVersion:    s.Deps.Version,
		RuntimeApiVersion: criAPIVersion,
	}, nil
}

// RuntimeConfig tells kubelet which cgroup driver crid uses, so the two agree.
func (s *Server) RuntimeConfig(_ context.Context, _ *runtimeapi.RuntimeConfigRequest) (*runtimeapi.RuntimeConfigResponse, error) {
	driver := runtimeapi.CgroupDriver_CGROUPFS
	if s.CgroupDriver == "systemd" {
		driver = runtimeapi.CgroupDriver_SYSTEMD
	}
	return &runtimeapi.RuntimeConfigResponse{Linux: &runtimeapi.LinuxRuntimeConfiguration{CgroupDriver: driver}}, nil
}

// Status reports RuntimeReady and NetworkReady truthfully: each is false with a reason and
// message when its dependency is not usable.
func (s *Server) Status(_ context.Context, req *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	runtimeCond := condition(runtimeapi.RuntimeReady, s.Runtime, "RuntimeNotReady")
	networkCond := condition(runtimeapi.NetworkReady, s.Network, "NetworkPluginNotReady")
	resp := &runtimeapi.StatusResponse{
		Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{runtimeCond, networkCond}},
	}
	if s.StatusExtras != nil {
		s.StatusExtras(resp, req.GetVerbose())
	}
	if req.GetVerbose() {
		if err := s.addInfo(resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

type readiness interface{ Ready() error }

func condition(kind string, dep readiness, reason string) *runtimeapi.RuntimeCondition {
	c := &runtimeapi.RuntimeCondition{Type: kind, Status: true}
	if dep == nil {
		c.Status, c.Reason, c.Message = false, reason, "not configured"
	} else if err := dep.Ready(); err != nil {
		c.Status, c.Reason, c.Message = false, reason, err.Error()
	}
	return c
}
