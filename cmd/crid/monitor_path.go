package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/crid-dev/crid/oci/kernel"
)

// findMonitor locates crid-monitor: the configured path, next to this binary, then $PATH.
func findMonitor(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "crid-monitor")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("crid-monitor")
	if err != nil {
		return "", fmt.Errorf("crid-monitor not found next to crid or in $PATH (set monitor_path)")
	}
	return p, nil
}

// runtimeReadiness answers RuntimeReady: containers can run when the monitor binary is
// there and a cgroup hierarchy is mounted.
type runtimeReadiness struct {
	monitor string
	kernel  *kernel.Features // nil when the probe could not run
}

func (r runtimeReadiness) Ready() error {
	if r.kernel != nil {
		if err := r.kernel.Usable(); err != nil {
			return err
		}
	}
	if err := unix.Access(r.monitor, unix.X_OK); err != nil {
		return fmt.Errorf("monitor binary %s is not executable: %v", r.monitor, err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return fmt.Errorf("no cgroup filesystem at /sys/fs/cgroup: %v", err)
	}
	return nil
}
