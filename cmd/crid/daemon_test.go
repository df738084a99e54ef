package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/images"
)

// A startup that fails half-way returns its error (no panic) and closes what it had opened:
// the image store can be opened again at once.
func TestNewDaemonFailureClosesWhatItOpened(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Root = filepath.Join(dir, "root")
	cfg.State = filepath.Join(dir, "state")
	cfg.MonitorPath = "/bin/true"
	cfg.CNIConfDir = "relative" // cni.New refuses it, after the image store is open
	_, err := newDaemon(cfg, slog.Default())
	if err == nil || !strings.Contains(err.Error(), "cni") {
		t.Fatalf("want the cni error, got %v", err)
	}
	s, err := images.Open(imagesConfig(cfg))
	if err != nil {
		t.Fatalf("image store still held after a failed start: %v", err)
	}
	s.Close()
}
