package sandboxtest

import (
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/crid-dev/crid/sandbox"
)

// Env is a set of fakes sharing one Failures.
type Env struct {
	Fail    *Failures
	Images  *Images
	Network *Network
	Runtime *Runtime
	Specs   *Specs
	Mounter *Mounter
	Cgroups *Cgroups
	Devices *Devices
	Hooks   *Hooks
	NRI     *NRI
}

// NewEnv returns fakes with the image "busybox" present.
func NewEnv() *Env {
	f := &Failures{}
	e := &Env{
		Fail:    f,
		Images:  &Images{fail: f, images: map[string]*sandbox.Image{}, Rootfs: map[string]bool{}},
		Network: &Network{fail: f, NetNS: map[string]bool{}, Attached: map[string]bool{}},
		Runtime: &Runtime{fail: f, Monitors: map[string]*Monitor{}},
		Specs:   &Specs{fail: f},
		Mounter: &Mounter{fail: f, Mounts: map[string]bool{}},
		Cgroups: &Cgroups{},
		Devices: &Devices{fail: f, Known: map[string][]string{}},
		Hooks:   &Hooks{fail: f},
		NRI:     &NRI{fail: f},
	}
	e.Images.Add(&sandbox.Image{
		ID: "sha256:" + fmt.Sprintf("%064d", 1), RepoTags: []string{"docker.io/library/busybox:latest"},
		RepoDigests: []string{"docker.io/library/busybox@sha256:" + fmt.Sprintf("%064d", 2)},
		Config:      ocispec.Image{Config: ocispec.ImageConfig{StopSignal: "SIGQUIT"}},
	}, "busybox")
	return e
}

// Deps returns the fakes as sandbox.Deps.
func (e *Env) Deps() sandbox.Deps {
	return sandbox.Deps{Images: e.Images, Network: e.Network, Runtime: e.Runtime, Specs: e.Specs, Mounter: e.Mounter, Cgroups: e.Cgroups, Devices: e.Devices, Hooks: e.Hooks, NRI: e.NRI}
}
