package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnableControllers: creating /kubepods/besteffort/pod1/ctr with no
// limits at all (a BestEffort container) enables, in each level above it, the
// controllers crid uses that the level has and has not enabled yet — so the
// container gets memory.stat, io.stat and pids.max — and writes nothing where
// they are all on already.
func TestEnableControllers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// What the kernel shows: a level's cgroup.controllers is what its parent
	// enabled. The root has rdma and misc too (not crid's) and, as on a
	// systemd host, most controllers on already.
	levels := []struct{ dir, controllers, enabled, want string }{
		{"", "cpuset cpu io memory hugetlb pids rdma misc", "cpu io memory pids", "+cpuset +hugetlb"},
		{"kubepods", "cpuset cpu io memory hugetlb pids", "", "+cpu +cpuset +io +memory +pids +hugetlb"},
		{"kubepods/besteffort", "cpu io memory pids", "cpu io memory pids", "cpu io memory pids"},
		{"kubepods/besteffort/pod1", "cpu io memory pids", "memory", "+cpu +io +pids"},
	}
	for _, l := range levels {
		dir := filepath.Join(root, l.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, body := range map[string]string{"cgroup.controllers": l.controllers, "cgroup.subtree_control": l.enabled} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tree := Tree{Root: root, Unified: true}
	if err := tree.enableControllers("/kubepods/besteffort/pod1/ctr"); err != nil {
		t.Fatal(err)
	}
	for _, l := range levels {
		b, err := os.ReadFile(filepath.Join(root, l.dir, "cgroup.subtree_control"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != l.want {
			t.Errorf("/%s cgroup.subtree_control: %q, want %q", l.dir, got, l.want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "kubepods/besteffort/pod1/ctr")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leaf is the library's to create: %v", err)
	}
}

// TestEnableControllersCreatesLevels: missing levels are created on the way
// (the kernel fills them in); a level that cannot be read is an error that
// names it.
func TestEnableControllersCreatesLevels(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for f, body := range map[string]string{"cgroup.controllers": "cpu memory", "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := Tree{Root: root, Unified: true}.enableControllers("/a/b")
	if err == nil || !strings.Contains(err.Error(), filepath.Join(root, "a")) {
		t.Fatalf("a level without cgroup.controllers (not a cgroup): %v, want an error naming it", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "a")); err != nil || !fi.IsDir() {
		t.Fatalf("level /a not created: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); string(b) != "+cpu +memory" {
		t.Errorf("root cgroup.subtree_control %q, want +cpu +memory", b)
	}
}
