package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/containerd/nri/pkg/adaptation"
	nrigen "github.com/containerd/nri/pkg/runtime-tools/generate"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/config"
	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// NRIHost is what the NRI adaptation needs of the runtime: the pods and containers plugins
// are synchronised with, and the updates and evictions they ask for (*sandbox.Manager).
type NRIHost interface {
	Pods(sandbox.PodFilter) []*sandbox.Pod
	Containers(sandbox.ContainerFilter) []*sandbox.Container
	UpdateContainerOCIResources(ctx context.Context, id string, r *specs.LinuxResources) error
	StopContainer(ctx context.Context, id string, timeout int64) error
}

// NRI is the Node Resource Interface runtime adaptation (sandbox.NRI): it runs the
// pre-registered plugins, listens for external ones and relays pod and container events.
type NRI struct {
	a    *adaptation.Adaptation
	cdi  *CDI
	log  *slog.Logger
	mu   sync.Mutex
	host NRIHost
}

// NewNRI makes the adaptation; Start runs it once the host exists.
func NewNRI(cfg config.NRI, cdi *CDI, log *slog.Logger) (*NRI, error) {
	n := &NRI{cdi: cdi, log: log}
	opts := []adaptation.Option{
		adaptation.WithPluginPath(cfg.PluginPath),
		adaptation.WithPluginConfigPath(cfg.PluginConfigPath),
		adaptation.WithSocketPath(cfg.SocketPath),
	}
	if cfg.DisableConnections {
		opts = append(opts, adaptation.WithDisabledExternalConnections())
	}
	a, err := adaptation.New("crid", config.Version, n.sync, n.update, opts...)
	if err != nil {
		return nil, fmt.Errorf("nri: %w", err)
	}
	n.a = a
	return n, nil
}

// Start starts the pre-registered plugins and the socket; plugins are synchronised with
// host's pods and containers as they register.
func (n *NRI) Start(host NRIHost) error {
	n.mu.Lock()
	n.host = host
	n.mu.Unlock()
	if err := n.a.Start(); err != nil {
		return fmt.Errorf("nri: %w", err)
	}
	return nil
}

// Stop stops the plugins crid started and the socket.
func (n *NRI) Stop() { n.a.Stop() }

func (n *NRI) runtime() NRIHost {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.host
}

// sync hands a registering plugin every pod and container, and applies the updates it
// asks for.
func (n *NRI) sync(ctx context.Context, cb adaptation.SyncCB) error {
	h := n.runtime()
	if h == nil {
		return errors.New("nri: runtime not started")
	}
	pods := h.Pods(sandbox.PodFilter{})
	byID := map[string]*sandbox.Pod{}
	nriPods := make([]*adaptation.PodSandbox, 0, len(pods))
	for _, p := range pods {
		byID[p.ID] = p
		nriPods = append(nriPods, nriPod(p))
	}
	var ctrs []*adaptation.Container
	for _, c := range h.Containers(sandbox.ContainerFilter{}) {
		if byID[c.PodID] != nil {
			ctrs = append(ctrs, nriContainer(c, c.Spec))
		}
	}
	updates, err := cb(ctx, nriPods, ctrs)
	if err != nil {
		return err
	}
	_, err = n.applyUpdates(ctx, updates)
	return err
}

// update applies updates a plugin asks for on its own and returns those that failed.
func (n *NRI) update(ctx context.Context, updates []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
	return n.applyUpdates(ctx, updates)
}

func (n *NRI) applyUpdates(ctx context.Context, updates []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
	h := n.runtime()
	var failed []*adaptation.ContainerUpdate
	var errs []error
	for _, u := range updates {
		r := u.GetLinux().GetResources()
		if r == nil || h == nil {
			continue
		}
		if err := h.UpdateContainerOCIResources(ctx, u.GetContainerId(), r.ToOCI()); err != nil {
			failed = append(failed, u)
			if !u.GetIgnoreFailure() {
				errs = append(errs, fmt.Errorf("container %s: %w", u.GetContainerId(), err))
			}
		}
	}
	return failed, errors.Join(errs...)
}

