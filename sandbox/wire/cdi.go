package wire

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"tags.cncf.io/container-device-interface/pkg/cdi"
	"tags.cncf.io/container-device-interface/pkg/parser"

	"github.com/crid-dev/crid/errdefs"
)

// CDI resolves Container Device Interface devices from the spec files in its dirs
// (sandbox.Devices).
type CDI struct {
	dirs  []string
	cache *cdi.Cache
}

// NewCDI reads the CDI specs of dirs (later dirs win a conflict). No dirs means no device
// is known. The dirs are re-read at each request that names a device rather than watched:
// a spec file written just before CreateContainer is seen by it, and a node that uses no
// device pays nothing.
func NewCDI(dirs []string) *CDI {
	c := &CDI{dirs: dirs}
	if len(dirs) > 0 { // cdi.WithSpecDirs() with none means the library's defaults
		c.cache, _ = cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false)) // its error is always nil
	}
	return c
}

// Resolve names the devices cfg asks for, CDIDevices first then the cdi.k8s.io/*
// annotations in key order, each once, and checks that each is known.
func (c *CDI) Resolve(cfg *runtimeapi.ContainerConfig) ([]string, error) {
	var names []string
	seen := map[string]bool{}
	add := func(name, from string) error {
		if _, _, _, err := parser.ParseQualifiedName(name); err != nil {
			return fmt.Errorf("%s: CDI device %q: %v: %w", from, name, err, errdefs.ErrInvalidArgument)
		}
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
		return nil
	}
	for i, d := range cfg.GetCDIDevices() {
		if err := add(d.GetName(), fmt.Sprintf("config.cdi_devices[%d]", i)); err != nil {
			return nil, err
		}
	}
	annotations := cfg.GetAnnotations()
	for _, key := range slices.Sorted(maps.Keys(annotations)) {
		if !strings.HasPrefix(key, cdi.AnnotationPrefix) {
			continue
		}
		for d := range strings.SplitSeq(annotations[key], ",") {
			if err := add(d, "config.annotations["+key+"]"); err != nil {
				return nil, err
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	if c.cache == nil {
		return nil, fmt.Errorf("CDI devices %s: no cdi_spec_dirs configured: %w", strings.Join(names, ", "), errdefs.ErrNotFound)
	}
	specErrs := c.cache.Refresh() // a broken spec file must not hide the good ones
	var unknown []string
	for _, n := range names {
		if c.cache.GetDevice(n) == nil {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		err := fmt.Errorf("unknown CDI device(s) %s (spec dirs %s): %w",
			strings.Join(unknown, ", "), strings.Join(c.dirs, ", "), errdefs.ErrNotFound)
		if specErrs != nil {
			err = fmt.Errorf("%w; specs that did not load: %v", err, specErrs)
		}
		return nil, err
	}
	return names, nil
}

// Inject applies the devices' edits, and those of the specs they come from, to s.
func (c *CDI) Inject(s *specs.Spec, devices []string) error {
	if c.cache == nil {
		return fmt.Errorf("no cdi_spec_dirs configured: %w", errdefs.ErrNotFound)
	}
	unresolved, err := c.cache.InjectDevices(s, devices...)
	if len(unresolved) > 0 {
		// Removed since Resolve looked.
		return fmt.Errorf("CDI devices %s: %w", strings.Join(unresolved, ", "), errdefs.ErrNotFound)
	}
	if err != nil {
		// A device's edits that cannot apply (e.g. a host node that is not a device).
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	return nil
}
