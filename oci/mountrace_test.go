package oci

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// A bind's read-only flag and propagation go to the bind itself, and a cgroup
// view's tree stays inside it, whatever a
// neighbour renames meanwhile: while the container is set up, the host (as a
// container sharing the volume would) keeps exchanging the volume's "a" and
// "b", so any second lookup of /data/a by path lands on b about half the time
// and would make the bind of other (or the volume) read-only and private
// instead, leaving the bind of src writable.
func TestBindFlagsSurviveRenameRace(t *testing.T) {
	requireRoot(t)
	for name, k := range hostAnd510 {
		t.Run(name, func(t *testing.T) { bindFlagsSurviveRenameRace(t, k) })
	}
}

func bindFlagsSurviveRenameRace(t *testing.T, k *kernel.Features) {
	// A shared tmpfs of our own holds the volume and the bind's source, so a
	// bind left shared shows in mountinfo (this host's "/" is private).
	host := tmpDir(t)
	if err := unix.Mount("tmpfs", host, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(host, unix.MNT_DETACH) })
	if err := unix.Mount("", host, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	vol, src, other := filepath.Join(host, "vol"), filepath.Join(host, "src"), filepath.Join(host, "other")
	for _, d := range []string{filepath.Join(vol, "a"), filepath.Join(vol, "b"), filepath.Join(vol, "c"), filepath.Join(vol, "d"), src, other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a, b := filepath.Join(vol, "a"), filepath.Join(vol, "b")
		c, d := filepath.Join(vol, "c"), filepath.Join(vol, "d")
		for {
			select {
			case <-stop:
				return
			default:
				_ = unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
				_ = unix.Renameat2(unix.AT_FDCWD, c, unix.AT_FDCWD, d, unix.RENAME_EXCHANGE)
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	for i := 0; i < 20; i++ {
		spec, rootfs := testSpec(t, "cat", "/proc/self/mountinfo")
		// Every mount starts as a slave of the host's: the volume stays one,
		// the bind of src is made private.
		spec.Linux.RootfsPropagation = "rslave"
		spec.Mounts = append(spec.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: vol, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/data/b", Type: "bind", Source: other, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/data/a", Type: "bind", Source: src, Options: []string{"rbind", "rprivate", "ro"}},
			// A cgroup view is a tmpfs filled with mounts and then made read-only.
			specs.Mount{Destination: "/data/c", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "ro"}})
		ws, mi := runOn(t, spec, rootfs, k)
		if ws.ExitStatus() != 0 {
			t.Fatalf("status %v: %s", ws, mi)
		}
		for _, rw := range []string{"/vol", "/other"} {
			opts, prop := mountByRoot(t, mi, rw)
			if !strings.HasPrefix(opts, "rw") || !strings.HasPrefix(prop, "master:") {
				t.Fatalf("run %d: the bind of %s is %s %q, want rw and a slave", i, rw, opts, prop)
			}
		}
		if opts := cgroupViewOpts(t, mi); !strings.HasPrefix(opts, "ro") {
			t.Fatalf("run %d: the cgroup view under the volume is %s, want ro", i, opts)
		}
		for _, dir := range []string{"c", "d"} {
			if ents, err := os.ReadDir(filepath.Join(vol, dir)); err != nil || len(ents) != 0 {
				t.Fatalf("run %d: the volume's %s got %v (%v)", i, dir, ents, err)
			}
		}
		srcOpts, srcProp := mountByRoot(t, mi, "/src")
		if !strings.HasPrefix(srcOpts, "ro") || srcProp != "" {
			t.Fatalf("run %d: the bind of src is %s %q, want ro and private", i, srcOpts, srcProp)
		}
	}
}

// mountByRoot returns the options and optional fields of the one mount whose
// root (mountinfo field 4) is root.
func mountByRoot(t *testing.T, mountinfo, root string) (opts, optional string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, _, ok := strings.Cut(l, " - ")
		f := strings.Fields(pre)
		if ok && len(f) >= 6 && f[3] == root {
			opts, optional = f[5], strings.Join(f[6:], " ")
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d mounts of %s:\n%s", n, root, mountinfo)
	}
	return opts, optional
}

// cgroupViewOpts returns the options of the tmpfs mounted at /data/c or
// /data/d (whichever name the directory has by now).
func cgroupViewOpts(t *testing.T, mountinfo string) string {
	t.Helper()
	for _, l := range strings.Split(mountinfo, "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		f := strings.Fields(pre)
		if ok && len(f) >= 6 && (f[4] == "/data/c" || f[4] == "/data/d") && strings.HasPrefix(post, "tmpfs ") {
			return f[5]
		}
	}
	t.Fatalf("no cgroup view under /data:\n%s", mountinfo)
	return ""
}