func (n *NRI) evict(ctx context.Context, evictions []*adaptation.ContainerEviction) {
	h := n.runtime()
	for _, e := range evictions {
		n.log.Info("NRI plugin evicts a container", "container", e.GetContainerId(), "reason", e.GetReason())
		if err := h.StopContainer(ctx, e.GetContainerId(), 0); err != nil {
			n.log.Warn("evicting a container for an NRI plugin", "container", e.GetContainerId(), "error", err)
		}
	}
}

// sideEffects applies, apart from the request that caused them, the updates and evictions
// of other containers a plugin asked for: the request holds locks they may need.
func (n *NRI) sideEffects(updates []*adaptation.ContainerUpdate, evictions []*adaptation.ContainerEviction) {
	if len(updates) == 0 && len(evictions) == 0 {
		return
	}
	go func() {
		ctx := context.Background()
		if _, err := n.applyUpdates(ctx, updates); err != nil {
			n.log.Warn("updating containers for an NRI plugin", "error", err)
		}
		n.evict(ctx, evictions)
	}()
}

func (n *NRI) RunPod(ctx context.Context, p *sandbox.Pod) error {
	return n.a.RunPodSandbox(ctx, &adaptation.RunPodSandboxRequest{Pod: nriPod(p)})
}

func (n *NRI) StopPod(ctx context.Context, p *sandbox.Pod) error {
	return n.a.StopPodSandbox(ctx, &adaptation.StopPodSandboxRequest{Pod: nriPod(p)})
}

func (n *NRI) RemovePod(ctx context.Context, p *sandbox.Pod) error {
	return n.a.RemovePodSandbox(ctx, &adaptation.RemovePodSandboxRequest{Pod: nriPod(p)})
}

