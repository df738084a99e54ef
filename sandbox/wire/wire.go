// Package wire adapts crid's concrete packages (images, cni, oci/monitor, sandbox/spec) to
// the small interfaces sandbox consumes. It is apart from sandbox so that sandbox and its
// unit tests build and run on fakes alone; cmd/crid imports this to wire the real ones:
//
//	deps := wire.Deps(imageService, cniManager, wire.MonitorOptions{Binary: path, LogLevel: lvl})
//	m, err := sandbox.New(ctx, cfg, deps, log)
package wire

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/cgroups"
	"github.com/crid-dev/crid/cni"
	"github.com/crid-dev/crid/images"
	"github.com/crid-dev/crid/oci/monitor"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec"

	"github.com/crid-dev/crid/oci/kernel"
)

// MonitorOptions are how pod monitors are started.
type MonitorOptions struct {
	Binary   string // path of crid-monitor
	LogLevel string
	Cgroups  cgroups.Tree     // the host's (cgroups.HostTree): where dead monitors' cgroups are removed
	Kernel   *kernel.Features // the daemon's kernel probe, handed to each monitor; nil = they probe
	// Runtimes are the external OCI runtimes of runtime handlers, by handler name; a
	// handler not here runs on the built-in executor.
	Runtimes map[string]monitor.Runtime
	// Idle is how long a monitor idles before it hands the pod to its C body (0: never).
	Idle time.Duration
	// Spares, if set (NewSpares), are monitors started ahead that pods of the built-in
	// executor adopt; nil starts each pod's monitor.
	Spares *monitor.Spares
}

// NewSpares keeps n spare monitors of o ready for pods of the built-in executor; the
// caller closes it when the daemon stops.
func NewSpares(o MonitorOptions, n int, log *slog.Logger) *monitor.Spares {
	return monitor.NewSpares(o.startOptions("", "", ""), n, log)
}

// startOptions are how the monitor of a pod of handler is started.
func (o MonitorOptions) startOptions(podID, stateDir, handler string) monitor.StartOptions {
	opts := monitor.StartOptions{PodID: podID, StateDir: stateDir, Binary: o.Binary, LogLevel: o.LogLevel}
	if rt, ok := o.Runtimes[handler]; ok {
		opts.Runtime = &rt
	} else {
		opts.Idle = o.Idle // an external runtime's pod never switches
	}
	if k := o.Kernel; k != nil {
		opts.Overlay, opts.IDMappedOverlay = k.Overlay, k.IDMappedOverlay
		opts.NoMountSetattr, opts.NoCloseRangeCloexec = !k.MountSetattr, !k.CloseRangeCloexec
	}
	return opts
}

// Deps returns the sandbox's dependencies over the real services.
func Deps(img *images.Service, net *cni.Manager, mon MonitorOptions) sandbox.Deps {
	return sandbox.Deps{
		Images:  Images{img},
		Network: Network{net},
		Runtime: Runtime{mon},
		Specs:   Specs{},
		Cgroups: NewCgroups(mon.Cgroups),
		Devices: NewCDI(nil), // no CDI device known until the caller sets its spec dirs
		Hooks:   Hooks{},     // no hooks.d until the caller sets its dirs
	}
}

// Images adapts images.Service.
type Images struct{ S *images.Service }

func (a Images) Resolve(ref string) (*sandbox.Image, error) {
	img, err := a.S.Resolve(ref)
	if err != nil {
		return nil, err
	}
	return &sandbox.Image{ID: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Config: img.Config}, nil
}

func (a Images) PrepareRootfs(ctx context.Context, containerID, imageID string) (*sandbox.Rootfs, error) {
	r, err := a.S.PrepareRootfs(ctx, containerID, imageID)
	if err != nil {
		return nil, err
	}
	return &sandbox.Rootfs{LowerDirs: r.LowerDirs, UpperDir: r.UpperDir, WorkDir: r.WorkDir}, nil
}

func (a Images) RemoveRootfs(ctx context.Context, containerID string) error {
	return a.S.RemoveRootfs(ctx, containerID)
}

