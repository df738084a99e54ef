package cli

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	// LabelManaged marks the pods and containers made by these commands.
	LabelManaged = "crid.dev/cli"
	// podNamespace is the CRI namespace of pods made here (kubelet uses the k8s namespace).
	podNamespace = "crid-cli"
	// annotationRun holds the runRecord as JSON on the pod.
	annotationRun = "crid.dev/cli.run"
)

// runRecord is what `crid run` knew and CRI does not keep in a form the other commands
// can read back: the image as typed, the published ports, the host side of --tmpfs
// mounts, and the container config (so that `crid start` can make the next attempt).
type runRecord struct {
	Image     string          `json:"image"`
	Command   []string        `json:"command,omitempty"`
	Ports     []portMapping   `json:"ports,omitempty"`
	Network   string          `json:"network"`
	TmpfsDirs []string        `json:"tmpfsDirs,omitempty"`
	LogDir    string          `json:"logDir,omitempty"`
	Container json.RawMessage `json:"container"` // protojson of runtimeapi.ContainerConfig
}

func (r *runRecord) encode(cfg *runtimeapi.ContainerConfig) (string, error) {
	raw, err := protojson.Marshal(cfg)
	if err != nil {
		return "", err
	}
	r.Container = raw
	b, err := json.Marshal(r)
	return string(b), err
}

func decodeRecord(annotations map[string]string) (*runRecord, error) {
	s, ok := annotations[annotationRun]
	if !ok {
		return nil, nil
	}
	var r runRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return nil, fmt.Errorf("pod annotation %s: %w", annotationRun, err)
	}
	return &r, nil
}

func (r *runRecord) containerConfig() (*runtimeapi.ContainerConfig, error) {
	var cfg runtimeapi.ContainerConfig
	if err := protojson.Unmarshal(r.Container, &cfg); err != nil {
		return nil, fmt.Errorf("stored container config: %w", err)
	}
	return &cfg, nil
}
