package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

// assertClean checks a failed pull left no image, no blob, no snapshot and no temp file.
func assertClean(t *testing.T, e *testEnv) {
	t.Helper()
	if l := e.svc.List(); len(l) != 0 {
		t.Errorf("images left: %v", l)
	}
	for _, d := range []string{e.svc.blobDir(), e.svc.ingestDir(), e.svc.snapshotsDir(), e.svc.tmpDir()} {
		if got := entries(t, d); len(got) != 0 {
			t.Errorf("%s not empty: %v", d, got)
		}
	}
}

func TestCorruptBlobFailsCleanly(t *testing.T) {
	requireRoot(t)
	img := must[v1.Image](t)(testimages.Busybox())
	layer := must[[]v1.Layer](t)(img.Layers())[0]
	ld := must[v1.Hash](t)(layer.Digest()).String()
	good := must[[]byte](t)(readAll(layer))
	// Same size, other bytes, and still a valid gzip stream of the same tar (the gzip
	// header's OS byte changed): only the digest can tell, and the refusal names the
	// digest of what was served.
	flipped := bytes.Clone(good)
	flipped[9] ^= 0xff
	// A valid gzip tar that is simply another, smaller layer: refused for its size
	// before the digest is even computed.
	other := must[[]v1.Layer](t)(must[v1.Image](t)(testimages.Variant("other")).Layers())
	otherBody := must[[]byte](t)(readAll(other[len(other)-1]))
	// A mismatch names what was served and what the manifest wants.
	digestWant := []string{fmt.Sprintf("sha256:%x", sha256.Sum256(flipped)), ld}
	cases := []struct {
		name string
		body []byte
		want []string // in the error
	}{
		{"same size, other digest", flipped, digestWant},
		{"another layer", otherBody, []string{fmt.Sprintf("size; got %d, want %d", len(otherBody), len(good))}},
	}
	// Kept or not (discard_unpacked_layers), a layer's stream is checked before anything of
	// it is committed.
	for _, tc := range cases {
		for _, discard := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/discard=%v", tc.name, discard), func(t *testing.T) {
				corrupt := func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+ld) {
							// Headers out first: no Content-Length, so that no header
							// check can stop the pull before the content is checked.
							w.WriteHeader(http.StatusOK)
							w.(http.Flusher).Flush()
							_, _ = w.Write(tc.body)
							return
						}
						next.ServeHTTP(w, r)
					})
				}
				reg := newRegistry(t, testimages.WithMiddleware(corrupt))
				push(t, reg, "bad/img:1", img)
				e := newEnv(t, func(c *Config) { c.DiscardUnpackedLayers = discard })
				_, err := e.svc.Pull(context.Background(), reg.Ref("bad/img:1"), nil)
				if err == nil || !containsAll(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrFailedPrecondition) {
					t.Fatalf("pull: %v, want FailedPrecondition naming %q", err, tc.want)
				}
				assertClean(t, e)
			})
		}
	}
	// The layer's snapshot is there (another image unpacked the same content) and only
	// its blob is fetched, with nothing unpacked to notice: the digest alone refuses it.
	t.Run("blob only", func(t *testing.T) {
		var bad atomic.Bool
		corrupt := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if bad.Load() && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+ld) {
					w.WriteHeader(http.StatusOK)
					w.(http.Flusher).Flush()
					_, _ = w.Write(flipped)
					return
				}
				next.ServeHTTP(w, r)
			})
		}
		reg := newRegistry(t, testimages.WithMiddleware(corrupt))
		push(t, reg, "bad/img:1", img)
		e := newEnv(t, nil)
		e.pull(t, reg.Ref("bad/img:1"))
		blob, err := e.svc.blobPath(ld)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(blob); err != nil {
			t.Fatal(err)
		}
		bad.Store(true)
		_, err = e.svc.Pull(context.Background(), reg.Ref("bad/img:1"), nil)
		if err == nil || !containsAll(err.Error(), digestWant) {
			t.Fatalf("pull: %v, want an error naming %q", err, digestWant)
		}
		if _, err := os.Stat(blob); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("blob stored: %v", err)
		}
		if got := entries(t, e.svc.ingestDir()); len(got) != 0 {
			t.Errorf("ingest leftovers: %v", got)
		}
	})
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func readAll(l v1.Layer) ([]byte, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	return b.Bytes(), err
}

