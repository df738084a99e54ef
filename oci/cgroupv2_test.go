package oci

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/cgroups"
)

// TestCgroupV2OnUnifiedMount runs the v2 code path against the real kernel on
// a hybrid host: its (controller-less) cgroup2 mount at /sys/fs/cgroup/unified
// still takes clone3 CLONE_INTO_CGROUP, cgroup namespaces and cgroup2 mounts.
// Resource limits cannot be tested there (the controllers belong to v1); the
// files they write are covered by TestCgroupV2Files.
func TestCgroupV2OnUnifiedMount(t *testing.T) {
	requireRoot(t)
	unified := "/sys/fs/cgroup/unified"
	var st unix.Statfs_t
	if err := unix.Statfs(unified, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		t.Skipf("no cgroup2 mount at %s (a pure v1 or a pure v2 host)", unified)
	}
	if hostTree.Unified {
		t.Skip("a v2 host: every other test already runs the v2 path")
	}
	tree := cgroups.Tree{Root: unified, Unified: true}
	t.Cleanup(func() { _ = tree.Destroy(cgParent) })
	spec, rootfs := testSpec(t, "sh", "-c", "grep '^0::' /proc/self/cgroup; ls /sys/fs/cgroup/cgroup.procs; sleep 1000")
	spec.Linux.Resources = nil
	out := mustCreate(t)
	c, err := Create(context.Background(), CreateOptions{Cgroups: tree, ID: "v2" + randID(), Spec: spec, Rootfs: rootfs,
		Stdio: Stdio{Stdout: out, Stderr: out}})
	if err != nil {
		t.Fatal(err)
	}
	// Placed by clone3 before it ran a single instruction of its own.
	procs, err := os.ReadFile(filepath.Join(unified, c.Cgroup, "cgroup.procs"))
	if err != nil || strings.TrimSpace(string(procs)) != itoa(c.Pid) {
		t.Fatalf("cgroup.procs of %s: %q, %v; want %d", c.Cgroup, procs, err, c.Pid)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	// Inside: its cgroup is the root of its cgroup namespace and of its cgroup2 mount.
	want := "0::/\n/sys/fs/cgroup/cgroup.procs\n"
	for i := 0; ; i++ {
		b, _ := os.ReadFile(out.Name())
		if string(b) == want {
			break
		}
		if i > 3000 || len(b) > len(want) {
			t.Fatalf("container printed %q, want %q", b, want)
		}
		time.Sleep(10 * time.Millisecond) // waits for output; nothing is timed
	}
	p, err := cgPath(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.Destroy(p); err != nil {
		t.Fatal(err)
	}
	if ws := waitExit(t, c.Pid); !ws.Signaled() {
		t.Fatalf("after Destroy: %v", ws)
	}
	if _, err := os.Stat(filepath.Join(unified, c.Cgroup)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("v2 cgroup left: %v", err)
	}
}

func mustCreate(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(tmpDir(t), "out"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
