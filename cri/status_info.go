package cri

import (
	"encoding/json"
	"fmt"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// addInfo fills a verbose Status's info map, as containerd does for `crictl info`: one key
// per topic (config summary, versions, feature probes, ...), each value a JSON document.
func (s *Server) addInfo(resp *runtimeapi.StatusResponse) error {
	if s.Info == nil {
		return nil
	}
	if resp.Info == nil {
		resp.Info = map[string]string{}
	}
	for k, v := range s.Info() {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("status info %s: %w", k, err)
		}
		resp.Info[k] = string(b)
	}
	return nil
}
