package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/crid-dev/crid/config"
)

// A second daemon with its own root but the state dir of a running one is refused before
// it touches anything there (its recovery would take the other's pods for orphans).
func TestSecondDaemonOnSameStateRefused(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	held, err := lockState(state)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "other-root")
	cfg.State = state
	cfg.Listen = filepath.Join(dir, "other.sock")
	cfg.MetricsListen = ""
	cfg.CNIConfDir = "relative" // makes a startup that got past the lock fail right away
	err = serve(cfg, func() (config.Config, error) { return cfg, nil })
	if err == nil || !strings.Contains(err.Error(), "already uses state "+state) {
		t.Fatalf("second daemon on the same state: %v", err)
	}
}

func TestLockRootAndStateCanBeOneDir(t *testing.T) {
	dir := t.TempDir()
	r, err := lockRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := lockState(dir)
	if err != nil {
		t.Fatalf("root and state in one dir: %v", err)
	}
	s.Close()
	if _, err := lockRoot(dir); err == nil {
		t.Fatal("second root lock taken")
	}
}
