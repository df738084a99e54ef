package main

import (
	"slices"
	"testing"
)

// The adopted monitor's command line is the one Start gives a pod's monitor: what the
// idle switch execs and what ps and crid's tests look for; the spare's room is dropped.
func TestAdoptedArgv(t *testing.T) {
	spare := []string{"/bin/crid-monitor", "spare", "--log-level", "info", "--idle", "5s", "", "", ""}
	got := adoptedArgv(spare, "p1", "/run/crid/pods/p1")
	want := []string{"/bin/crid-monitor", "monitor", "p1", "--state-dir", "/run/crid/pods/p1", "--log-level", "info", "--idle", "5s"}
	if !slices.Equal(got, want) {
		t.Errorf("adoptedArgv = %q, want %q", got, want)
	}
}