func (a Images) RootfsUsage(containerID string) (sandbox.FsUsage, error) {
	u, err := a.S.RootfsUsage(containerID)
	return sandbox.FsUsage{Mountpoint: u.Mountpoint, UsedBytes: u.UsedBytes, InodesUsed: u.InodesUsed}, err
}

// Network adapts cni.Manager.
type Network struct{ M *cni.Manager }

func (a Network) Ready() error                          { return a.M.Ready() }
func (a Network) NetNSPath(podID string) string         { return a.M.NetNSPath(podID) }
func (a Network) NewNetNS(podID string) (string, error) { return a.M.NewNetNS(podID) }
func (a Network) RemoveNetNS(path string) error         { return a.M.RemoveNetNS(path) }
func (a Network) SetPodCIDR(cidr string) error          { return a.M.SetPodCIDR(cidr) }
func (a Network) ListNetNS() ([]string, error)          { return a.M.ListNetNS() }

func (a Network) Setup(ctx context.Context, pod sandbox.NetPod) ([]string, error) {
	r, err := a.M.Setup(ctx, cniPod(pod))
	if err != nil {
		return nil, err
	}
	return r.IPs, nil
}

func (a Network) Teardown(ctx context.Context, pod sandbox.NetPod) error {
	return a.M.Teardown(ctx, cniPod(pod))
}

func (a Network) Check(ctx context.Context, pod sandbox.NetPod) error {
	return a.M.Check(ctx, cniPod(pod))
}

func cniPod(p sandbox.NetPod) cni.Pod {
	out := cni.Pod{ID: p.ID, Name: p.Name, Namespace: p.Namespace, UID: p.UID, NetNS: p.NetNS, Annotations: p.Annotations}
	for _, pm := range p.PortMappings {
		if pm.GetHostPort() <= 0 {
			continue // not published on the node: nothing for portmap to do
		}
		out.PortMappings = append(out.PortMappings, cni.PortMapping{
			HostPort: pm.HostPort, ContainerPort: pm.ContainerPort, HostIP: pm.HostIp,
			Protocol: strings.ToLower(runtimeapi.Protocol_name[int32(pm.Protocol)]),
		})
	}
	if d := p.DNS; d != nil {
		out.DNS = &cni.DNS{Servers: d.Servers, Searches: d.Searches, Options: d.Options}
	}
	return out
}

// Runtime starts and finds pod monitors.
type Runtime struct{ Opts MonitorOptions }

func (r Runtime) Start(ctx context.Context, podID, stateDir, handler string) (sandbox.Monitor, error) {
	opts := r.Opts.startOptions(podID, stateDir, handler)
	start := monitor.Start
	if r.Opts.Spares != nil && opts.Runtime == nil {
		start = r.Opts.Spares.Start
	}
	c, err := start(ctx, opts)
	if err != nil {
		return nil, err
	}
	if r.Opts.Cgroups.Systemd {
		if err := monitorScope(ctx, podID, stateDir); err != nil {
			_ = c.Shutdown(ctx)
			_ = c.Close()
			return nil, err
		}
	}
	return newMonitor(c), nil
}

func (r Runtime) Connect(ctx context.Context, stateDir string) (sandbox.Monitor, error) {
	c, err := monitor.Connect(ctx, stateDir)
	if err != nil {
		return nil, err
	}
	return newMonitor(c), nil
}

func (r Runtime) Cleanup(stateDir string) error { return monitor.Cleanup(stateDir, r.Opts.Cgroups) }

// Monitor adapts monitor.Client.
type Monitor struct {
	c      *monitor.Client
	events chan *sandbox.ProcState
}

func newMonitor(c *monitor.Client) *Monitor {
	m := &Monitor{c: c, events: make(chan *sandbox.ProcState, 16)}
	go func() {
		defer close(m.events)
		for st := range c.Events() {
			m.events <- procState(st)
		}
	}()
	return m
}

