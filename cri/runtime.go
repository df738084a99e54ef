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
