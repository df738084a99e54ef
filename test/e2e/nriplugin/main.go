// Command nriplugin is the NRI plugin the e2e tests build from the NRI module's stub: it
// records the events it sees, adds an env var to every container, bind mounts the host
// path a container's label names at /nri-mount and, once a container labelled
// e2e.crid.dev/nri-cpu-shares started, asks on its own for those CPU shares for it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

type plugin struct {
	mu     sync.Mutex
	events *os.File
	env    string
	label  string
	stub   stub.Stub
}

func (p *plugin) record(event string, pod *api.PodSandbox, ctr *api.Container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := event + " " + pod.GetName()
	if ctr != nil {
		line += " " + ctr.GetName()
	}
	fmt.Fprintln(p.events, line)
}

func (p *plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.events, "Synchronize %d %d\n", len(pods), len(ctrs))
	return nil, nil
}

func (p *plugin) RunPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RunPodSandbox", pod, nil)
	return nil
}

func (p *plugin) StopPodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("StopPodSandbox", pod, nil)
	return nil
}

func (p *plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.record("RemovePodSandbox", pod, nil)
	return nil
}

func (p *plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.record("CreateContainer", pod, ctr)
	adj := &api.ContainerAdjustment{}
	if k, v, ok := strings.Cut(p.env, "="); ok {
		adj.AddEnv(k, v)
	}
	if src := ctr.GetLabels()[p.label]; p.label != "" && src != "" {
		adj.AddMount(&api.Mount{Source: src, Destination: "/nri-mount", Type: "bind", Options: []string{"bind", "ro"}})
	}
	return adj, nil, nil
}

func (p *plugin) StartContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	p.record("StartContainer", pod, ctr)
	if v := ctr.GetLabels()["e2e.crid.dev/nri-cpu-shares"]; v != "" {
		shares, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return err
		}
		// Unsolicited, so not from within the runtime's request.
		go func() {
			failed, err := p.stub.UpdateContainers([]*api.ContainerUpdate{{ContainerId: ctr.GetId(),
				Linux: &api.LinuxContainerUpdate{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(shares)}}}}})
			p.mu.Lock()
			defer p.mu.Unlock()
			fmt.Fprintf(p.events, "UpdateContainers %s failed=%d err=%v\n", ctr.GetName(), len(failed), err)
		}()
	}
	return nil
}

func (p *plugin) StopContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) ([]*api.ContainerUpdate, error) {
	p.record("StopContainer", pod, ctr)
	return nil, nil
}

func (p *plugin) RemoveContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	p.record("RemoveContainer", pod, ctr)
	return nil
}

func main() {
	events := flag.String("events", "", "file the events are appended to")
	env := flag.String("env", "", "NAME=VALUE added to every container")
	label := flag.String("label", "", "a container label whose value is a host path bound at /nri-mount")
	name := flag.String("name", "", "plugin name (externally started)")
	idx := flag.String("idx", "", "plugin index (externally started)")
	socket := flag.String("socket", "", "the runtime's NRI socket (externally started)")
	flag.Parse()
	f, err := os.OpenFile(*events, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var opts []stub.Option
	if *name != "" {
		opts = append(opts, stub.WithPluginName(*name), stub.WithPluginIdx(*idx), stub.WithSocketPath(*socket))
	}
	p := &plugin{events: f, env: *env, label: *label}
	s, err := stub.New(p, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.stub = s
	if err := s.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