func TestStalledRegistryTimesOut(t *testing.T) {
	requireRoot(t)
	img := must[v1.Image](t)(testimages.Busybox())
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") && r.Header.Get("X-Push") == "" {
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				select { // headers sent, then silence
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := newRegistry(t, testimages.WithMiddleware(stall))
	push(t, reg, "slow/img:1", img)
	e := newEnv(t, func(c *Config) { c.PullProgressTimeout = 300 * time.Millisecond })
	start := time.Now()
	_, err := e.svc.Pull(context.Background(), reg.Ref("slow/img:1"), nil)
	if err == nil || !strings.Contains(err.Error(), "no progress") || !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("want a no-progress error, got %v", err)
	}
	t.Logf("failed after %s: %v", time.Since(start), err)
	assertClean(t, e)
}

func TestTagMoveKeepsOldImage(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	a := must[v1.Image](t)(testimages.Variant("a"))
	b := must[v1.Image](t)(testimages.Variant("b"))
	e := newEnv(t, nil)
	ref := reg.Ref("moving/img:1")
	push(t, reg, "moving/img:1", a)
	push(t, reg, "moving/img:other", a)
	old := e.pull(t, ref)
	e.pull(t, reg.Ref("moving/img:other"))
	push(t, reg, "moving/img:1", b)
	now := e.pull(t, ref)
	if now.ID == old.ID {
		t.Fatal("tag did not move")
	}
	o, err := e.svc.Resolve(old.ID)
	if err != nil {
		t.Fatalf("old image gone: %v", err)
	}
	if !slices.Equal(o.RepoTags, []string{reg.Ref("moving/img:other")}) || len(o.RepoDigests) != 1 {
		t.Errorf("old image refs: %v %v", o.RepoTags, o.RepoDigests)
	}
	if got := must[*Image](t)(e.svc.Resolve(ref)); got.ID != now.ID {
		t.Errorf("tag resolves to %s", got.ID)
	}
	// Removing the old image's last tag removes it (its digest alone does not keep it).
	if err := e.svc.Remove(context.Background(), reg.Ref("moving/img:other")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Resolve(old.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("old image still there: %v", err)
	}
}

func TestRemoveAndLeases(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	push(t, reg, "lib/bb:1", bb)
	push(t, reg, "lib/bb:2", bb)
	e := newEnv(t, func(c *Config) { c.PauseImage = reg.Ref("lib/bb:2") })
	img := e.pull(t, reg.Ref("lib/bb:1"))
	e.pull(t, reg.Ref("lib/bb:2"))
	if got := must[*Image](t)(e.svc.Resolve(img.ID)); !got.Pinned || len(got.RepoTags) != 2 {
		t.Fatalf("want pinned with 2 tags: %+v", got)
	}
	ctx := context.Background()
	// Untag one: the image stays.
	if err := e.svc.Remove(ctx, reg.Ref("lib/bb:1")); err != nil {
		t.Fatal(err)
	}
	if got := must[*Image](t)(e.svc.Resolve(img.ID)); !slices.Equal(got.RepoTags, []string{reg.Ref("lib/bb:2")}) {
		t.Fatalf("after untag: %v", got.RepoTags)
	}
	rfs, err := e.svc.PrepareRootfs(ctx, "c1", img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.svc.PrepareRootfs(ctx, "c1", img.ID); err != nil || again.UpperDir != rfs.UpperDir {
		t.Fatalf("PrepareRootfs not idempotent: %v", err)
	}
	if fi, err := os.Stat(filepath.Dir(rfs.UpperDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("container dir mode: %v %v", fi.Mode(), err)
	}
	if err := os.WriteFile(filepath.Join(rfs.UpperDir, "written"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if u := must[FsUsage](t)(e.svc.RootfsUsage("c1")); u.UsedBytes < 64<<10 || u.InodesUsed < 2 {
		t.Errorf("rootfs usage %+v", u)
	}
	if u := must[FsUsage](t)(e.svc.ContainerFsUsage()); u.UsedBytes < 64<<10 {
		t.Errorf("container fs usage %+v", u)
	}
	if u := must[FsUsage](t)(e.svc.ImageFsUsage()); u.UsedBytes < 1<<20 || u.InodesUsed < 10 || u.Mountpoint != e.cfg.Root {
		t.Errorf("image fs usage %+v", u)
	}
	// The pause image is pinned: removing it is refused until it is no longer the pause image.
	if err := e.svc.Remove(ctx, img.ID); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("remove of the pinned pause image: %v", err)
	}
	e.cfg.PauseImage = ""
	e.reopen(t)
	// Remove by ID: the image goes, the leased snapshots stay, the blobs go.
	if err := e.svc.Remove(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Resolve(img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("still resolvable: %v", err)
	}
	if err := e.svc.Remove(ctx, img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	for _, ld := range rfs.LowerDirs {
		if _, err := os.Stat(ld); err != nil {
			t.Errorf("leased snapshot freed: %v", err)
		}
	}
	// A restart keeps the lease.
	e.reopen(t)
	for _, ld := range rfs.LowerDirs {
		if _, err := os.Stat(ld); err != nil {
			t.Errorf("leased snapshot freed by reopen: %v", err)
		}
	}
	if err := e.svc.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatalf("RemoveRootfs not idempotent: %v", err)
	}
	assertClean(t, e)
	if got := entries(t, e.cfg.ContainersDir); len(got) != 0 {
		t.Errorf("containers dir: %v", got)
	}
	if _, err := e.svc.PrepareRootfs(ctx, "c2", img.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("rootfs of a removed image: %v", err)
	}
}

func TestReopenKeepsImagesAndCleansLeftovers(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	e := newEnv(t, nil)
	for i, l := range []string{"x", "y"} {
		push(t, reg, "keep/img:"+l, must[v1.Image](t)(testimages.Variant(l)))
		e.pull(t, reg.Ref("keep/img:"+l))
		_ = i
	}
	before := e.svc.List()
	// What a kill -9 in the middle of a pull leaves behind.
	if err := os.WriteFile(filepath.Join(e.svc.ingestDir(), "blob-123"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.svc.snapshotsDir(), tmpPrefix+"999", "fs", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.svc.blobDir(), strings.Repeat("ab", 32)), []byte("orphan"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.reopen(t)
	after := e.svc.List()
	if len(after) != len(before) {
		t.Fatalf("images lost: %v vs %v", after, before)
	}
	for i := range before {
		if before[i].ID != after[i].ID || !slices.Equal(before[i].RepoTags, after[i].RepoTags) {
			t.Errorf("image changed: %+v vs %+v", before[i], after[i])
		}
	}
	if got := entries(t, e.svc.ingestDir()); len(got) != 0 {
		t.Errorf("ingest leftovers: %v", got)
	}
	for _, n := range entries(t, e.svc.snapshotsDir()) {
		if strings.HasPrefix(n, tmpPrefix) {
			t.Errorf("temp snapshot left: %s", n)
		}
	}
	if e.svc.hasBlob("sha256:" + strings.Repeat("ab", 32)) {
		t.Error("orphan blob kept")
	}
	for _, img := range after {
		if _, err := os.Stat(e.svc.snapshotFS(img.ChainID)); err != nil {
			t.Errorf("snapshot lost: %v", err)
		}
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	requireRoot(t)
	bb := must[v1.Image](t)(testimages.Busybox())
	httpd := must[v1.Image](t)(testimages.Httpd())
	dir := t.TempDir()
	save := filepath.Join(dir, "save.tar")
	if err := testimages.WriteDockerSave(save, map[string]v1.Image{"busybox:latest": bb, "example.com/web/httpd:1": httpd}); err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci.tar")
	if err := testimages.WriteOCILayout(oci, map[string]v1.Image{"docker.io/library/busybox:oci": bb}); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	ctx := context.Background()
	f := must[*os.File](t)(os.Open(save))
	imgs, err := e.svc.Import(ctx, f)
	f.Close()
	if err != nil || len(imgs) != 2 {
		t.Fatalf("import docker-save: %v %v", imgs, err)
	}
	f = must[*os.File](t)(os.Open(oci))
	imgs, err = e.svc.Import(ctx, f)
	f.Close()
	if err != nil || len(imgs) != 1 || imgs[0].ID != configDigest(t, bb) {
		t.Fatalf("import oci: %v %v", imgs, err)
	}
	got := must[*Image](t)(e.svc.Resolve("busybox"))
	if got.ID != configDigest(t, bb) || !slices.Contains(got.RepoTags, "docker.io/library/busybox:oci") {
		t.Fatalf("busybox after imports: %+v", got)
	}
	if w := must[*Image](t)(e.svc.Resolve("example.com/web/httpd:1")); w.ID != configDigest(t, httpd) || w.Config.Config.Cmd[0] != "httpd" {
		t.Errorf("httpd: %+v", w)
	}
	if _, err := os.Stat(filepath.Join(e.svc.snapshotFS(got.ChainID), "bin/busybox")); err != nil {
		t.Error(err)
	}
	var out bytes.Buffer
	if err := e.svc.Export(ctx, &out, []string{"busybox", "example.com/web/httpd:1"}); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, nil)
	imgs, err = e2.svc.Import(ctx, &out)
	if err != nil || len(imgs) != 2 {
		t.Fatalf("re-import: %v %v", imgs, err)
	}
	for _, img := range imgs {
		orig := must[*Image](t)(e.svc.Resolve(img.ID))
		if orig.ChainID != img.ChainID {
			t.Errorf("round trip changed %s", img.ID)
		}
	}
	if _, err := e2.svc.Resolve("docker.io/library/busybox:latest"); err != nil {
		t.Error(err)
	}
	if _, err := e.svc.Import(ctx, strings.NewReader("not a tar")); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("garbage import: %v", err)
	}
	if err := e.svc.Export(ctx, &out, []string{"nope:1"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("export unknown: %v", err)
	}
}

// An uncompressed layer with one byte changed inside a file body still parses as a tar of
// the right size: only the digest checks can catch it.
func TestCorruptBodyCaughtByDigest(t *testing.T) {
	requireRoot(t)
	img := must[v1.Image](t)(testimages.BusyboxUncompressed())
	layer := must[[]v1.Layer](t)(img.Layers())[0]
	ld := must[v1.Hash](t)(layer.Digest()).String()
	body := must[[]byte](t)(readAll(layer))
	body[len(body)/3] ^= 0x01
	reg := newRegistry(t, testimages.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+ld) {
				_, _ = w.Write(body)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	push(t, reg, "bad/plain:1", img)
	e := newEnv(t, nil)
	_, err := e.svc.Pull(context.Background(), reg.Ref("bad/plain:1"), nil)
	if err == nil || !strings.Contains(err.Error(), "sha256 checksum") && !strings.Contains(err.Error(), "has digest") {
		t.Fatalf("want a digest error, got %v", err)
	}
	t.Logf("error: %v", err)
	assertClean(t, e)
}

func TestWriteBlobVerifies(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.svc.writeBlob(sha256Digest([]byte("a")), []byte("b")); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Fatalf("mismatch accepted: %v", err)
	}
	if got := entries(t, e.svc.ingestDir()); len(got) != 0 {
		t.Errorf("temp left: %v", got)
	}
	if err := e.svc.writeBlob(sha256Digest([]byte("a")), []byte("a")); err != nil || !e.svc.hasBlob(sha256Digest([]byte("a"))) {
		t.Fatalf("good blob: %v", err)
	}
}

// Pull A fails (a layer of its own is gone from its repository) while pull B waits on the
// base layer A is fetching for both: B must not inherit A's failure. A's shared fetch is
// mid-body when A fails, so it ends with A's cancellation cause (A's BLOB_UNKNOWN), not a
// context error; B then fetches the layer itself, from its own repository.
func TestSharedLayerSurvivesOtherPullsFailure(t *testing.T) {
	requireRoot(t)
	a := must[v1.Image](t)(testimages.Variant("a"))
	b := must[v1.Image](t)(testimages.Variant("b"))
	la := must[[]v1.Layer](t)(a.Layers())
	base := must[v1.Hash](t)(la[0].Digest()).String()
	bad := must[v1.Hash](t)(la[1].Digest()).String()
	baseBody := must[[]byte](t)(readAll(la[0]))
	aStalled := make(chan struct{}) // A's fetch of the base layer is under way
	bJoined := make(chan struct{})  // B waits on that fetch
	stop := make(chan struct{})     // the test is over: let every handler return
	var stalled atomic.Bool
	reg := newRegistry(t, testimages.WithMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method != http.MethodGet:
			case strings.HasSuffix(r.URL.Path, "/share/a/blobs/"+base) && stalled.CompareAndSwap(false, true):
				// Half the body, then nothing until A gives up (or the test ends).
				w.Header().Set("Content-Length", strconv.Itoa(len(baseBody)))
				_, _ = w.Write(baseBody[:len(baseBody)/2])
				w.(http.Flusher).Flush()
				close(aStalled)
				select {
				case <-r.Context().Done():
				case <-stop:
				}
				return
			case strings.HasSuffix(r.URL.Path, "/share/a/blobs/"+bad):
				select {
				case <-bJoined:
				case <-stop:
				}
				http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"gone"}]}`, http.StatusNotFound)
				return
			}
			next.ServeHTTP(w, r)
		})
	}))
	t.Cleanup(func() { close(stop) }) // runs before the registry's Close, which waits for handlers
	push(t, reg, "share/a:1", a)
	push(t, reg, "share/b:1", b)
	e := newEnv(t, nil)
	var mu sync.Mutex
	waits := 0
	e.svc.layerWaiting = func(digest string) {
		if digest != base {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		// A waits on its own fetch, which stalls until A fails: the second wait is B's,
		// on A's fetch.
		if waits++; waits == 2 {
			close(bJoined)
		}
	}
	errA := make(chan error, 1)
	go func() {
		_, err := e.svc.Pull(context.Background(), reg.Ref("share/a:1"), nil)
		errA <- err
	}()
	<-aStalled // B starts once A's fetch of the base layer is the one in flight
	errB := make(chan error, 1)
	go func() {
		_, err := e.svc.Pull(context.Background(), reg.Ref("share/b:1"), nil)
		errB <- err
	}()
	if err := <-errB; err != nil {
		t.Fatalf("pull B failed with A: %v", err)
	}
	if err := <-errA; err == nil || !strings.Contains(err.Error(), "BLOB_UNKNOWN") {
		t.Fatalf("pull A: %v, want its layer's BLOB_UNKNOWN", err)
	}
}

// An image whose snapshot vanished while crid was down (a disk that lost data) is forgotten
// at Open, so kubelet pulls it again instead of failing every container start on it.
func TestOpenForgetsImageWithMissingSnapshot(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	push(t, reg, "lost/img:1", must[v1.Image](t)(testimages.Variant("lost")))
	push(t, reg, "kept/img:1", must[v1.Image](t)(testimages.Variant("kept")))
	e := newEnv(t, nil)
	lost := e.pull(t, reg.Ref("lost/img:1"))
	kept := e.pull(t, reg.Ref("kept/img:1"))
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(e.svc.snapshotDir(lost.ChainID)); err != nil {
		t.Fatal(err)
	}
	svc, err := Open(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	if _, err := svc.Resolve(reg.Ref("lost/img:1")); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("image with a missing snapshot still listed: %v", err)
	}
	if _, err := svc.Resolve(kept.ID); err != nil {
		t.Fatalf("intact image forgotten: %v", err)
	}
	again := e.pull(t, reg.Ref("lost/img:1"))
	if again.ID != lost.ID {
		t.Fatalf("re-pull: %s, want %s", again.ID, lost.ID)
	}
	ctx := context.Background()
	if _, err := svc.PrepareRootfs(ctx, "c1", again.ID); err != nil {
		t.Fatalf("rootfs after re-pull: %v", err)
	}
	if err := svc.RemoveRootfs(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
}
