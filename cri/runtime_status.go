package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox"
)

// UpdateRuntimeConfig passes kubelet's pod CIDR to the network plugin.
func (s *Server) UpdateRuntimeConfig(_ context.Context, req *runtimeapi.UpdateRuntimeConfigRequest) (*runtimeapi.UpdateRuntimeConfigResponse, error) {
	if err := s.Sandbox.SetPodCIDR(req.GetRuntimeConfig().GetNetworkConfig().GetPodCidr()); err != nil {
		return nil, err
	}
	return &runtimeapi.UpdateRuntimeConfigResponse{}, nil
}

// HandlerStatus returns the Deps.StatusExtras that adds the runtime handlers and features
// m really supports to a Status response.
func HandlerStatus(m *sandbox.Manager) func(resp *runtimeapi.StatusResponse, verbose bool) {
	return func(resp *runtimeapi.StatusResponse, _ bool) {
		for _, h := range m.Handlers() {
			resp.RuntimeHandlers = append(resp.RuntimeHandlers, &runtimeapi.RuntimeHandler{
				Name: h.Name,
				Features: &runtimeapi.RuntimeHandlerFeatures{
					RecursiveReadOnlyMounts: h.Features.RecursiveReadOnlyMounts,
					UserNamespaces:          h.Features.UserNamespaces,
				},
			})
		}
		resp.Features = &runtimeapi.RuntimeFeatures{SupplementalGroupsPolicy: m.Features().SupplementalGroupsPolicy}
	}
}
