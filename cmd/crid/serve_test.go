package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crid-dev/crid/config"

	"github.com/crid-dev/crid/internal/testenv"
)

// A SIGTERM that arrives while the daemon is still starting (here: right after it took the
// root lock, during recovery) makes it finish starting and stop cleanly, not die.
func TestSIGTERMDuringStartupStopsCleanly(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root (the daemon's image store, cgroups, netns dir)")
	}
	cfg := testServeConfig(t.TempDir())
	done := make(chan error, 1)
	go func() { done <- serve(cfg, func() (config.Config, error) { return cfg, nil }) }()
	lock := filepath.Join(cfg.Root, "crid.lock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon never took its lock")
		}
	}
	sigterm(t)
	waitServe(t, done)
	if _, err := os.Stat(cfg.Listen); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// SIGHUPs, even a burst of them during startup, reload and never stop the daemon, nor keep
// a later SIGTERM from stopping it.
func TestSIGHUPDuringStartupNeverStops(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root (the daemon's image store, cgroups, netns dir)")
	}
	cfg := testServeConfig(t.TempDir())
	var reloads atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- serve(cfg, func() (config.Config, error) { reloads.Add(1); return cfg, nil })
	}()
	lock := filepath.Join(cfg.Root, "crid.lock")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("daemon never took its lock")
		}
	}
	for range 5 {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); reloads.Load() == 0; time.Sleep(5 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve returned after SIGHUP: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP never reloaded")
		}
	}
	if c, err := net.Dial("unix", cfg.Listen); err != nil {
		t.Fatalf("not serving after SIGHUP: %v", err)
	} else {
		_ = c.Close()
	}
	sigterm(t)
	waitServe(t, done)
}

// testServeConfig is a daemon confined to dir: no metrics port, no CNI config, no pods.
func testServeConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.Listen = filepath.Join(dir, "state", "crid.sock")
	cfg.MetricsListen = ""
	cfg.MonitorPath = "/bin/true"
	cfg.CNIConfDir = filepath.Join(dir, "net.d")
	cfg.CNIWriteDefaultConfig = false
	return cfg
}

// sigterm sends SIGTERM to this test process, which serve has subscribed to.
func sigterm(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
}

// waitServe waits for serve to return and fails on its error.
func waitServe(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop after SIGTERM")
	}
}
