package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// openUnder counts this process's fds open on files under dir.
func openUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, dir+"/") {
			n++
		}
	}
	return n
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUsageReaderKeepsFilesOpen: the reader gives Usage's figures, sees a file change
// through the fd it keeps, opens each file once, and Forget closes them all.
func TestUsageReaderKeepsFilesOpen(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "c")
	writeFiles(t, filepath.Join(tree.Root, "c"), v2UsageFiles)
	r := tree.NewUsageReader()
	defer r.Close()
	var want, got Stats
	if err := tree.Usage("/c", &want); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Usage("/c", &got); err != nil {
			t.Fatal(err)
		}
	}
	got.Timestamp = want.Timestamp
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reader %+v\nUsage %+v", got, want)
	}
	if n := openUnder(t, tree.Root); n != len(v2UsageFiles)-4 { // Usage reads 9 of the 13
		t.Fatalf("%d files open after 3 reads, want 9 (each once)", n)
	}
	writeFiles(t, filepath.Join(tree.Root, "c"), map[string]string{"memory.current": "32768\n"})
	if err := r.Usage("/c", &got); err != nil || got.MemoryUsage != 32768 {
		t.Fatalf("after the file changed: %d %v, want 32768", got.MemoryUsage, err)
	}
	r.Forget("/c")
	if n := openUnder(t, tree.Root); n != 0 || r.Open() != 0 {
		t.Fatalf("%d files, %d cgroups open after Forget", n, r.Open())
	}
	if err := r.Usage("/gone", &got); !errors.Is(err, fs.ErrNotExist) || r.Open() != 0 {
		t.Fatalf("a missing cgroup: %v, %d kept; want ErrNotExist, none", err, r.Open())
	}
}

// TestUsageReaderClosesIdle: a cgroup nobody read for idleAfter (its container's exit
// never forgotten) has its files closed by a later call for another cgroup.
func TestUsageReaderClosesIdle(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, []string{"a", "b"}, "a")
	for _, c := range []string{"a", "b"} {
		writeFiles(t, filepath.Join(tree.Root, c), v2UsageFiles)
	}
	r := tree.NewUsageReader()
	defer r.Close()
	var s Stats
	if err := r.Usage("/a", &s); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.cgroups["/a"].used = time.Now().Add(-r.idleAfter)
	r.lastSweep = time.Time{}
	r.mu.Unlock()
	if err := r.Usage("/b", &s); err != nil {
		t.Fatal(err)
	}
	if n := openUnder(t, filepath.Join(tree.Root, "a")); n != 0 || r.Open() != 1 {
		t.Fatalf("idle cgroup: %d files still open, %d cgroups kept (want 0, 1)", n, r.Open())
	}
}

// TestUsageReaderPressure: the reader gives Tree.Pressure's figures through the three
// pressure files it keeps open (a pod's cgroup, read for every node-wide stats answer),
// sees them change, and Forget closes them; on v1 it opens nothing.
func TestUsageReaderPressure(t *testing.T) {
	t.Parallel()
	tree := fakeUnified(t, nil, "pod")
	writeFiles(t, filepath.Join(tree.Root, "pod"), v2UsageFiles)
	r := tree.NewUsageReader()
	defer r.Close()
	wc, wm, wi, err := tree.Pressure("/pod")
	if err != nil || wc == nil || wm == nil || wi == nil {
		t.Fatalf("Tree.Pressure: %v %v %v %v", wc, wm, wi, err)
	}
	for range 3 {
		c, m, i, err := r.Pressure("/pod")
		if err != nil || !reflect.DeepEqual([]*Pressure{c, m, i}, []*Pressure{wc, wm, wi}) {
			t.Fatalf("reader %+v %+v %+v %v\nTree %+v %+v %+v", c, m, i, err, wc, wm, wi)
		}
	}
	if n := openUnder(t, tree.Root); n != 3 {
		t.Fatalf("%d files open after 3 reads, want 3 (each once)", n)
	}
	writeFiles(t, filepath.Join(tree.Root, "pod"), map[string]string{"cpu.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=99999\n"})
	if c, _, _, err := r.Pressure("/pod"); err != nil || c.Some.TotalMicros != 99999 {
		t.Fatalf("after the file changed: %+v %v, want total 99999", c, err)
	}
	r.Forget("/pod")
	if n := openUnder(t, tree.Root); n != 0 || r.Open() != 0 {
		t.Fatalf("%d files, %d cgroups open after Forget", n, r.Open())
	}

	v1 := Tree{Root: tree.Root}
	r1 := v1.NewUsageReader()
	if c, m, i, err := r1.Pressure("/pod"); c != nil || m != nil || i != nil || err != nil || r1.Open() != 0 {
		t.Fatalf("v1: %v %v %v %v, %d kept; want nothing read or kept", c, m, i, err, r1.Open())
	}
}
