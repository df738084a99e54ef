package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoExecutorLinked keeps the container executor out of the daemon: package
// oci locks the main thread at init and oci/nsenter links a C constructor that
// runs in every process of the binary. Only crid-monitor, which the executor
// re-executes as the container init, may carry them.
func TestNoExecutorLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	forbidden := map[string]bool{
		"github.com/crid-dev/crid/oci":         true,
		"github.com/crid-dev/crid/oci/nsenter": true,
		// The monitor's C steady state: another constructor.
		"github.com/crid-dev/crid/oci/monitor/supervise": true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if forbidden[dep] {
			t.Errorf("crid links %s", dep)
		}
	}
}
