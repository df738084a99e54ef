package monitor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestStartDetaches: the monitor Start launches is not the caller's child, leads a
// session of its own and keeps no fd the caller leaked to it without close-on-exec
// (it lives for the pod's life: a pipe of the daemon's own parent would never see
// its end). Both launches: the C constructor's fork (api.DetachEnv, what crid does)
// and the Go re-exec a monitor does when an older crid starts it without the
// variable, during an upgrade. Not parallel: the leaked pipe must reach no other
// test's process.
func TestStartDetaches(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"c", monitorEnv},
		{"go", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := monitorEnv
			monitorEnv = tc.env
			t.Cleanup(func() { monitorEnv = saved })
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			// Inheritable, as a leaked fd is.
			if _, err := unix.FcntlInt(w.Fd(), unix.F_SETFD, 0); err != nil {
				t.Fatal(err)
			}
			_, stateDir := startMonitor(t, procBinary)
			w.Close()
			pid, _, err := api.ReadPidFile(stateDir)
			if err != nil {
				t.Fatal(err)
			}
			ppid, sid := procParentSession(t, pid)
			if ppid == os.Getpid() {
				t.Errorf("monitor %d is the caller's child", pid)
			}
			if sid != pid {
				t.Errorf("monitor %d is in session %d, want its own", pid, sid)
			}
			if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("the caller's leaked pipe: read %d, %v; want EOF (the monitor holds its write end)", n, err)
			}
			if b, err := os.ReadFile(api.LogPath(stateDir)); err == nil && bytes.Contains(b, []byte("level=ERROR")) {
				t.Errorf("monitor log:\n%s", b)
			}
		})
	}
}

// procParentSession reads pid's parent and session from /proc/<pid>/stat.
func procParentSession(t *testing.T, pid int) (ppid, sid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after comm: state ppid pgrp session ...
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 4 {
		t.Fatalf("short stat %q", b)
	}
	ppid, _ = strconv.Atoi(f[1])
	sid, _ = strconv.Atoi(f[3])
	return ppid, sid
}
