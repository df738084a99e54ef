package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestLeanDependencies keeps heavy libraries out of the per-pod monitor: every
// pod pays for each page of it.
func TestLeanDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	forbidden := []string{
		"google.golang.org/grpc", "k8s.io/", "github.com/prometheus/", "github.com/spf13/",
		"github.com/crid-dev/crid/errdefs", "github.com/crid-dev/crid/sandbox", "github.com/crid-dev/crid/cri",
		"github.com/crid-dev/crid/images", "net/http",
	}
	deps := strings.Fields(string(out))
	// The executor re-executes this binary: without the constructor an exec
	// or a pod user namespace join would wait forever for its first message.
	if !slices.Contains(deps, "github.com/crid-dev/crid/oci/nsenter") {
		t.Error("crid-monitor does not link github.com/crid-dev/crid/oci/nsenter")
	}
	// An idle monitor execs itself into the C steady state.
	if !slices.Contains(deps, "github.com/crid-dev/crid/oci/monitor/supervise") {
		t.Error("crid-monitor does not link github.com/crid-dev/crid/oci/monitor/supervise")
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("crid-monitor links %s", dep)
			}
		}
	}
}
