package wire

import (
	"fmt"
	"maps"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/ocihooks"
)

// Hooks gives containers the OCI hooks of hooks.d files (sandbox.Hooks).
type Hooks struct{ Dirs []string }

// Add reads the dirs again at each call (two small directory reads, usually absent), so
// a file written just before CreateContainer applies to it and nothing is watched.
func (h Hooks) Add(s *specs.Spec, cfg *runtimeapi.ContainerConfig) error {
	if len(h.Dirs) == 0 {
		return nil
	}
	files, err := ocihooks.Read(h.Dirs)
	if err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	// The request's annotations, as CRI-O matches them, with crid's own (pod name,
	// container type...) from the spec.
	annotations := maps.Clone(s.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	maps.Copy(annotations, cfg.GetAnnotations())
	ocihooks.Add(s, files, annotations, len(cfg.GetMounts()) > 0)
	return nil
}
