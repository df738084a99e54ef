package main

import (
	"os/exec"
	"testing"
	"time"

	"github.com/crid-dev/crid/internal/bootid"
)

// A recorded process of another boot is gone: its pid and start time may name a live
// process of this boot, which down must not signal. One of this boot, or recorded
// before boots were (no boot id), is stopped as before.
func TestProcOtherBoot(t *testing.T) {
	if bootid.ID() == "" {
		t.Skip("no boot id on this kernel")
	}
	for _, tc := range []struct {
		name, boot string
		thisBoot   bool
	}{
		{"other-boot", "00000000-0000-0000-0000-000000000000", false},
		{"this-boot", bootid.ID(), true},
		{"unrecorded", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Killed when the test ends, before its cleanups, which reap it.
			cmd := exec.CommandContext(t.Context(), "sleep", "100")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Wait() })
			p := proc{Name: "sleep", Pid: cmd.Process.Pid, Started: startTime(cmd.Process.Pid), Boot: tc.boot}
			if p.Started == "" {
				t.Fatal("no start time")
			}
			if p.alive() != tc.thisBoot {
				t.Errorf("alive %v, want %v", p.alive(), tc.thisBoot)
			}
			// stop returns once the process is a zombie (we do not reap it here) or
			// without signalling it.
			p.stop(5 * time.Second)
			unstamped := proc{Pid: p.Pid, Started: p.Started}
			if stopped := !unstamped.alive(); stopped != tc.thisBoot {
				t.Errorf("sleep %d stopped %v, want %v", p.Pid, stopped, tc.thisBoot)
			}
		})
	}
}
