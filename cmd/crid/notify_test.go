package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/crid-dev/crid/config"

	"github.com/crid-dev/crid/internal/testenv"
)

// Under a Type=notify unit systemd waits for READY=1; crid must send it only once the CRI
// socket answers, and STOPPING=1 when SIGTERM starts the shutdown.
func TestNotifiesSystemdReadyThenStopping(t *testing.T) {
	if !testenv.Privileged() {
		t.Skip("needs root (the daemon's image store, cgroups, netns dir)")
	}
	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	t.Setenv("NOTIFY_SOCKET", notifyPath)

	cfg := testServeConfig(dir)
	done := make(chan error, 1)
	go func() { done <- serve(cfg, func() (config.Config, error) { return cfg, nil }) }()

	next := func() string {
		t.Helper()
		buf := make([]byte, 256)
		_ = notify.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := notify.Read(buf)
		if err != nil {
			t.Fatalf("no notification from crid: %v", err)
		}
		return string(buf[:n])
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	c, err := net.Dial("unix", cfg.Listen)
	if err != nil {
		t.Fatalf("READY=1 sent but the CRI socket does not answer: %v", err)
	}
	c.Close()

	sigterm(t)
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("notification after SIGTERM %q, want STOPPING=1", got)
	}
	waitServe(t, done)
}
