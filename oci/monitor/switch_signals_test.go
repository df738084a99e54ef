package monitor

import (
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// Signals the Go monitor ignores (Go's runtime drops those nobody asked for) do not
// kill it in its C body either, nor while it execs between bodies: a stray kill -USR1,
// a SIGPWR or a SIGXFSZ from a log past RLIMIT_FSIZE would otherwise leave the pod's
// containers unsupervised.
func TestSwitchSurvivesSignalsGoIgnores(t *testing.T) {
	forBodies(t, func(t *testing.T, b body) {
		c, stateDir := b.start(t, procBinary, func(*StartOptions) {})
		run(t, c, "c", "exec sleep 1000", CreateRequest{})
		b.waitSwitched(t, stateDir, b.mark(t, stateDir))
		mpid, start, err := api.ReadPidFile(stateDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, sig := range []syscall.Signal{unix.SIGUSR1, unix.SIGUSR2, unix.SIGALRM, unix.SIGIO, unix.SIGPWR, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, 40} {
			if err := syscall.Kill(mpid, sig); err != nil {
				t.Fatal(err)
			}
		}
		st, err := c.State(ctxT(t), "c")
		if err != nil || st.Status != "running" {
			t.Fatalf("state after the signals: %+v %v", st, err)
		}
		if s, err := api.ProcStartTime(mpid); err != nil || s != start {
			t.Fatalf("the monitor %d is gone (%v)", mpid, err)
		}
	})
}
