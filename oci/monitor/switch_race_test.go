package monitor

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// An exit and a connection that reach the idle monitor at the same moment: the
// exit is recorded and published once, the connection served. (The C body, which a
// connection brings back to Go, once handed Go a container it had reaped but not
// yet recorded as still running: its exit was lost.) The monitor is stopped while
// both happen, so that it wakes with both at once.
func TestSwitchExitAndConnectionTogether(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		fifo := mkfifo(t)
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		pid := run(t, c, "c", fmt.Sprintf("read x < %s; exit 7", fifo), CreateRequest{})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		mpid, _, err := api.ReadPidFile(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(mpid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := true
		defer func() {
			if stopped {
				_ = syscall.Kill(mpid, syscall.SIGCONT)
			}
		}()
		release(t, fifo)
		waitFor(t, "the container's exit", func() bool {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && isZombie(st)
		})
		// Queued by the kernel while the monitor cannot run.
		conn, err := net.Dial("unix", api.SocketPath(stateDir))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stopped = false
		if err := syscall.Kill(mpid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		if st := waitExit(t, c, "c"); st.ExitCode != 7 {
			t.Fatalf("exit %+v", st)
		}
		if st, err := c.State(ctxT(t), "c"); err != nil || st.Status != "stopped" || st.ExitCode != 7 {
			t.Fatalf("state %+v %v", st, err)
		}
	})
}
