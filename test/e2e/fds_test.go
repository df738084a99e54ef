package e2e

import (
	"slices"
	"strings"
	"testing"
)

// TestNoLeakedFds (CVE-2024-21626): neither the container's process nor an exec holds a
// file descriptor beyond stdio that crid or the monitor opened (a leaked directory fd lets
// the container reach the host's filesystem), and both start in the container's root.
func TestNoLeakedFds(t *testing.T) {
	d := sharedDaemon(t)
	_, id, _ := d.sleeper(t, "fds")
	// pid 1 is the container's sleep; $$ is the shell the exec started (ls and readlink
	// are its children, their output goes straight to its stdout: no extra fds).
	for _, proc := range []string{"1", "$$"} {
		// "; true": the shell must stay the parent, not exec ls in its place.
		out := d.mustExec(t, id, "sh", "-c", "ls -l /proc/"+proc+"/fd/; true")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 || f[0] == "total" {
				continue
			}
			i := slices.Index(f, "->")
			if i < 1 || i+1 >= len(f) {
				t.Errorf("/proc/%s/fd: unreadable entry %q", proc, l)
				continue
			}
			if fd := f[i-1]; fd != "0" && fd != "1" && fd != "2" {
				t.Errorf("/proc/%s/fd/%s -> %s: a descriptor the container did not open", proc, fd, f[i+1])
			}
		}
		if cwd := strings.TrimSpace(d.mustExec(t, id, "sh", "-c", "readlink /proc/"+proc+"/cwd; true")); cwd != "/" {
			t.Errorf("/proc/%s/cwd = %q, want / inside the container", proc, cwd)
		}
	}
}
