package images

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/hack/testimages"
)

func TestWhiteoutsInOverlayForm(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, nil)
	reg := newRegistry(t)
	push(t, reg, "wh/img:1", must[v1.Image](t)(testimages.Whiteouts()))
	img := e.pull(t, reg.Ref("wh/img:1"))
	rec := e.svc.images[img.ID]
	upper := e.svc.snapshotFS(rec.ChainIDs[1])

	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "a/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("a/gone is not a 0:0 char device: %v %+v", err, st)
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(upper, "opq"), opaqueXattr, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opq opaque xattr: %q %v", buf[:n], err)
	}
	for _, name := range []string{"a/.wh.gone", "opq/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(upper, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s left in the snapshot", name)
		}
	}

	// Mount the image as a container would see it and check the merged view.
	rfs, err := e.svc.PrepareRootfs(context.Background(), "c-wh", img.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.svc.RemoveRootfs(context.Background(), "c-wh") })
	mnt := t.TempDir()
	opts := "lowerdir=" + strings.Join(rfs.LowerDirs, ":") + ",upperdir=" + rfs.UpperDir + ",workdir=" + rfs.WorkDir
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		t.Skipf("overlay mount unavailable: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	// Removing the rootfs while something under it is mounted is refused.
	inside := filepath.Join(filepath.Dir(rfs.UpperDir), "merged")
	if err := os.Mkdir(inside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", inside, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveRootfs(context.Background(), "c-wh"); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("RemoveRootfs over a mount: %v", err)
	}
	if err := unix.Unmount(inside, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, filepath.Join(mnt, "a")); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("merged /a = %v, want [keep]", got)
	}
	if got := entries(t, filepath.Join(mnt, "opq")); !slices.Equal(got, []string{"new"}) {
		t.Errorf("merged /opq = %v, want [new]", got)
	}
}

func TestMaliciousLayersStayInside(t *testing.T) {
	requireRoot(t)
	outside := t.TempDir()
	target := filepath.Join(outside, "sentinel")
	if err := os.WriteFile(target, []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgs := must[map[string]v1.Image](t)(testimages.Malicious(target))
	reg := newRegistry(t)
	e := newEnv(t, nil)
	for kind, img := range imgs {
		push(t, reg, "evil/"+kind+":1", img)
		_, err := e.svc.Pull(context.Background(), reg.Ref("evil/"+kind+":1"), nil)
		t.Logf("%s: pull error: %v", kind, err) // refusing is as good as containing

		body, rerr := os.ReadFile(target)
		var st syscall.Stat_t
		_ = syscall.Stat(target, &st)
		if rerr != nil || !bytes.Equal(body, []byte("original\n")) || st.Nlink != 1 {
			t.Fatalf("%s: sentinel changed: %q nlink=%d %v", kind, body, st.Nlink, rerr)
		}
		if got := entries(t, outside); !slices.Equal(got, []string{"sentinel"}) {
			t.Fatalf("%s: files appeared next to the sentinel: %v", kind, got)
		}
		// Nothing next to the store either (a "../" one level up would land there).
		for _, d := range []string{e.dir, filepath.Dir(e.dir), "/"} {
			for _, n := range entries(t, d) {
				if strings.HasPrefix(n, "escaped-") || n == "sentinel" {
					t.Fatalf("%s: %s appeared in %s", kind, n, d)
				}
			}
		}
	}
}

// The unpacker alone, non-root friendly: names are cleaned into the root.
func TestCleanRel(t *testing.T) {
	for in, want := range map[string]string{
		"../../etc/passwd": "etc/passwd", "/abs/x": "abs/x", "./a/../b": "b", "a/b/": "a/b", ".": "", "..": "",
	} {
		if got := cleanRel(in); got != want {
			t.Errorf("cleanRel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnpackResolvesInsideAndKeepsMetadata(t *testing.T) {
	requireRoot(t)
	files := []testimages.File{
		{Name: "real/", Type: '5'},
		{Name: "lnk", Type: '2', Linkname: "/real"},
		{Name: "lnk/f", Body: []byte("f")},
		{Name: "deep/", Type: '5'},
		{Name: "deep/up", Type: '2', Linkname: "../../../../../real"},
		{Name: "deep/up/g", Body: []byte("g")},
		{Name: "suid", Mode: 0o4755, UID: 1234, GID: 5678, Body: []byte("x"), Xattrs: map[string]string{"user.k": "v"}},
		{Name: "hl", Type: '1', Linkname: "/suid"},
		{Name: "null", Type: '3', Mode: 0o666, Devmajor: 1, Devminor: 3},
		{Name: "fifo", Type: '6', Mode: 0o600},
	}
	raw, err := testimages.TarBytes(files)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unpackLayer(bytes.NewReader(raw), dir, 0); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"real/f", "real/g"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "suid"), &st); err != nil || st.Mode&0o7777 != 0o4755 || st.Uid != 1234 || st.Gid != 5678 || st.Nlink != 2 {
		t.Errorf("suid: %+v %v", st, err)
	}
	if st.Mtim.Sec != testimages.Epoch.Unix() {
		t.Errorf("mtime %d", st.Mtim.Sec)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "suid"), "user.k", buf); err != nil || string(buf[:n]) != "v" {
		t.Errorf("xattr: %q %v", buf[:n], err)
	}
	if err := unix.Lstat(filepath.Join(dir, "null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("null device: %+v %v", st, err)
	}
	if err := unix.Lstat(filepath.Join(dir, "fifo"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("fifo: %v", err)
	}
}
