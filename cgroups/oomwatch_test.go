package cgroups

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOOMWatchOutlivesTheCgroup: an OOM kill counted while the cgroup lived is
// still reported after the cgroup is gone (systemd removes an emptied scope).
func TestOOMWatchOutlivesTheCgroup(t *testing.T) {
	t.Parallel()
	const leaf = "crid.slice/crid-podx.slice/crid-c.scope"
	tree := fakeUnified(t, []string{"crid.slice", "crid.slice/crid-podx.slice"}, leaf)
	tree.Systemd = true
	events := filepath.Join(tree.Root, leaf, "memory.events")
	if err := os.WriteFile(events, []byte("oom 0\noom_kill 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := tree.WatchOOM("/" + leaf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := os.WriteFile(events, []byte("oom 1\noom_kill 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; w.seen.Load() == 0; i++ { // waits for the notification; nothing is timed
		if i > 5000 {
			t.Fatal("the change was never seen")
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.RemoveAll(filepath.Join(tree.Root, leaf)); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Count(); err != nil || n != 1 {
		t.Fatalf("Count after the cgroup went = %d, %v; want 1", n, err)
	}
	// Without a watch the count is gone with the cgroup.
	if _, err := tree.OOMKills("/" + leaf); err == nil {
		t.Fatal("the fake cgroup is still there")
	}
}
