package images

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

func TestPullByTagAndResolve(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, nil)
	reg := newRegistry(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	mdigest := push(t, reg, "library/busybox:latest", bb)
	ref := reg.Ref("library/busybox:latest")
	img := e.pull(t, ref)

	if want := configDigest(t, bb); img.ID != want {
		t.Fatalf("ID %s, want config digest %s", img.ID, want)
	}
	if !slices.Equal(img.RepoTags, []string{ref}) || !slices.Equal(img.RepoDigests, []string{reg.Host + "/library/busybox@" + mdigest}) {
		t.Errorf("refs: %v %v", img.RepoTags, img.RepoDigests)
	}
	if !slices.Equal(img.Config.Config.Cmd, []string{"sh"}) || img.Size == 0 || img.ChainID == "" {
		t.Errorf("image: %+v", img)
	}
	for _, q := range []string{ref, reg.Host + "/library/busybox@" + mdigest, img.ID, strings.TrimPrefix(img.ID, "sha256:"), img.ID[:19], img.ID[7:19]} {
		got, err := e.svc.Resolve(q)
		if err != nil || got.ID != img.ID {
			t.Errorf("Resolve(%q) = %v, %v", q, got, err)
		}
	}
	if _, err := e.svc.Resolve("docker.io/library/nothere:latest"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
	// The snapshot holds the layer with ownership, modes and hard links.
	fs := e.svc.snapshotFS(img.ChainID)
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(fs, "bin/sh"), &st); err != nil || st.Nlink < 10 {
		t.Errorf("bin/sh: %v nlink=%d", err, st.Nlink)
	}
	if fi, err := os.Stat(filepath.Join(fs, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp mode: %v %v", fi.Mode(), err)
	}
	if len(e.svc.List()) != 1 {
		t.Errorf("List: %v", e.svc.List())
	}
	// Pulling again reuses everything.
	if again := e.pull(t, ref); again.ID != img.ID {
		t.Errorf("second pull: %s", again.ID)
	}
}

func TestPullByDigestFormatsAndIndex(t *testing.T) {
	requireRoot(t)
	// The formats share one config (same diff IDs), hence one image ID: a store each.
	reg := newRegistry(t)
	cases := map[string]func() (v1.Image, error){
		"docker": testimages.BusyboxDocker, "zstd": testimages.BusyboxZstd, "plain": testimages.BusyboxUncompressed,
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			img := must[v1.Image](t)(build())
			d := push(t, reg, "fmt/"+name+":v1", img)
			ref := reg.Host + "/fmt/" + name + "@" + d
			got := e.pull(t, ref)
			if got.ID != configDigest(t, img) || len(got.RepoTags) != 0 || !slices.Equal(got.RepoDigests, []string{ref}) {
				t.Errorf("%s: %+v", name, got)
			}
			if _, err := os.Stat(filepath.Join(e.svc.snapshotFS(got.ChainID), "bin/busybox")); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	idx := must[v1.ImageIndex](t)(testimages.MultiArch())
	e := newEnv(t, nil)
	idxDigest, err := reg.PushIndex("multi/busybox:latest", idx)
	if err != nil {
		t.Fatal(err)
	}
	got := e.pull(t, reg.Ref("multi/busybox:latest"))
	native := must[v1.Image](t)(testimages.Busybox())
	if got.ID != configDigest(t, native) || got.Config.Architecture != runtime.GOARCH {
		t.Errorf("index picked %s (%s)", got.ID, got.Config.Architecture)
	}
	if !slices.Equal(got.RepoDigests, []string{reg.Host + "/multi/busybox@" + idxDigest}) {
		t.Errorf("index repo digest: %v", got.RepoDigests)
	}
}

func TestPullAuth(t *testing.T) {
	requireRoot(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	for _, mode := range []string{"bearer", "basic"} {
		t.Run(mode, func(t *testing.T) {
			opt := testimages.WithBearerAuth("alice", "s3cret")
			if mode == "basic" {
				opt = testimages.WithBasicAuth("alice", "s3cret")
			}
			reg := newRegistry(t, opt)
			push(t, reg, "private/app:1", bb)
			e := newEnv(t, nil)
			ref := reg.Ref("private/app:1")
			_, err := e.svc.Pull(context.Background(), ref, nil)
			if !errors.Is(err, errdefs.ErrFailedPrecondition) || !strings.Contains(err.Error(), reg.Host) {
				t.Fatalf("anonymous pull: %v", err)
			}
			_, err = e.svc.Pull(context.Background(), ref, &Auth{Username: "alice", Password: "wrong"})
			if err == nil {
				t.Fatal("wrong password accepted")
			}
			if len(e.svc.List()) != 0 {
				t.Fatal("failed pulls left an image")
			}
			img, err := e.svc.Pull(context.Background(), ref, &Auth{Username: "alice", Password: "s3cret"})
			if err != nil {
				t.Fatal(err)
			}
			if mode == "bearer" {
				tok, err := reg.Token("alice", "s3cret")
				if err != nil {
					t.Fatal(err)
				}
				for what, a := range map[string]*Auth{
					"registry token": {RegistryToken: tok},
					"identity token": {IdentityToken: testimages.IdentityToken("alice")},
				} {
					if got, err := newEnv(t, nil).svc.Pull(context.Background(), ref, a); err != nil || got.ID != img.ID {
						t.Errorf("%s: %v", what, err)
					}
				}
			}
			// The base64 "auth" form and a matching server address work too.
			e2 := newEnv(t, nil)
			auth := &Auth{Auth: base64.StdEncoding.EncodeToString([]byte("alice:s3cret")), ServerAddress: reg.Host}
			img2, err := e2.svc.Pull(context.Background(), ref, auth)
			if err != nil || img2.ID != img.ID {
				t.Fatalf("auth field: %v", err)
			}
		})
	}
}

func TestPullThroughMirrorWithFallback(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "docker.io/library/busybox:latest", bb)
	// A port nothing listens on: the first host fails, the next one serves.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	e := newEnv(t, nil)
	writeHosts(t, e.hosts, "docker.io", fmt.Sprintf(`
server = "http://%[1]s/v2/never-used"
override_path = true

[host."http://%[2]s"]
  capabilities = ["pull", "resolve"]

[host."http://%[1]s/v2/docker.io"]
  capabilities = ["pull", "resolve"]
  override_path = true
`, reg.Host, dead))
	writeHosts(t, e.hosts, "_default", fmt.Sprintf("server = %q\noverride_path = true\n", "http://"+reg.Host+"/v2/_unmirrored"))
	img := e.pull(t, "busybox")
	if img.ID != configDigest(t, bb) || !slices.Equal(img.RepoTags, []string{"docker.io/library/busybox:latest"}) {
		t.Fatalf("mirror pull: %+v", img)
	}
	if !strings.HasPrefix(img.RepoDigests[0], "docker.io/library/busybox@sha256:") {
		t.Errorf("repo digest %v", img.RepoDigests)
	}
	// Anything else goes to the empty _default path and fails as not found.
	if _, err := e.svc.Pull(context.Background(), "quay.io/some/image:1", nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("_default: %v", err)
	}
}

func TestPullErrors(t *testing.T) {
	e := newEnv(t, nil)
	reg := newRegistry(t)
	if _, err := e.svc.Pull(context.Background(), reg.Ref("no/such:image"), nil); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("unknown image: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	_, err := e.svc.Pull(context.Background(), dead+"/x:1", nil)
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), dead) {
		t.Errorf("unreachable: %v", err)
	}
	if _, err := e.svc.Pull(context.Background(), "Bad//Ref", nil); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad ref: %v", err)
	}
}

