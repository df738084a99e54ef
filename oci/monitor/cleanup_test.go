package monitor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/oci/monitor/api"
)

// TestCleanupAfterPowerLoss: a power loss on a state dir kept on disk can leave the
// monitor's files (spec, state, pid file, an external runtime's record) empty or
// zero-filled (api.WriteFileAtomic does not fsync them).
// Cleanup after the reboot removes the monitor's dir instead of failing on them for
// ever; a spec that is not JSON for any other reason is still an error.
func TestCleanupAfterPowerLoss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		content []byte
		// beforeBoot dates the files before this boot: cut short by a power loss.
		beforeBoot bool
		wantErr    bool
	}{
		{"empty", nil, false, false},
		{"zeros", make([]byte, 300), false, false},
		{"not-json", []byte(`{"ociVersion":"1.2.0","linux":{"cgroupsP`), false, true},
		{"cut-short-before-boot", []byte(`{"ociVersion":"1.2.0","linux":{"cgroupsP`), true, false},
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
