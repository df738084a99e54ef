// Package sandboxtest has in-memory fakes of the services sandbox consumes, so the state
// machine (and the CRI layer above it) is tested without root, kernel or network. Each
// fake records what is alive, so a test can assert that a failure left nothing behind, and
// can be told to fail at a named step.
package sandboxtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
	"github.com/crid-dev/crid/sandbox/spec"
)

// Failures names steps that should fail ("netns", "setup", "monitor-start", "pod-spec",
// "infra", "prepare-rootfs", "container-spec", "create", "start", ...).
type Failures struct {
	mu sync.Mutex
	m  map[string]error
}

// Set makes step fail with err (nil clears it).
func (f *Failures) Set(step string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]error{}
	}
	if err == nil {
		delete(f.m, step)
	} else {
		f.m[step] = err
	}
}

// ErrPanic set for a step makes it panic instead of failing, as a bug would.
var ErrPanic = errors.New("sandboxtest: injected panic")

func (f *Failures) check(step string) error {
	f.mu.Lock()
	err := f.m[step]
	f.mu.Unlock()
	if errors.Is(err, ErrPanic) {
		panic(fmt.Sprintf("sandboxtest: injected panic at %s", step))
	}
	return err
}

// Env is a set of fakes sharing one Failures.
type Env struct {
	Fail    *Failures
	Images  *Images
	Network *Network
	Runtime *Runtime
	Specs   *Specs
	Mounter *Mounter
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
	return sandbox.Deps{Images: e.Images, Network: e.Network, Runtime: e.Runtime, Specs: e.Specs, Mounter: e.Mounter}
}

// Images is a fake image service.
type Images struct {
	fail   *Failures
	mu     sync.Mutex
	images map[string]*sandbox.Image
	// Rootfs holds the container ids with a prepared rootfs.
	Rootfs map[string]bool
}

// Add makes img resolvable by its id and by each of names.
func (i *Images) Add(img *sandbox.Image, names ...string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.images[img.ID] = img
	for _, n := range append(names, img.RepoTags...) {
		i.images[n] = img
	}
}

func (i *Images) Resolve(ref string) (*sandbox.Image, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if img, ok := i.images[ref]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (i *Images) PrepareRootfs(_ context.Context, id, imageID string) (*sandbox.Rootfs, error) {
	if err := i.fail.check("prepare-rootfs"); err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.Rootfs[id] = true
	return &sandbox.Rootfs{LowerDirs: []string{"/nonexistent/layer"}, UpperDir: "/u/" + id, WorkDir: "/w/" + id}, nil
}

func (i *Images) RemoveRootfs(_ context.Context, id string) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.Rootfs, id)
	return nil
}

func (i *Images) RootfsUsage(id string) (sandbox.FsUsage, error) {
	return sandbox.FsUsage{Mountpoint: "/var/lib/crid", UsedBytes: 4096, InodesUsed: 3}, nil
}

// Live returns the container ids holding a rootfs.
func (i *Images) Live() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return slices.Sorted(maps.Keys(i.Rootfs))
}

// Network is a fake CNI.
type Network struct {
	fail     *Failures
	mu       sync.Mutex
	NotReady error
	NetNS    map[string]bool // pinned paths
	Attached map[string]bool // netns paths with an ADD not yet DELeted
	CIDR     string
	// SetupGate, when not nil, is received from before Setup returns (to hold a
	// RunPodSandbox in flight).
	SetupGate chan struct{}
}

func (n *Network) Ready() error                  { return n.NotReady }
func (n *Network) NetNSPath(podID string) string { return "/run/netns/" + podID }
func (n *Network) NewNetNS(podID string) (string, error) {
	if err := n.fail.check("netns"); err != nil {
		return "", err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.NetNS[n.NetNSPath(podID)] = true
	return n.NetNSPath(podID), nil
}

func (n *Network) RemoveNetNS(path string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.NetNS, path)
	return nil
}

func (n *Network) Setup(ctx context.Context, pod sandbox.NetPod) ([]string, error) {
	if g := n.SetupGate; g != nil {
		<-g
	}
	if err := n.fail.check("setup"); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.Attached[pod.NetNS] = true
	return []string{"10.88.0.5", "fd00::5"}, nil
}

