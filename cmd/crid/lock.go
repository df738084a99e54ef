package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// lockRoot takes an exclusive lock in the root dir so two daemons never share one root.
// The lock dies with the process, so a kill -9 never leaves a stale lock behind.
func lockRoot(root string) (*os.File, error) { return lockDir(root, "crid.lock", "root") }

// lockState does the same for the state dir, whatever the root: a second daemon on the same
// state would otherwise run its recovery there, take the running daemon's pods for orphans
// (removing their pinned network namespaces), and only then find the socket in use.
func lockState(state string) (*os.File, error) { return lockDir(state, "crid-state.lock", "state") }

func lockDir(dir, name, what string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return nil, fmt.Errorf("%s dir: %w", what, err)
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		return nil, fmt.Errorf("another crid (pid %s) already uses %s %s: refusing to start", bytes.TrimSpace(holder), what, dir)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
