package e2e

import (
	"path/filepath"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// The test registries (hack/testimages, in this process, on 127.0.0.1, plain HTTP): one
// open, one behind Basic auth, one behind Bearer tokens. Tests push what they need under
// their own repository names, so tests sharing a daemon never share an image by accident.
var reg *registry

type registry struct {
	Host   string // the open registry, 127.0.0.1:PORT
	open   *testimages.Registry
	basic  *testimages.Registry
	bearer *testimages.Registry
}

const (
	regUser = "e2e"
	regPass = "s3cret-e2e"
)

// testImg is one image in a test registry.
type testImg struct {
	Repo           string // 127.0.0.1:PORT/e2e/NAME
	Tag            string // Repo + ":1"
	ManifestDigest string // what the tag points at (a manifest or an index)
	ConfigDigest   string // the image id crid must report (this machine's platform for an index)
}

// testArchive is an image written to a tar.
type testArchive struct {
	Path, Tag, ConfigDigest string
}

func startRegistry() (func(), error) {
	r := &registry{}
	var err error
	if r.open, err = testimages.NewRegistry(); err != nil {
		return nil, err
	}
	if r.basic, err = testimages.NewRegistry(testimages.WithBasicAuth(regUser, regPass)); err != nil {
		r.open.Close()
		return nil, err
	}
	if r.bearer, err = testimages.NewRegistry(testimages.WithBearerAuth(regUser, regPass)); err != nil {
		r.open.Close()
		r.basic.Close()
		return nil, err
	}
	r.Host = r.open.Host
	reg = r
	return func() { r.open.Close(); r.basic.Close(); r.bearer.Close() }, nil
}

// hosts are the registry hosts a daemon must reach over plain HTTP.
func (r *registry) hosts() []string {
	return []string{r.open.Host, r.basic.Host, r.bearer.Host}
}

func push(t testing.TB, to *testimages.Registry, repo string, img v1.Image) testImg {
	t.Helper()
	md, err := to.Push(repo+":1", img)
	if err != nil {
		t.Fatalf("push %s: %v", repo, err)
	}
	return testImg{Repo: to.Host + "/" + repo, Tag: to.Ref(repo + ":1"), ManifestDigest: md, ConfigDigest: configDigest(t, img)}
}

// build runs a testimages builder, failing the test on error.
func build[T any](t testing.TB, f func() (T, error)) T {
	t.Helper()
	v, err := f()
	if err != nil {
		t.Fatalf("test image: %v", err)
	}
	return v
}

func variant(label string) func() (v1.Image, error) {
	return func() (v1.Image, error) { return testimages.Variant(label) }
}

func configDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// image pushes a busybox image of its own (a distinct id) as e2e/NAME:1.
func (r *registry) image(t *testing.T, name string) testImg {
	return push(t, r.open, "e2e/"+name, build(t, variant(name)))
}

// index pushes the multi-arch index (busybox for this machine, a stub for the other arch).
func (r *registry) index(t *testing.T, name string) testImg {
	t.Helper()
	idx := build(t, testimages.MultiArch)
	md, err := r.open.PushIndex("e2e/"+name+":1", idx)
	if err != nil {
		t.Fatal(err)
	}
	native := build(t, testimages.Busybox)
	return testImg{Repo: r.Host + "/e2e/" + name, Tag: r.open.Ref("e2e/" + name + ":1"), ManifestDigest: md, ConfigDigest: configDigest(t, native)}
}

func (r *registry) zstd(t *testing.T, name string) testImg {
	return push(t, r.open, "e2e/"+name, build(t, testimages.BusyboxZstd))
}

// authImage pushes an image to the "basic" or "token" registry and returns its credentials.
func (r *registry) authImage(t *testing.T, kind string) (testImg, string, string) {
	to := r.basic
	if kind == "token" {
		to = r.bearer
	}
	return push(t, to, "e2e/auth-"+kind, build(t, variant("auth-"+kind))), regUser, regPass
}

// archive writes a "docker" (docker save) or "oci" (OCI layout) tar into dir, holding an
// image no registry has.
func (r *registry) archive(t *testing.T, format, dir string) testArchive {
	t.Helper()
	img := build(t, variant("import-"+format))
	tag := "e2e.local/imported/" + format + ":1"
	path := filepath.Join(dir, "import-"+format+".tar")
	write := testimages.WriteDockerSave
	if format == "oci" {
		write = testimages.WriteOCILayout
	}
	if err := write(path, map[string]v1.Image{tag: img}); err != nil {
		t.Fatal(err)
	}
	return testArchive{Path: path, Tag: tag, ConfigDigest: configDigest(t, img)}
}

// testImage returns the busybox image most tests run, pulled into d once.
var (
	pulled      sync.Map // *Daemon -> string
	busyboxOnce sync.Once
	busyboxRef  string
	busyboxErr  error
)

func testImage(t testing.TB, d *Daemon) string {
	t.Helper()
	if ref, ok := pulled.Load(d); ok {
		return ref.(string)
	}
	busyboxOnce.Do(func() {
		img, err := testimages.Busybox()
		if err != nil {
			busyboxErr = err
			return
		}
		if _, err := reg.open.Push("e2e/busybox:1", img); err != nil {
			busyboxErr = err
			return
		}
		busyboxRef = reg.open.Ref("e2e/busybox:1")
	})
	if busyboxErr != nil {
		t.Fatalf("busybox test image: %v", busyboxErr)
	}
	if _, err := d.IS.PullImage(ctxT(t, criTimeout), &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: busyboxRef}}); err != nil {
		t.Fatalf("PullImage %s: %v", busyboxRef, err)
	}
	pulled.Store(d, busyboxRef)
	return busyboxRef
}
