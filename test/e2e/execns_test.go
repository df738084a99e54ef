package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestExecNamespaces: an exec joins every namespace of the container's process: the same
// network, UTS, IPC, mount and pid namespace as the container's pid 1 (and so never the
// host's).
func TestExecNamespaces(t *testing.T) {
	d := sharedDaemon(t)
	script := "for n in net uts ipc mnt pid; do echo $n $(readlink /proc/1/ns/$n) $(readlink /proc/self/ns/$n); done"
	for i := range 6 {
		_, id, _ := d.sleeper(t, fmt.Sprint("execns", i))
		for _, line := range strings.Split(strings.TrimSpace(d.mustExec(t, id, "sh", "-c", script)), "\n") {
			f := strings.Fields(line)
			if len(f) != 3 || f[1] != f[2] {
				t.Errorf("pod %d: exec namespace %q: container pid 1 vs exec", i, line)
			}
		}
	}
}