func (n *Network) Teardown(_ context.Context, pod sandbox.NetPod) error {
	if err := n.fail.check("teardown"); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.Attached, pod.NetNS)
	return nil
}

func (n *Network) Check(context.Context, sandbox.NetPod) error { return nil }
func (n *Network) SetPodCIDR(cidr string) error {
	n.mu.Lock()
	n.CIDR = cidr
	n.mu.Unlock()
	return nil
}

// Live returns the pinned netns and the attached ones.
func (n *Network) Live() (netns, attached []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Sorted(maps.Keys(n.NetNS)), slices.Sorted(maps.Keys(n.Attached))
}

// Mounter is a fake of the sandbox's own mounts.
type Mounter struct {
	fail   *Failures
	mu     sync.Mutex
	Mounts map[string]bool
}

func (m *Mounter) MountShm(path string, _ int64) error {
	if err := m.fail.check("shm"); err != nil {
		return err
	}
	m.mu.Lock()
	m.Mounts[path] = true
	m.mu.Unlock()
	return nil
}

func (m *Mounter) MountOverlayRO(_ []string, target string) error {
	m.mu.Lock()
	m.Mounts[target] = true
	m.mu.Unlock()
	return nil
}

func (m *Mounter) Unmount(path string) error {
	m.mu.Lock()
	delete(m.Mounts, path)
	m.mu.Unlock()
	return nil
}

// Live returns the mounted paths.
func (m *Mounter) Live() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.Mounts))
}

// Specs is a fake spec generator: a minimal spec carrying the command.
type Specs struct{ fail *Failures }

func (s *Specs) PodSpec(in spec.PodInput) (*specs.Spec, error) {
	if err := s.fail.check("pod-spec"); err != nil {
		return nil, err
	}
	return &specs.Spec{Process: &specs.Process{Args: []string{"pause"}}, Root: &specs.Root{Path: in.RootPath}}, nil
}

func (s *Specs) ContainerSpec(in spec.ContainerInput) (*specs.Spec, error) {
	if err := s.fail.check("container-spec"); err != nil {
		return nil, err
	}
	args := append(append([]string{}, in.Config.Command...), in.Config.Args...)
	return &specs.Spec{
		Process: &specs.Process{Args: args, Cwd: "/", User: specs.User{UID: 0, GID: 0}},
		Root:    &specs.Root{Path: in.RootfsPath},
		Linux:   &specs.Linux{Resources: &specs.LinuxResources{}},
	}, nil
}

func (s *Specs) ImageVolumes(_ *runtimeapi.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	return slices.Sorted(maps.Keys(img.Volumes)), nil
}

func (s *Specs) StopSignal(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error) {
	if img.StopSignal == "SIGQUIT" {
		return syscall.SIGQUIT, nil
	}
	return syscall.SIGTERM, nil
}

func (s *Specs) LayerFS(layers ...fs.FS) fs.FS { return nil }
func (s *Specs) ContainerUser(sp *specs.Spec) *runtimeapi.ContainerUser {
	return &runtimeapi.ContainerUser{Linux: &runtimeapi.LinuxContainerUser{Uid: int64(sp.Process.User.UID), Gid: int64(sp.Process.User.GID)}}
}

func (s *Specs) UpdateResources(sp *specs.Spec, r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error) {
	if r.CpuShares < 0 {
		return nil, fmt.Errorf("cpu_shares: negative: %w", errdefs.ErrInvalidArgument)
	}
	shares := uint64(r.CpuShares)
	lr := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}
	sp.Linux.Resources = lr
	return lr, nil
}

func (s *Specs) CRIResources(sp *specs.Spec) *runtimeapi.LinuxContainerResources {
	out := &runtimeapi.LinuxContainerResources{}
	if r := sp.Linux.Resources; r != nil && r.CPU != nil && r.CPU.Shares != nil {
		out.CpuShares = int64(*r.CPU.Shares)
	}
	return out
}

// Runtime is a fake monitor launcher: one Monitor per state dir.
type Runtime struct {
	fail     *Failures
	mu       sync.Mutex
	Monitors map[string]*Monitor // by state dir, alive or not
	Cleaned  []string            // state dirs Cleanup ran for
}

func (r *Runtime) Start(_ context.Context, podID, dir string) (sandbox.Monitor, error) {
	if err := r.fail.check("monitor-start"); err != nil {
		return nil, err
	}
	m := newMonitor(r.fail)
	r.mu.Lock()
	r.Monitors[dir] = m
	r.mu.Unlock()
	return m.client(), nil
}