func TestConcurrentPullsShareWork(t *testing.T) {
	requireRoot(t)
	var c blobCounter
	reg := newRegistry(t, testimages.WithMiddleware(c.middleware))
	img := must[v1.Image](t)(testimages.Large(3, 4<<20))
	push(t, reg, "big/img:1", img)
	e := newEnv(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Pull(context.Background(), reg.Ref("big/img:1"), nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	layers := must[[]v1.Layer](t)(img.Layers())
	for _, l := range layers {
		d := must[v1.Hash](t)(l.Digest())
		if n := c.get(d.String()); n != 1 {
			t.Errorf("layer %s fetched %d times", d, n)
		}
	}
}

// max_concurrent_downloads bounds the layers downloading at once, and a layer gives its
// slot up as soon as its bytes are in: the next layer downloads while the first waits for
// its syncs and commit.
func TestDownloadSlotFreedBeforeCommit(t *testing.T) {
	requireRoot(t)
	var c blobCounter
	reg := newRegistry(t, testimages.WithMiddleware(c.middleware))
	// Layers bigger than loopback socket buffers: a layer's GET is still being served while its
	// bytes are read, so two layers downloading at once would be seen.
	push(t, reg, "slots/img:1", must[v1.Image](t)(testimages.Large(2, 8<<20)))
	e := newEnv(t, func(cfg *Config) { cfg.MaxConcurrentDownloads = 1 })
	var mu sync.Mutex
	streamed := 0
	second := make(chan struct{})
	e.svc.layerStreamed = func(string) {
		mu.Lock()
		streamed++
		n := streamed
		mu.Unlock()
		if n > 1 {
			close(second)
			return
		}
		// Only fails a broken build; a passing one never waits on the clock.
		select {
		case <-second:
		case <-time.After(time.Minute):
			t.Error("the second layer did not download while the first waited to commit")
		}
	}
	e.pull(t, reg.Ref("slots/img:1"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.most != 1 {
		t.Errorf("%d blobs downloaded at once, max_concurrent_downloads is 1", c.most)
	}
}

// A tag is resolved on "resolve" hosts, content is fetched from "pull" hosts, as containerd.
func TestPullResolveAndPullCapabilities(t *testing.T) {
	requireRoot(t)
	var mu sync.Mutex
	var blobPaths []string
	reg := newRegistry(t, testimages.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				mu.Lock()
				blobPaths = append(blobPaths, r.URL.Path)
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	}))
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "resolver/team/app:1", bb)
	push(t, reg, "puller/team/app:anything", bb)
	mu.Lock()
	blobPaths = nil
	mu.Unlock()
	e := newEnv(t, nil)
	writeHosts(t, e.hosts, "example.org", fmt.Sprintf(`
server = "http://%[1]s/v2/resolver"
override_path = true
capabilities = ["resolve"]

[host."http://%[1]s/v2/puller"]
  capabilities = ["pull"]
  override_path = true
`, reg.Host))
	img := e.pull(t, "example.org/team/app:1")
	if !slices.Equal(img.RepoTags, []string{"example.org/team/app:1"}) {
		t.Errorf("tags %v", img.RepoTags)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(blobPaths) == 0 {
		t.Fatal("no blob fetched")
	}
	for _, p := range blobPaths {
		if !strings.HasPrefix(p, "/v2/puller/team/app/blobs/") {
			t.Errorf("blob fetched from %s", p)
		}
	}
}

// A second pull of content already stored fetches no blob, only resolves the tag.
func TestWarmPullFetchesNoBlob(t *testing.T) {
	requireRoot(t)
	var c blobCounter
	reg := newRegistry(t, testimages.WithMiddleware(c.middleware))
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "warm/bb:1", bb)
	push(t, reg, "warm/bb:2", bb)
	e := newEnv(t, nil)
	e.pull(t, reg.Ref("warm/bb:1"))
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
	img := e.pull(t, reg.Ref("warm/bb:2"))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.n) != 0 {
		t.Errorf("warm pull fetched blobs: %v", c.n)
	}
	if !slices.Equal(img.RepoTags, []string{reg.Ref("warm/bb:1"), reg.Ref("warm/bb:2")}) {
		t.Errorf("tags %v", img.RepoTags)
	}
}

// hosts.toml `ca` and `skip_verify` reach the TLS configuration.
func TestPullTLSMirrorWithCA(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t, testimages.WithTLS())
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "mirror/lib/bb:1", bb)
	for _, tc := range []struct {
		name, extra string
		ok          bool
	}{
		{"no-ca", "", false},
		{"ca", `ca = "ca.pem"`, true},
		{"skip-verify", `skip_verify = true`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			writeHosts(t, e.hosts, "tls.example", fmt.Sprintf("server = %q\noverride_path = true\n%s\n", "https://"+reg.Host+"/v2/mirror", tc.extra))
			if err := os.WriteFile(filepath.Join(e.hosts, "tls.example", "ca.pem"), reg.CACertPEM(), 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := e.svc.Pull(context.Background(), "tls.example/lib/bb:1", nil)
			if tc.ok && (err != nil || img.ID != configDigest(t, bb)) {
				t.Fatalf("pull: %v", err)
			}
			if !tc.ok && !errors.Is(err, errdefs.ErrFailedPrecondition) {
				t.Fatalf("untrusted certificate: want FailedPrecondition, got %v", err)
			}
			t.Logf("%v", err)
		})
	}
}
