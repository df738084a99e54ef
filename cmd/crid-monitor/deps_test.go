package main

import (
	"os/exec"
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
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("crid-monitor links %s", dep)
			}
		}
	}
}