func (r *Runtime) Connect(_ context.Context, dir string) (sandbox.Monitor, error) {
	r.mu.Lock()
	m := r.Monitors[dir]
	r.mu.Unlock()
	if m == nil || m.Dead() {
		return nil, fmt.Errorf("monitor of %s: %w", dir, errdefs.ErrUnavailable)
	}
	return m.client(), nil
}

func (r *Runtime) Cleanup(dir string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Cleaned = append(r.Cleaned, dir)
	if m := r.Monitors[dir]; m != nil {
		m.kill()
		delete(r.Monitors, dir)
	}
	return nil
}

// Monitor returns the monitor of the pod dir.
func (r *Runtime) Monitor(dir string) *Monitor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.Monitors[dir]
}

// Live returns the state dirs with a monitor process still alive.
func (r *Runtime) Live() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for d, m := range r.Monitors {
		if !m.Dead() {
			out = append(out, filepath.Base(d))
		}
	}
	return out
}

// Monitor is one fake pod monitor "process"; clients come and go like connections.
type Monitor struct {
	fail  *Failures
	mu    sync.Mutex
	procs map[string]*sandbox.ProcState
	dead  bool
	subs  []chan *sandbox.ProcState
	// IgnoreSignals: the processes survive every signal except SIGKILL.
	IgnoreSignals bool
	// ExecFunc runs an exec; nil writes "ok" and exits 0.
	ExecFunc func(ctx context.Context, req sandbox.ExecRequest) (int, error)
	// StatsFunc answers Stats; nil returns fixed figures.
	StatsFunc func(id string) (*sandbox.CgroupStats, error)
	Updated   map[string]*specs.LinuxResources
	Reopened  []string
}

func newMonitor(f *Failures) *Monitor {
	return &Monitor{fail: f, procs: map[string]*sandbox.ProcState{}, Updated: map[string]*specs.LinuxResources{}}
}

// Dead reports whether the monitor was shut down or killed.
func (m *Monitor) Dead() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}

func (m *Monitor) kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead {
		return
	}
	m.dead = true
	for _, s := range m.subs {
		close(s)
	}
	m.subs = nil
}

// Crash kills the monitor as if it died: clients' event streams end.
func (m *Monitor) Crash() { m.kill() }

// Exit ends process id with code, as if it exited by itself (OOM when oom).
func (m *Monitor) Exit(id string, code int32, oom bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exitLocked(id, code, oom)
}

func (m *Monitor) exitLocked(id string, code int32, oom bool) {
	p := m.procs[id]
	if p == nil || p.Status == sandbox.ProcStopped {
		return
	}
	p.Status, p.ExitCode, p.OOMKilled, p.FinishedAt = sandbox.ProcStopped, code, oom, time.Now()
	st := *p
	for _, s := range m.subs {
		select {
		case s <- &st:
		default:
		}
	}
}

// Procs returns the ids of the processes the monitor knows.
func (m *Monitor) Procs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.procs))
}

func (m *Monitor) client() *client {
	ch := make(chan *sandbox.ProcState, 64)
	m.mu.Lock()
	m.subs = append(m.subs, ch)
	// A new connection first replays the recorded exits, as the real monitor does.
	for _, p := range m.procs {
		if p.Status == sandbox.ProcStopped {
			st := *p
			ch <- &st
		}
	}
	m.mu.Unlock()
	return &client{m: m, events: ch}
}

// client is one connection to a Monitor.
type client struct {
	m      *Monitor
	events chan *sandbox.ProcState
	once   sync.Once
}

func (c *client) check() error {
	if c.m.Dead() {
		return fmt.Errorf("monitor: %w", errdefs.ErrUnavailable)
	}
	return nil
}

