package wire_test

import (
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox/wire"
)

// BenchmarkPlugPointsIdle is what CDI and hooks.d add to each CreateContainer of a node
// that uses neither (the default dirs absent, no device asked for): the cost the built-in
// handler's pod start pays for the plug points. NRI off costs nothing (no seam is called).
func BenchmarkPlugPointsIdle(b *testing.B) {
	dir := b.TempDir()
	cdi := wire.NewCDI([]string{filepath.Join(dir, "etc-cdi"), filepath.Join(dir, "run-cdi")})
	hooks := wire.Hooks{Dirs: []string{filepath.Join(dir, "usr-hooks.d"), filepath.Join(dir, "etc-hooks.d")}}
	cfg := &runtimeapi.ContainerConfig{Annotations: map[string]string{"io.kubernetes.container.hash": "1"}}
	b.ReportAllocs()
	for b.Loop() {
		names, err := cdi.Resolve(cfg)
		if err != nil || names != nil {
			b.Fatal(names, err)
		}
		s := &specs.Spec{Process: &specs.Process{Args: []string{"sleep"}}}
		if err := hooks.Add(s, cfg); err != nil {
			b.Fatal(err)
		}
	}
}
