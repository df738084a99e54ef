package e2e

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestCLILeavesOthersPodsAlone: a pod made by someone else (kubelet, here this test through
// CRI) is not in `crid ps`, is in `crid ps -A`, and `crid rm -f`/`stop`/`exec` refuse it
// unless --all-namespaces says so.
func TestCLILeavesOthersPodsAlone(t *testing.T) {
	c := newCLITarget(t, "cli-owner")
	if c.d == nil {
		t.Skip("makes its pod through the test daemon's CRI client")
	}
	_, ctrID, _ := c.d.sleeper(t, "kubelets")
	if out := c.ok(t, "ps", "-q", "--no-trunc"); strings.Contains(out, ctrID) {
		t.Errorf("crid ps lists another's container:\n%s", out)
	}
	if out := c.ok(t, "ps", "-A", "--no-trunc"); !strings.Contains(out, ctrID) || !strings.Contains(out, "sleep_kubelets_e2e") {
		t.Errorf("crid ps -A lacks the container %s:\n%s", ctrID, out)
	}
	for _, args := range [][]string{{"rm", "-f", ctrID}, {"stop", ctrID[:12]}, {"exec", ctrID, "true"}} {
		c.fails(t, "pass --all-namespaces", args...)
	}
	if st := c.d.containerStatus(t, ctrID); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("a refused command touched the container: %v", st.State)
	}
	c.ok(t, "exec", "-A", ctrID, "true")
	c.ok(t, "rm", "-f", "--all-namespaces", ctrID)
	if _, err := c.d.RT.ContainerStatus(ctxT(t, criTimeout), &runtimeapi.ContainerStatusRequest{ContainerId: ctrID}); !isNotFound(err) {
		t.Errorf("after rm -f --all-namespaces: %v, want the container gone", err)
	}
}