func (c *client) CreatePodInfra(_ context.Context, _ *specs.Spec) (int, error) {
	if err := c.m.fail.check("infra"); err != nil {
		return 0, err
	}
	if err := c.check(); err != nil {
		return 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.procs[sandbox.InfraID] = &sandbox.ProcState{ID: sandbox.InfraID, Pid: 100, Status: sandbox.ProcRunning, StartedAt: time.Now()}
	return 100, nil
}

func (c *client) Create(_ context.Context, r sandbox.CreateRequest) (int, error) {
	if err := c.m.fail.check("create"); err != nil {
		return 0, err
	}
	if err := c.check(); err != nil {
		return 0, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if _, ok := c.m.procs[r.ID]; ok {
		return 0, fmt.Errorf("container %s: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	pid := 1000 + len(c.m.procs)
	c.m.procs[r.ID] = &sandbox.ProcState{ID: r.ID, Pid: pid, Status: sandbox.ProcCreated, CreatedAt: time.Now()}
	return pid, nil
}

func (c *client) Start(_ context.Context, id string) error {
	if err := c.m.fail.check("start"); err != nil {
		return err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	p := c.m.procs[id]
	if p == nil {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if p.Status != sandbox.ProcCreated {
		return fmt.Errorf("container %s is %s: %w", id, p.Status, errdefs.ErrFailedPrecondition)
	}
	p.Status, p.StartedAt = sandbox.ProcRunning, time.Now()
	return nil
}

func (c *client) Kill(_ context.Context, id string, sig syscall.Signal, _ bool) error {
	if err := c.check(); err != nil {
		return err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if c.m.procs[id] == nil {
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if sig == syscall.SIGKILL || !c.m.IgnoreSignals {
		c.m.exitLocked(id, 128+int32(sig), false)
	}
	return nil
}

func (c *client) State(_ context.Context, id string) (*sandbox.ProcState, error) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	p := c.m.procs[id]
	if p == nil {
		return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	st := *p
	return &st, nil
}

func (c *client) List(context.Context) ([]*sandbox.ProcState, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	var out []*sandbox.ProcState
	for _, p := range c.m.procs {
		if p.ID == sandbox.InfraID {
			continue // as the real monitor: the infra is asked for by name
		}
		st := *p
		out = append(out, &st)
	}
	return out, nil
}

func (c *client) Events() <-chan *sandbox.ProcState { return c.events }

func (c *client) Delete(_ context.Context, id string) error {
	if err := c.m.fail.check("delete"); err != nil {
		return err
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	// As the real monitor: only a stopped process is deleted.
	if p := c.m.procs[id]; p != nil && p.Status != sandbox.ProcStopped {
		return fmt.Errorf("container %s is %s, not stopped: %w", id, p.Status, errdefs.ErrFailedPrecondition)
	}
	delete(c.m.procs, id)
	return nil
}

func (c *client) Update(_ context.Context, id string, r *specs.LinuxResources) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.Updated[id] = r
	return nil
}

func (c *client) Stats(ctx context.Context, id string) (*sandbox.CgroupStats, error) {
	if f := c.m.StatsFunc; f != nil {
		// As over a socket: the caller stops waiting when ctx ends, f may go on.
		type result struct {
			st  *sandbox.CgroupStats
			err error
		}
		ch := make(chan result, 1)
		go func() { st, err := f(id); ch <- result{st, err} }()
		select {
		case r := <-ch:
			return r.st, r.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &sandbox.CgroupStats{Timestamp: time.Now(), CPUUsageNanos: 1e9, MemoryUsage: 2 << 20, MemoryWorkingSet: 1 << 20, Pids: 1}, nil
}

func (c *client) ReopenLog(_ context.Context, id string) error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.m.Reopened = append(c.m.Reopened, id)
	return nil
}

func (c *client) Exec(ctx context.Context, r sandbox.ExecRequest) (int, error) {
	if f := c.m.ExecFunc; f != nil {
		return f(ctx, r)
	}
	if r.Stdout != nil {
		_, _ = io.WriteString(r.Stdout, "ok")
	}
	return 0, nil
}

func (c *client) Attach(context.Context, string, io.Reader, io.Writer, io.Writer, <-chan sandbox.TermSize) error {
	return nil
}

func (c *client) Shutdown(context.Context) error {
	if c.m.fail.check("shutdown") != nil {
		return c.m.fail.check("shutdown")
	}
	c.m.kill()
	return nil
}

func (c *client) Close() error {
	c.once.Do(func() {
		c.m.mu.Lock()
		defer c.m.mu.Unlock()
		for i, s := range c.m.subs {
			if s == c.events {
				c.m.subs = slices.Delete(c.m.subs, i, i+1)
				close(s)
				break
			}
		}
	})
	return nil
}