// CreateContainer asks the plugins and applies their adjustment to s with NRI's own spec
// generator (annotations, env, args, mounts, devices, CDI devices, hooks, resources,
// rlimits, namespaces, sysctls...). A plugin's refusal is FailedPrecondition.
func (n *NRI) CreateContainer(ctx context.Context, p *sandbox.Pod, c *sandbox.Container, s *specs.Spec) error {
	resp, err := n.a.CreateContainer(ctx, &adaptation.CreateContainerRequest{Pod: nriPod(p), Container: nriContainer(c, s)})
	if err != nil {
		return fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	if adj := resp.GetAdjust(); adj != nil {
		opts := []nrigen.GeneratorOption{}
		if n.cdi != nil {
			opts = append(opts, nrigen.WithCDIDeviceInjector(n.cdi.Inject))
		}
		if err := nrigen.SpecGenerator(specEditor{s}, opts...).Adjust(adj); err != nil {
			return fmt.Errorf("applying the plugins' adjustment: %w: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	n.sideEffects(resp.GetUpdate(), resp.GetEvict())
	return nil
}

func (n *NRI) ContainerCreated(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	return n.a.PostCreateContainer(ctx, &adaptation.PostCreateContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
}

func (n *NRI) StartContainer(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	return n.a.StartContainer(ctx, &adaptation.StartContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
}

func (n *NRI) ContainerStarted(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	return n.a.PostStartContainer(ctx, &adaptation.PostStartContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
}

func (n *NRI) StopContainer(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	resp, err := n.a.StopContainer(ctx, &adaptation.StopContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
	if err != nil {
		return err
	}
	n.sideEffects(resp.GetUpdate(), nil)
	return nil
}

// UpdateContainer asks the plugins about r; the update they return for c itself is what is
// set, their updates of other containers and evictions apply apart.
func (n *NRI) UpdateContainer(ctx context.Context, p *sandbox.Pod, c *sandbox.Container, r *specs.LinuxResources) (*specs.LinuxResources, error) {
	resp, err := n.a.UpdateContainer(ctx, &adaptation.UpdateContainerRequest{
		Pod: nriPod(p), Container: nriContainer(c, c.Spec), LinuxResources: adaptation.FromOCILinuxResources(r, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	var own *specs.LinuxResources
	var others []*adaptation.ContainerUpdate
	for _, u := range resp.GetUpdate() {
		if u.GetContainerId() == c.ID {
			if lr := u.GetLinux().GetResources(); lr != nil {
				own = lr.ToOCI()
			}
			continue
		}
		others = append(others, u)
	}
	n.sideEffects(others, resp.GetEvict())
	return own, nil
}

func (n *NRI) ContainerUpdated(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	return n.a.PostUpdateContainer(ctx, &adaptation.PostUpdateContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
}

func (n *NRI) RemoveContainer(ctx context.Context, p *sandbox.Pod, c *sandbox.Container) error {
	return n.a.RemoveContainer(ctx, &adaptation.RemoveContainerRequest{Pod: nriPod(p), Container: nriContainer(c, c.Spec)})
}

func nriPod(p *sandbox.Pod) *adaptation.PodSandbox {
	md := p.Config.GetMetadata()
	return &adaptation.PodSandbox{
		Id: p.ID, Name: md.GetName(), Uid: md.GetUid(), Namespace: md.GetNamespace(),
		Labels: p.Config.GetLabels(), Annotations: p.Config.GetAnnotations(), RuntimeHandler: p.RuntimeHandler,
		Linux: &adaptation.LinuxPodSandbox{CgroupParent: p.Config.GetLinux().GetCgroupParent()},
		Pid:   uint32(p.InfraPid), Ips: p.IPs,
	}
}

// nriContainer describes c to plugins; s is its spec (c.Spec once made).
func nriContainer(c *sandbox.Container, s *specs.Spec) *adaptation.Container {
	out := &adaptation.Container{
		Id: c.ID, PodSandboxId: c.PodID, Name: c.Config.GetMetadata().GetName(), State: nriState(c),
		Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations(),
		Pid: uint32(c.Pid), ExitCode: c.ExitCode, StatusReason: c.Reason, StatusMessage: c.Message,
		CreatedAt: unixNano(c.CreatedAt.UnixNano()), StartedAt: unixNano(c.StartedAt.UnixNano()), FinishedAt: unixNano(c.FinishedAt.UnixNano()),
	}
	if s == nil {
		return out
	}
	if s.Process != nil {
		out.Args, out.Env = s.Process.Args, s.Process.Env
	}
	out.Mounts = adaptation.FromOCIMounts(s.Mounts)
	out.Hooks = adaptation.FromOCIHooks(s.Hooks)
	if l := s.Linux; l != nil {
		out.Linux = &adaptation.LinuxContainer{
			Namespaces:  adaptation.FromOCILinuxNamespaces(l.Namespaces),
			Devices:     adaptation.FromOCILinuxDevices(l.Devices),
			Resources:   adaptation.FromOCILinuxResources(l.Resources, nil),
			CgroupsPath: l.CgroupsPath,
		}
		if s.Process != nil && s.Process.OOMScoreAdj != nil {
			out.Linux.OomScoreAdj = &adaptation.OptionalInt{Value: int64(*s.Process.OOMScoreAdj)}
		}
	}
	return out
}

func unixNano(ns int64) int64 {
	if ns < 0 {
		return 0
	}
	return ns
}

func nriState(c *sandbox.Container) adaptation.ContainerState {
	switch c.State {
	case sandbox.ContainerCreated:
		return adaptation.ContainerState_CONTAINER_CREATED
	case sandbox.ContainerRunning:
		return adaptation.ContainerState_CONTAINER_RUNNING
	case sandbox.ContainerExited:
		return adaptation.ContainerState_CONTAINER_STOPPED
	}
	return adaptation.ContainerState_CONTAINER_UNKNOWN
}
