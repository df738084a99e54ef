package sandboxtest

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Hooks is a fake hooks.d: every container gets Poststop, when set.
type Hooks struct {
	fail     *Failures
	Poststop []specs.Hook
}

func (h *Hooks) Add(s *specs.Spec, _ *runtimeapi.ContainerConfig) error {
	if err := h.fail.check("hooks"); err != nil {
		return err
	}
	if len(h.Poststop) > 0 {
		if s.Hooks == nil {
			s.Hooks = &specs.Hooks{}
		}
		s.Hooks.Poststop = append(s.Hooks.Poststop, h.Poststop...)
	}
	return nil
}
