package monitor

import (
	"os"
	"testing"
	"time"
)

// waitFor polls cond until it holds; what names the awaited state for a hang report. It
// gives up at the test binary's deadline (less a margin to report which wait hung), not
// after a fixed time: how long a process takes to start or a signal to land on a busy
// 2-core machine under -race is a guess about the load, not a property of the monitor.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	bound := time.Now().Add(10 * time.Minute)
	if d, ok := t.Deadline(); ok {
		bound = d.Add(-10 * time.Second)
	}
	for !cond() {
		if time.Now().After(bound) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exists says whether path exists: a container's script touches a file to say it
// reached a point (a trap installed, a line written).
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
