package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crid-dev/crid/test/e2e/hoststate"
)

// TestHarnessCleanupFindsLeftovers: the harness's cleanup finds and removes what a test
// run leaves behind (a process naming the temp dir, a mount under it, a cgroup named after
// a pod), reports each, and leaves nothing.
func TestHarnessCleanupFindsLeftovers(t *testing.T) {
	d, err := newDaemon(daemonOptions{})
	if err != nil {
		t.Fatalf("start crid: %v", err)
	}
	podID, _, _ := d.sleeper(t, "selftest")
	// A process whose command line names the temp dir, in its own session like a monitor.
	leak := exec.Command("sh", "-c", "sleep 300; : "+d.Dir+"/leak")
	leak.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := leak.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = leak.Wait() }()
	mnt := filepath.Join(d.Dir, "leakmnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	cgRoot := "/sys/fs/cgroup/pids"
	if unifiedHost() {
		cgRoot = "/sys/fs/cgroup"
	}
	cg := filepath.Join(cgRoot, "e2e-selftest-"+podID)
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}

	errs := d.Cleanup()
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"processes", d.Dir + "/leak", "mounts", mnt, "cgroups", cg} {
		if !strings.Contains(all, want) {
			t.Errorf("cleanup report lacks %q:\n%s", want, all)
		}
	}
	for _, e := range msgs {
		if !strings.HasPrefix(e, "leaked after RemovePodSandbox") {
			t.Errorf("cleanup failed, not just reported: %s", e)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if hoststate.Alive(leak.Process.Pid) {
		t.Errorf("leaked process %d still alive", leak.Process.Pid)
		leak.Process.Kill()
	}
	if mps := hoststate.Mounts(func(mp string) bool { return strings.HasPrefix(mp, d.Dir) }); len(mps) > 0 {
		t.Errorf("mounts left: %v", mps)
		_ = hoststate.Unmount(mps)
	}
	if _, err := os.Stat(cg); err == nil {
		t.Errorf("cgroup %s left", cg)
		_ = syscall.Rmdir(cg)
	}
	if _, err := os.Stat(d.Dir); err == nil {
		t.Errorf("temp dir %s left", d.Dir)
	}
}
