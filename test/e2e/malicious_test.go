package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// TestMaliciousImages: layers that try to write outside the rootfs (path traversal,
// absolute and relative symlinks, hard links) and an image VOLUME climbing out of the
// rootfs (CVE-2022-23648) change nothing on the host, whether crid refuses them or not.
func TestMaliciousImages(t *testing.T) {
	d := sharedDaemon(t)
	dir := filepath.Join(d.Dir, "victim")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := testimages.Malicious(target)
	if err != nil {
		t.Fatal(err)
	}
	base := build(t, testimages.Busybox)
	cfg, err := base.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	volCfg := cfg.Config
	volCfg.Volumes = map[string]struct{}{strings.Repeat("/..", 32) + dir + "/volume-escape": {}}
	volImg, err := mutate.Config(base, volCfg)
	if err != nil {
		t.Fatal(err)
	}
	imgs["volume"] = volImg

	for kind, img := range imgs {
		t.Run(kind, func(t *testing.T) {
			pushed := push(t, reg.open, "e2e/malicious-"+kind, img)
			if _, err := d.IS.PullImage(ctxT(t, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: pushed.Tag}}); err != nil {
				t.Logf("pull refused: %v", err)
			} else {
				// The rootfs is assembled (and image volumes made) at create/start.
				pod := d.podConfig(t, "malicious-"+kind)
				podID := d.runPod(t, pod)
				resp, err := d.RT.CreateContainer(ctxT(t, criTimeout), &runtimeapi.CreateContainerRequest{
					PodSandboxId: podID, SandboxConfig: pod, Config: containerConfig("m", pushed.Tag, "true")})
				if err == nil {
					d.recordContainer(resp.ContainerId)
					if _, err := d.RT.StartContainer(ctxT(t, criTimeout), &runtimeapi.StartContainerRequest{ContainerId: resp.ContainerId}); err == nil {
						d.waitState(t, resp.ContainerId, runtimeapi.ContainerState_CONTAINER_EXITED, 30*time.Second)
					}
				}
			}
			checkVictim(t, dir, target)
		})
	}
}

// checkVictim: the target keeps its content and single link, and nothing else appeared.
func checkVictim(t *testing.T, dir, target string) {
	t.Helper()
	b, err := os.ReadFile(target)
	if err != nil || string(b) != "original\n" {
		t.Errorf("target %s: %q %v, want it unchanged", target, b, err)
	}
	var st os.FileInfo
	if st, err = os.Stat(target); err == nil {
		if n := linkCount(st); n != 1 {
			t.Errorf("target %s has %d links, want 1", target, n)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "target" {
			t.Errorf("%s appeared on the host next to the target", filepath.Join(dir, e.Name()))
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func linkCount(fi os.FileInfo) uint64 {
	if s, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Nlink)
	}
	return 1
}
