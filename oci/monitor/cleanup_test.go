package monitor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/internal/bootid"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestCleanupAfterPowerLoss: a power loss on a state dir kept on disk can leave the
// monitor's files (spec, state, pid file, an external runtime's record) empty or
// zero-filled (api.WriteFileAtomic does not fsync them).
// Cleanup after the reboot removes the monitor's dir instead of failing on them for
// ever; a spec that is not JSON for any other reason is still an error.
func TestCleanupAfterPowerLoss(t *testing.T) {
	t.Parallel()
	cut := []byte(`{"ociVersion":"1.2.0","linux":{"cgroupsP`)
	for _, tc := range []struct {
		name    string
		content []byte
		// beforeBoot dates the files before this boot: cut short by a power loss.
		beforeBoot bool
		// boot, when set, is the boot id of a whole pid file (a pid no process has): it
		// decides which boot the bad JSON is of, whatever the files' dates.
		boot    string
		wantErr bool
	}{
		{"empty", nil, false, "", false},
		{"zeros", make([]byte, 300), false, "", false},
		{"not-json", cut, false, "", true},
		{"cut-short-before-boot", cut, true, "", false},
		// The last boot's clock was ahead, or this boot's was set back since.
		{"cut-short-other-boot", cut, false, otherBootID, false},
		// This boot's clock was set forward since the files were written.
		{"not-json-this-boot", cut, true, bootid.ID(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stateDir := t.TempDir()
			dir := api.ContainerDir(stateDir, "c")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{filepath.Join(dir, "spec.json"), filepath.Join(dir, "state.json"), api.PidPath(stateDir)} {
				if err := os.WriteFile(p, tc.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A container of an external runtime: its record is lost the same way, its
			// spec (no cgroup, no rootfs) is whole.
			ext := api.ContainerDir(stateDir, "ext")
			if err := os.MkdirAll(ext, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(ext, "spec.json"), []byte(`{"ociVersion":"1.2.0"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(api.ExternalRuntimePath(ext), tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.boot != "" {
				if err := os.WriteFile(api.PidPath(stateDir), []byte(fmt.Sprintf("%d 1 %s\n", noPid, tc.boot)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.beforeBoot {
				for _, p := range []string{filepath.Join(dir, "spec.json"), api.ExternalRuntimePath(ext)} {
					if err := os.Chtimes(p, time.Unix(86400, 0), time.Unix(86400, 0)); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := Cleanup(stateDir, cgroups.HostTree())
			if tc.wantErr {
				if err == nil {
					t.Fatal("cleanup of a spec that is not JSON: no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("monitor dir left: %v", err)
			}
		})
	}
}

// otherBootID is a boot id no boot has; noPid a pid no process has (above Linux's
// PID_MAX_LIMIT).
const (
	otherBootID = "00000000-0000-0000-0000-000000000000"
	noPid       = 1<<22 + 100
)

// TestCleanupOtherBoot: a state dir off tmpfs outlives a reboot. Its monitor's and its
// containers' pids and start times, recorded in the last boot, may be those of live
// processes of this boot: Cleanup kills none of them and removes the dir. Records of
// this boot, and old ones without a boot id (taken as this boot's), are killed.
func TestCleanupOtherBoot(t *testing.T) {
	t.Parallel()
	if bootid.ID() == "" {
		t.Skip("no boot id")
	}
	for _, tc := range []struct {
		name, boot string
		wantKilled bool
	}{
		{"other-boot", otherBootID, false},
		{"this-boot", bootid.ID(), true},
		{"no-boot-id", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stateDir := t.TempDir()
			// Live processes of this boot in the monitor's and a container init's record.
			mon, monStart := sleeper(t)
			init, initStart := sleeper(t)
			dir := api.ContainerDir(stateDir, "c")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%d %d %s", mon, monStart, tc.boot)
			if err := os.WriteFile(api.PidPath(stateDir), []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rec := &api.Record{State: api.State{ID: "c", Pid: init, Status: api.StatusRunning}, StartTime: initStart}
			if err := api.WriteRecord(dir, rec); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "spec.json"), []byte(`{"ociVersion":"1.2.0"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
				t.Fatal(err)
			}
			// killVerified returns once a killed process is a zombie (they are this
			// test's children, not reaped until its cleanup).
			for _, p := range []struct {
				what  string
				pid   int
				start uint64
			}{{"the monitor's", mon, monStart}, {"the container init's", init, initStart}} {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
				if killed := err != nil || isZombie(b); killed != tc.wantKilled {
					t.Errorf("pid file %q: %s pid %d killed %v, want %v", line, p.what, p.pid, killed, tc.wantKilled)
				}
			}
			if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("monitor dir left: %v", err)
			}
		})
	}
}

// TestCleanupOtherBootExternalRuntime: the state an external runtime keeps under a root
// off tmpfs outlives a reboot too, and names the last boot's init by pid and start time:
// Cleanup of another boot's dir does not run the runtime's `delete --force` (which would
// kill a process of this boot that has them) but removes that state; of this boot's, it
// does.
func TestCleanupOtherBootExternalRuntime(t *testing.T) {
	t.Parallel()
	if bootid.ID() == "" {
		t.Skip("no boot id")
	}
	for _, tc := range []struct {
		name, boot string
		wantDelete bool
	}{
		{"other-boot", otherBootID, false},
		{"this-boot", bootid.ID(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stateDir, root, calls := t.TempDir(), t.TempDir(), filepath.Join(t.TempDir(), "calls")
			runtime := filepath.Join(t.TempDir(), "runtime")
			if err := os.WriteFile(runtime, []byte("#!/bin/sh\necho \"$@\" >> "+calls+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(root, "ext"), 0o700); err != nil {
				t.Fatal(err)
			}
			dir := api.ContainerDir(stateDir, "ext")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(api.PidPath(stateDir), []byte(fmt.Sprintf("%d 1 %s\n", noPid, tc.boot)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "spec.json"), []byte(`{"ociVersion":"1.2.0"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := api.WriteExternalRuntime(dir, &api.ExternalRuntime{Path: runtime, Root: root}); err != nil {
				t.Fatal(err)
			}
			if err := Cleanup(stateDir, cgroups.HostTree()); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(calls)
			if deleted := len(b) > 0; deleted != tc.wantDelete {
				t.Errorf("runtime called %v (%q), want %v", deleted, b, tc.wantDelete)
			}
			if _, err := os.Stat(filepath.Join(root, "ext")); !tc.wantDelete && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the runtime's state of another boot left: %v", err)
			}
			if _, err := os.Stat(api.Dir(stateDir)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("monitor dir left: %v", err)
			}
		})
	}
}

// sleeper starts a process that runs until the test ends and returns its pid and start time.
func sleeper(t *testing.T) (int, uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait() // "signal: killed"
	})
	start, err := api.ProcStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid, start
}
