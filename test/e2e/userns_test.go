package e2e

import (
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestUserNamespacePod: where crid advertises user namespaces (overlayfs can
// sit on idmapped layers on this kernel, by fds or by paths), a pod with its
// own user namespace runs a container whose image files, owned by host root,
// show as its root's, and whose root is an unprivileged host id.
func TestUserNamespacePod(t *testing.T) {
	d := sharedDaemon(t)
	st, err := d.RT.Status(ctxT(t, criTimeout), &runtimeapi.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GetRuntimeHandlers()) == 0 || !st.RuntimeHandlers[0].GetFeatures().GetUserNamespaces() {
		t.Skipf("crid does not advertise user namespaces on this kernel: %s", st.GetInfo()["kernel"])
	}
	pod := d.podConfig(t, "userns")
	m := []*runtimeapi.IDMapping{{HostId: 300000, ContainerId: 0, Length: 65536}}
	pod.Linux.SecurityContext.NamespaceOptions = &runtimeapi.NamespaceOption{
		UsernsOptions: &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD, Uids: m, Gids: m}}
	podID := d.runPod(t, pod)
	id := d.runContainer(t, podID, pod, containerConfig("userns", testImage(t, d), "sleep", "3600"))
	out := d.mustExec(t, id, "sh", "-c", "cat /proc/self/uid_map; stat -c %u:%g /bin/busybox; id -u")
	if got := strings.Join(strings.Fields(out), " "); got != "0 300000 65536 0:0 0" {
		t.Errorf("inside the user namespace: %q, want uid_map 0 300000 65536, busybox 0:0, uid 0", got)
	}
}
