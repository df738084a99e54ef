package images

import (
	"bufio"
	"context"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCritestKitImages pulls every image the critest kit serves through the kit's own
// hosts.d (mirrors with override_path, _default to an empty path), when the kit's registry
// runs on 127.0.0.1:5000: the configuration a containerd user would point crid at.
func TestCritestKitImages(t *testing.T) {
	requireRoot(t)
	const kit = "/work/shared/critest-kit"
	f, err := os.Open(kit + "/imgkit/images.txt")
	if err != nil {
		t.Skip("critest kit not present")
	}
	defer f.Close()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5000", time.Second)
	if err != nil {
		t.Skip("kit registry not running (critest-kit/registry.sh start)")
	}
	c.Close()
	e := newEnv(t, func(c *Config) { c.RegistryConfigDir = kit + "/hosts.d" })
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		ref, digest := fields[0], fields[1]
		img, err := e.svc.Pull(context.Background(), ref, nil)
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		n, _ := NormalizeRef(ref)
		repo := n[:strings.LastIndex(n, ":")]
		if !slices.Contains(img.RepoDigests, repo+"@"+digest) {
			t.Errorf("%s: repo digests %v, want %s", ref, img.RepoDigests, digest)
		}
	}
	if _, err := e.svc.Pull(context.Background(), "quay.io/not/mirrored:1", nil); err == nil {
		t.Error("an unmirrored registry was reached")
	}
}
