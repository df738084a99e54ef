package images

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/crid-dev/crid/hack/testimages"
)

// TestCrashChild is the process TestKillDuringPull kills; it does nothing on its own.
func TestCrashChild(t *testing.T) {
	root, ref := os.Getenv("CRID_CRASH_ROOT"), os.Getenv("CRID_CRASH_REF")
	if root == "" {
		t.Skip("helper for TestKillDuringPull")
	}
	svc, err := Open(Config{Root: root + "/root", ContainersDir: root + "/containers"})
	if err != nil {
		t.Fatal(err)
	}
	svc.Pull(context.Background(), ref, nil) //nolint:errcheck // killed before it ends
}

// A kill -9 in the middle of a pull loses nothing already pulled, shows nothing half-pulled,
// and the next Open removes the pull's leftovers.
func TestKillDuringPull(t *testing.T) {
	requireRoot(t)
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/slow/") && strings.Contains(r.URL.Path, "/blobs/") {
				w = &throttled{ResponseWriter: w}
			}
			next.ServeHTTP(w, r)
		})
	}
	reg := newRegistry(t, testimages.WithMiddleware(slow))
	push(t, reg, "fast/bb:1", must[v1.Image](t)(testimages.Busybox()))
	push(t, reg, "slow/big:1", must[v1.Image](t)(testimages.Large(2, 8<<20)))
	e := newEnv(t, nil)
	kept := e.pull(t, reg.Ref("fast/bb:1"))
	e.svc.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), "CRID_CRASH_ROOT="+e.dir, "CRID_CRASH_REF="+reg.Ref("slow/big:1"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); _ = cmd.Wait() })
	// Wait until the child is mid-pull: a temp blob and a temp snapshot exist.
	deadline := time.Now().Add(20 * time.Second)
	for len(entries(t, e.cfg.Root+"/blobs/ingest")) == 0 || !hasTmpSnapshot(t, e.cfg.Root+"/snapshots") {
		if time.Now().After(deadline) {
			t.Fatal("child never started pulling")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(os.Kill)
	_ = cmd.Wait()

	svc, err := Open(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	if l := svc.List(); len(l) != 1 || l[0].ID != kept.ID {
		t.Fatalf("after crash: %v", l)
	}
	if got := entries(t, svc.ingestDir()); len(got) != 0 {
		t.Errorf("ingest leftovers: %v", got)
	}
	if hasTmpSnapshot(t, svc.snapshotsDir()) {
		t.Error("temp snapshot left")
	}
	if _, err := os.Stat(svc.snapshotFS(kept.ChainID)); err != nil {
		t.Errorf("kept image's snapshot: %v", err)
	}
}

func hasTmpSnapshot(t *testing.T, dir string) bool {
	for _, n := range entries(t, dir) {
		if strings.HasPrefix(n, tmpPrefix) {
			return true
		}
	}
	return false
}

// throttled sends a response body at about 1 MiB/s.
type throttled struct{ http.ResponseWriter }

func (w *throttled) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		c := min(len(p), 64<<10)
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[c:]
		time.Sleep(60 * time.Millisecond)
	}
	return n, nil
}

// Each layer's files and blob are made durable (one syncfs) before either is renamed into
// place, and the renames before the image record names them: a power loss never leaves a
// record naming a half-written layer or a missing one.
func TestPullSyncsBeforeCommit(t *testing.T) {
	requireRoot(t)
	reg := newRegistry(t)
	img := must[v1.Image](t)(testimages.Large(2, 1<<20))
	push(t, reg, "sync/img:1", img)
	e := newEnv(t, nil)
	layers := must[[]v1.Layer](t)(img.Layers())
	inPlace := func(i int) (blob, snap bool) {
		d := must[v1.Hash](t)(layers[i].Digest()).String()
		p, err := e.svc.blobPath(d)
		if err != nil {
			t.Error(err)
		}
		_, err = os.Stat(p)
		return err == nil, e.svc.hasSnapshot(must[[]string](t)(chainIDsOf(img))[i])
	}
	var mu sync.Mutex
	synced := make([]bool, len(layers))
	dirSyncs := map[string]int{}
	// syncfs reports the writeback errors since its fd was opened: the fd is opened before
	// anything of the layer is written, or an error another syncfs reported first is missed.
	opened := map[*os.File]bool{}
	e.svc.openFS = func(dir string) (*os.File, error) {
		if ents, err := os.ReadDir(filepath.Join(dir, "fs")); err != nil || len(ents) != 0 {
			t.Errorf("%s opened for its syncfs with %d files unpacked already (%v)", dir, len(ents), err)
		}
		d, err := openFS(dir)
		mu.Lock()
		opened[d] = true
		mu.Unlock()
		return d, err
	}
	e.svc.syncFS = func(d *os.File) error {
		mu.Lock()
		early := opened[d]
		mu.Unlock()
		if !early {
			t.Errorf("%s synced through an fd not opened before its writes", d.Name())
		}
		dir := d.Name()
		for i := range layers { // Large's layer i holds data<i>/
			if _, err := os.Stat(filepath.Join(dir, "fs", fmt.Sprintf("data%d", i))); err != nil {
				continue
			}
			if blob, snap := inPlace(i); blob || snap {
				t.Errorf("layer %d synced after its blob (%v) or snapshot (%v) was in place", i, blob, snap)
			}
			// The syncfs covers the blob only if all of it is in its file by then (the
			// ingest holds its last bytes in a buffer).
			if size := must[int64](t)(layers[i].Size()); !ingestHolds(t, e.svc.ingestDir(), size) {
				t.Errorf("layer %d synced before its blob's %d bytes were all written to its file", i, size)
			}
			err := syncFS(d)
			mu.Lock()
			synced[i] = true
			mu.Unlock()
			return err
		}
		t.Errorf("syncFS(%s): not a layer being unpacked", dir)
		return syncFS(d)
	}
	e.svc.syncDir = func(dir string) error {
		if l := e.svc.List(); len(l) != 0 {
			t.Errorf("%s synced after the image record was saved", dir)
		}
		mu.Lock()
		dirSyncs[dir]++
		for i := range layers {
			if blob, snap := inPlace(i); !synced[i] || !blob || !snap {
				t.Errorf("%s synced with layer %d synced %v, blob in place %v, snapshot in place %v", dir, i, synced[i], blob, snap)
			}
		}
		mu.Unlock()
		return syncDir(dir)
	}
	e.pull(t, reg.Ref("sync/img:1"))
	for i, ok := range synced {
		if !ok {
			t.Errorf("layer %d never synced", i)
		}
	}
	for _, d := range []string{e.svc.blobDir(), e.svc.snapshotsDir()} {
		if dirSyncs[d] == 0 {
			t.Errorf("%s never synced", d)
		}
	}
}

func chainIDsOf(img v1.Image) ([]string, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	var diffIDs []string
	for _, d := range cfg.RootFS.DiffIDs {
		diffIDs = append(diffIDs, d.String())
	}
	return chainIDs(diffIDs), nil
}

// ingestHolds reports whether a blob being ingested in dir has size bytes in its file.
func ingestHolds(t *testing.T, dir string, size int64) bool {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && fi.Size() == size {
			return true
		}
	}
	return false
}