func procState(s *monitor.State) *sandbox.ProcState {
	if s == nil {
		return nil
	}
	return &sandbox.ProcState{
		ID: s.ID, Pid: s.Pid, Status: s.Status, ExitCode: s.ExitCode, OOMKilled: s.OOMKilled,
		CreatedAt: s.CreatedAt, StartedAt: s.StartedAt, FinishedAt: s.FinishedAt,
	}
}

func (m *Monitor) CreatePodInfra(ctx context.Context, s *specs.Spec) (int, error) {
	return m.c.CreatePodInfra(ctx, monitor.PodInfraRequest{Spec: s})
}

func (m *Monitor) Create(ctx context.Context, r sandbox.CreateRequest) (int, error) {
	return m.c.Create(ctx, monitor.CreateRequest{
		ID: r.ID, Spec: r.Spec, Rootfs: r.Rootfs, LogPath: r.LogPath, Stdin: r.Stdin, StdinOnce: r.StdinOnce, Terminal: r.Terminal,
	})
}

func (m *Monitor) Start(ctx context.Context, id string) error { return m.c.Start(ctx, id) }
func (m *Monitor) Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	return m.c.Kill(ctx, id, sig, all)
}

func (m *Monitor) State(ctx context.Context, id string) (*sandbox.ProcState, error) {
	s, err := m.c.State(ctx, id)
	if err != nil {
		return nil, err
	}
	return procState(s), nil
}

func (m *Monitor) List(ctx context.Context) ([]*sandbox.ProcState, error) {
	l, err := m.c.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*sandbox.ProcState, len(l))
	for i, s := range l {
		out[i] = procState(s)
	}
	return out, nil
}

func (m *Monitor) Events() <-chan *sandbox.ProcState           { return m.events }
func (m *Monitor) Delete(ctx context.Context, id string) error { return m.c.Delete(ctx, id) }
func (m *Monitor) Update(ctx context.Context, id string, r *specs.LinuxResources) error {
	return m.c.Update(ctx, id, r)
}

func (m *Monitor) ReopenLog(ctx context.Context, id string) error { return m.c.ReopenLog(ctx, id) }

func (m *Monitor) Exec(ctx context.Context, r sandbox.ExecRequest) (int, error) {
	sizes, stop := resizes(r.Resize)
	defer stop()
	return m.c.Exec(ctx, monitor.ExecRequest{
		ContainerID: r.ContainerID, Process: r.Process, Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr,
		Terminal: r.Terminal, Resize: sizes,
	})
}

func (m *Monitor) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan sandbox.TermSize) error {
	sizes, stop := resizes(resize)
	defer stop()
	return m.c.Attach(ctx, id, stdin, stdout, stderr, sizes)
}

func (m *Monitor) Shutdown(ctx context.Context) error { return m.c.Shutdown(ctx) }
func (m *Monitor) Close() error                       { return m.c.Close() }

func resizes(in <-chan sandbox.TermSize) (<-chan monitor.Size, func()) {
	return sandbox.RelaySizes(in, func(s sandbox.TermSize) monitor.Size { return monitor.Size{Width: s.Width, Height: s.Height} })
}

// Specs is sandbox/spec.
type Specs struct{}

func (Specs) PodSpec(in spec.PodInput) (*specs.Spec, error) { return spec.PodSpec(in) }
func (Specs) ContainerSpec(in spec.ContainerInput) (*specs.Spec, error) {
	return spec.ContainerSpec(in)
}
func (Specs) ImageVolumes(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	return spec.ImageVolumes(cfg, img)
}
func (Specs) StopSignal(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error) {
	return spec.StopSignal(cfg, img)
}
func (Specs) LayerFS(layers ...fs.FS) fs.FS                         { return spec.LayerFS(layers...) }
func (Specs) ContainerUser(s *specs.Spec) *runtimeapi.ContainerUser { return spec.ContainerUser(s) }
func (Specs) CRIResources(s *specs.Spec) *runtimeapi.LinuxContainerResources {
	return spec.CRIResources(s)
}
func (Specs) UpdateResources(s *specs.Spec, r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error) {
	return spec.UpdateResources(s, r)
}
