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

	"github.com/crid-dev/crid/errdefs"
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

// TestStartTakesTheMonitorsOk: the "ok" on the readiness pipe, written once the
// monitor's socket listens, is the proof Start returns on: no List round trip after
// it (one less on RunPodSandbox's critical path). A stand-in that says "ok" and never
// listens gets its client; the first call finds no monitor (unavailable). Starting
// the client's event watch is not a call: it retries in the background.
func TestStartTakesTheMonitorsOk(t *testing.T) {
	dir := t.TempDir()
	bin := dir + "/say-ok"
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho ok >&3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	stateDir := dir + "/state"
	c, err := Start(ctxT(t), StartOptions{PodID: "ok-only", StateDir: stateDir, Binary: bin})
	if err != nil {
		t.Fatalf("Start on the monitor's ok: %v", err)
	}
	defer c.Close()
	if _, err := c.List(ctxT(t)); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("a call to a monitor that said ok and is gone: %v, want ErrUnavailable", err)
	}
}
