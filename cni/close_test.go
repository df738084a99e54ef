package cni

import (
	"path/filepath"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func mountedAt(t *testing.T, dir string) bool {
	t.Helper()
	mounts, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	return len(mounts) > 0
}

// TestCloseReleasesIdleNetNSDir: the netns dir mount outlives the daemon only while a
// pod's namespace is pinned in it; a crid stopped with no pods leaves no mount behind.
func TestCloseReleasesIdleNetNSDir(t *testing.T) {
	requireNetworking(t)
	dir := filepath.Join(t.TempDir(), "netns")
	m, err := New(Config{ConfDir: t.TempDir(), NetNSDir: dir, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	path, err := m.NewNetNS(randHex(t, 8))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.RemoveNetNS(path); m.Close() })
	if m.Close(); !mountedAt(t, dir) {
		t.Fatal("Close released the netns dir while a pod's namespace was pinned in it")
	}
	if err := m.RemoveNetNS(path); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if mountedAt(t, dir) {
		t.Fatal("netns dir still mounted after Close with no pods")
	}
	// The manager still works after a Close released the dir (a restart in-process).
	again, err := m.NewNetNS(randHex(t, 8))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveNetNS(again); err != nil {
		t.Fatal(err)
	}
}
