package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestRuntimeHandlerFailedCreateLeavesNothing: a CreateContainer the external runtime
// refuses (the command does not exist in the image: runc and crun check at create) is
// InvalidArgument and leaves nothing: no container in the runtime's root, no rootfs mounted on the host,
// no container in ListContainers.
func TestRuntimeHandlerFailedCreateLeavesNothing(t *testing.T) {
	d := startDaemon(t, daemonOptions{config: handlersConfig()})
	for _, rt := range externalRuntimes {
		t.Run(rt.name, func(t *testing.T) {
			skipUnusable(t, rt.name, rt.path, rt.unsupported)
			pod := d.podConfigOn(t, "failcreate-"+rt.name, rt.name)
			podID := d.runPod(t, pod)
			defer d.removePod(t, podID)
			cfg := containerConfig("nope", testImage(t, d), "/does-not-exist")
			_, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{PodSandboxId: podID, Config: cfg, SandboxConfig: pod})
			if err == nil {
				t.Fatalf("CreateContainer with a missing command on %s succeeded", rt.name)
			}
			// The runtime's refusal of the process is the config's fault, in its words.
			wantCode(t, err, codes.InvalidArgument, "/does-not-exist")
			if ents, err := os.ReadDir(filepath.Join(d.State, "runtimes", rt.name)); err == nil && len(ents) != 0 {
				t.Errorf("the runtime's root after the failed create: %v", ents)
			}
			rootfs, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
				return m.FSType != "overlay" || !strings.Contains(m.Mountpoint+" "+m.VFSOptions, d.State), false
			})
			if err != nil {
				t.Error(err)
			}
			for _, m := range rootfs {
				t.Errorf("a rootfs is still mounted: %s", m.Mountpoint)
			}
			ctrs, err := d.RT.ListContainers(ctxT(t, criTimeout), &runtimeapi.ListContainersRequest{})
			if err != nil || len(ctrs.GetContainers()) != 0 {
				t.Errorf("containers after the failed create: %v %v", ctrs.GetContainers(), err)
			}
		})
	}
}
