package sandboxtest

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
)

// Devices is a fake CDI registry: each known device adds its env entries to the spec.
type Devices struct {
	fail  *Failures
	Known map[string][]string // device name → env entries it adds
}

func (d *Devices) Resolve(cfg *runtimeapi.ContainerConfig) ([]string, error) {
	var names []string
	for _, dev := range cfg.GetCDIDevices() {
		if _, ok := d.Known[dev.GetName()]; !ok {
			return nil, fmt.Errorf("CDI device %q: %w", dev.GetName(), errdefs.ErrNotFound)
		}
		names = append(names, dev.GetName())
	}
	return names, nil
}

func (d *Devices) Inject(s *specs.Spec, devices []string) error {
	if err := d.fail.check("cdi-inject"); err != nil {
		return err
	}
	for _, name := range devices {
		s.Process.Env = append(s.Process.Env, d.Known[name]...)
	}
	return nil
}
