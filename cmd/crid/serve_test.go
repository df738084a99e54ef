package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crid-dev/crid/config"
)

// A SIGTERM that arrives while the daemon is still starting (here: right after it took the
// root lock, during recovery) makes it finish starting and stop cleanly, not die.
func TestSIGTERMDuringStartupStopsCleanly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (the daemon's image store, cgroups, netns dir)")
	}
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.Listen = filepath.Join(dir, "state", "crid.sock")
	cfg.MetricsListen = ""
	cfg.MonitorPath = "/bin/true"
	cfg.CNIConfDir = filepath.Join(dir, "net.d")
	cfg.CNIWriteDefaultConfig = false
	done := make(chan error, 1)
	go func() { done <- serve(cfg) }()
	lock := filepath.Join(cfg.Root, "crid.lock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon never took its lock")
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop after SIGTERM")
	}
	if _, err := os.Stat(cfg.Listen); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}
