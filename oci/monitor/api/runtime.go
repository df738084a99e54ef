package api

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// ExternalRuntime is what a monitor driving an external OCI runtime (runc, crun...)
// records beside a container's bundle, so that the container can still be deleted
// from the runtime when the monitor died (package monitor's Cleanup).
type ExternalRuntime struct {
	Path          string   `json:"path"`
	Root          string   `json:"root"`
	Args          []string `json:"args,omitempty"`
	SystemdCgroup bool     `json:"systemdCgroup,omitempty"`
}

// ExternalRuntimePath is the record's file in a container's monitor dir.
func ExternalRuntimePath(containerDir string) string {
	return filepath.Join(containerDir, "runtime.json")
}

// WriteExternalRuntime records r for the container whose monitor dir is containerDir.
func WriteExternalRuntime(containerDir string, r *ExternalRuntime) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return WriteFileAtomic(ExternalRuntimePath(containerDir), b, 0o600)
}

// ReadExternalRuntime reads the record (os.ErrNotExist: the built-in executor's container).
func ReadExternalRuntime(containerDir string) (*ExternalRuntime, error) {
	b, err := os.ReadFile(ExternalRuntimePath(containerDir))
	if err != nil {
		return nil, err
	}
	var r ExternalRuntime
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
