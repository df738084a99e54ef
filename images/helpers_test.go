package images

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/hack/testimages"

	"github.com/crid-dev/crid/internal/testenv"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if !testenv.Privileged() {
		t.Skip("needs root (overlay whiteouts, ownership, mounts)")
	}
}

type testEnv struct {
	dir   string
	cfg   Config
	svc   *Service
	hosts string
}

// newEnv opens a Service in a temp dir; mod may adjust the config first.
func newEnv(t testing.TB, mod func(*Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, hosts: filepath.Join(dir, "certs.d")}
	e.cfg = Config{
		Root:                filepath.Join(dir, "root"),
		ContainersDir:       filepath.Join(dir, "containers"),
		RegistryConfigDir:   e.hosts,
		PullProgressTimeout: 30 * time.Second,
	}
	if mod != nil {
		mod(&e.cfg)
	}
	svc, err := Open(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	t.Cleanup(func() { e.svc.Close() })
	return e
}

func (e *testEnv) reopen(t testing.TB) {
	t.Helper()
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
}

func newRegistry(t testing.TB, opts ...testimages.Option) *testimages.Registry {
	t.Helper()
	reg, err := testimages.NewRegistry(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return reg
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func push(t testing.TB, reg *testimages.Registry, ref string, img v1.Image) string {
	t.Helper()
	d, err := reg.Push(ref, img)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func configDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func (e *testEnv) pull(t testing.TB, ref string) *Image {
	t.Helper()
	img, err := e.svc.Pull(context.Background(), ref, nil)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	return img
}

// entries lists the names in dir (nil if it does not exist).
func entries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// blobCounter counts GETs of blobs by digest.
// blobCounter counts blob GETs per digest, and the most served at once.
type blobCounter struct {
	mu             sync.Mutex
	n              map[string]int
	inflight, most int
}

func (c *blobCounter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			c.mu.Lock()
			if c.n == nil {
				c.n = map[string]int{}
			}
			c.n[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			c.inflight++
			c.most = max(c.most, c.inflight)
			c.mu.Unlock()
			defer func() {
				c.mu.Lock()
				c.inflight--
				c.mu.Unlock()
			}()
		}
		next.ServeHTTP(w, r)
	})
}

// reset forgets the fetches counted so far.
func (c *blobCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = nil
}

func (c *blobCounter) get(d string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[d]
}
