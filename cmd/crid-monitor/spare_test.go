package main

import (
	"errors"
	"slices"
	"strings"
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

// setCmdline rewrites the kept argument strings in place, NUL-padded, and says why not
// when it cannot: no strings kept, or argv longer than they are (by how much).
func TestSetCmdline(t *testing.T) {
	savedRegion, savedErr := argRegion, errNoArgRegion
	t.Cleanup(func() { argRegion, errNoArgRegion = savedRegion, savedErr })

	argRegion, errNoArgRegion = nil, errors.New("arg_start is elsewhere")
	if err := setCmdline([]string{"m"}); err == nil || !strings.Contains(err.Error(), "arg_start is elsewhere") {
		t.Errorf("no region: %v", err)
	}
	argRegion = []byte("spare\x00xx\x00\x00\x00")
	var over argvTooLong
	if err := setCmdline([]string{"monitor", "p12"}); !errors.As(err, &over) || over != 1 {
		t.Errorf("argv 1 byte too long: %v", err)
	}
	if err := setCmdline([]string{"mon", "p1"}); err != nil || string(argRegion) != "mon\x00p1\x00\x00\x00\x00\x00" {
		t.Errorf("rewrite: %v, region %q", err, argRegion)
	}
}
