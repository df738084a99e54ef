package images

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// kitRegistry is where the critest kit's hosts.d sends its mirrors, each registry under
// /v2/<registry host>/ (override_path).
const kitRegistry = "http://127.0.0.1:5000"

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
	type kitImage struct{ ref, digest string }
	var imgs []kitImage
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 {
			imgs = append(imgs, kitImage{fields[0], fields[1]})
		}
	}
	if err := sc.Err(); err != nil || len(imgs) == 0 {
		t.Fatalf("kit image list: %d images, %v", len(imgs), err)
	}
	// Anything may listen on 127.0.0.1:5000 (another registry, one the kit has not
	// filled yet): it is the kit's only if it serves every kit manifest by its digest.
	for _, img := range imgs {
		if err := kitServes(img.ref, img.digest); err != nil {
			t.Skipf("no critest kit registry on %s (critest-kit/registry.sh build): %v", kitRegistry, err)
		}
	}
	e := newEnv(t, func(c *Config) { c.RegistryConfigDir = kit + "/hosts.d" })
	for _, k := range imgs {
		img, err := e.svc.Pull(context.Background(), k.ref, nil)
		if err != nil {
			t.Errorf("%s: %v", k.ref, err)
			continue
		}
		n, _ := NormalizeRef(k.ref)
		repo := n[:strings.LastIndex(n, ":")]
		if !slices.Contains(img.RepoDigests, repo+"@"+k.digest) {
			t.Errorf("%s: repo digests %v, want %s", k.ref, img.RepoDigests, k.digest)
		}
	}
	if _, err := e.svc.Pull(context.Background(), "quay.io/not/mirrored:1", nil); err == nil {
		t.Error("an unmirrored registry was reached")
	}
}

// kitServes checks that the kit registry has ref's manifest (or index) with digest, where
// the kit's hosts.d mirror sends ref: <kitRegistry>/v2/<registry>/<repository>.
func kitServes(ref, digest string) error {
	host, rest, ok := strings.Cut(ref, "/")
	i := strings.LastIndex(rest, ":")
	if !ok || i < 0 {
		return fmt.Errorf("kit image %q: want host/repository:tag", ref)
	}
	req, err := http.NewRequest(http.MethodHead, kitRegistry+"/v2/"+host+"/"+rest[:i]+"/manifests/"+digest, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", strings.Join([]string{
		"application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.docker.distribution.manifest.v2+json",
	}, ", "))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != "" && got != digest {
		return fmt.Errorf("%s: digest %s", req.URL, got)
	}
	return nil
}
