package sandbox

import (
	"context"
	"io"
	"io/fs"
	"syscall"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/crid-dev/crid/sandbox/spec"
)

// Image is what the sandbox needs to know of a resolved image.
type Image struct {
	ID          string // "sha256:<config digest>"
	RepoTags    []string
	RepoDigests []string
	Config      ocispec.Image
}

// Rootfs are the overlay directories of a container's root filesystem.
type Rootfs struct {
	LowerDirs []string // top layer first
	UpperDir  string
	WorkDir   string
}

// FsUsage is the disk use of a writable layer.
type FsUsage struct {
	Mountpoint            string
	UsedBytes, InodesUsed uint64
}

// Images is the part of the image service containers are made from.
type Images interface {
	Resolve(refOrID string) (*Image, error) // errdefs.ErrNotFound when absent
	PrepareRootfs(ctx context.Context, containerID, imageID string) (*Rootfs, error)
	RemoveRootfs(ctx context.Context, containerID string) error // idempotent
	RootfsUsage(containerID string) (FsUsage, error)
}

// NetPod is a pod as the network plugin sees it.
type NetPod struct {
	ID, Name, Namespace, UID, NetNS string
	PortMappings                    []*runtimeapi.PortMapping
	Annotations                     map[string]string
	DNS                             *runtimeapi.DNSConfig
}

// Network makes pod network namespaces and plugs them in (CNI).
type Network interface {
	Ready() error
	// NetNSPath is where NewNetNS pins podID's namespace; known before it is made, so the
	// intent record can name it and a crash mid-way can still remove it.
	NetNSPath(podID string) string
	NewNetNS(podID string) (path string, err error)
	RemoveNetNS(path string) error // idempotent
	Setup(ctx context.Context, pod NetPod) (ips []string, err error)
	Teardown(ctx context.Context, pod NetPod) error // idempotent
	Check(ctx context.Context, pod NetPod) error
	SetPodCIDR(cidr string) error
}

// InfraID names the pod infra process in the monitor's states and events.
const InfraID = "pod-infra"

// Process statuses as the monitor reports them.
const (
	ProcCreated = "created"
	ProcRunning = "running"
	ProcStopped = "stopped"
)

// ProcState is a container's (or the infra's) life as its monitor saw it.
type ProcState struct {
	ID                               string
	Pid                              int
	Status                           string // ProcCreated, ProcRunning, ProcStopped
	ExitCode                         int32
	OOMKilled                        bool
	CreatedAt, StartedAt, FinishedAt time.Time
}

// CreateRequest creates a container in the pod's monitor.
type CreateRequest struct {
	ID        string
	Spec      *specs.Spec
	Rootfs    []specs.Mount
	LogPath   string
	Stdin     bool
	StdinOnce bool
	Terminal  bool
}

// TermSize is a terminal size.
type TermSize struct{ Width, Height uint16 }

// ExecRequest runs a process in a running container.
type ExecRequest struct {
	ContainerID string
	Process     *specs.Process
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	Terminal    bool
	Resize      <-chan TermSize
}

// CgroupStats are a container's cgroup figures.
type CgroupStats struct {
	Timestamp                                          time.Time
	CPUUsageNanos, CPUUserNanos, CPUSystemNanos        uint64
	CPUPeriods, CPUThrottledPeriods, CPUThrottledNanos uint64
	MemoryUsage                                        uint64
	MemoryWorkingSet                                   uint64
	MemoryRSS                                          uint64
	MemoryLimit                                        uint64 // 0 = unlimited
	MemoryCache, MemoryMappedFile, MemoryKernel        uint64
	MemoryMaxUsage, MemoryFailcnt, MemorySwap          uint64
	PageFaults                                         uint64
	MajorPageFaults                                    uint64
	OOMEvents                                          uint64
	Pids, PidsLimit                                    uint64
	IO                                                 []BlkioDevice
	// Pressure stall information; nil where the host does not report it (v1).
	CPUPressure, MemoryPressure, IOPressure *Pressure
}

// BlkioDevice is one block device's I/O by the container.
type BlkioDevice struct {
	Major, Minor                         uint64
	ReadBytes, WriteBytes, Reads, Writes uint64
}

// Pressure is a resource's pressure stall information: Some tasks, or all
// (Full), waiting for it. Full is nil where the kernel does not report it.
type Pressure struct{ Some, Full *PressureLine }

// PressureLine is one line of a cgroup's *.pressure file.
type PressureLine struct {
	Avg10, Avg60, Avg300 float64 // percent
	TotalMicros          uint64
}

// Cgroups reads containers' cgroups from the daemon itself: node-wide stats
// need no round trip through every pod's monitor.
type Cgroups interface {
	// Stats reads every figure of the cgroup a spec's linux.cgroupsPath names.
	Stats(cgroupsPath string) (*CgroupStats, error)
	// Usage reads only what the CRI stats messages carry (CPU, memory, swap, pids,
	// pressure), cheaply: kubelet asks for every container every few seconds.
	Usage(cgroupsPath string) (*CgroupStats, error)
	// Open opens what Usage keeps for the cgroup (its files), so that the first Usage
	// costs reads only: the container has just started.
	Open(cgroupsPath string)
	// Forget lets go of what Usage keeps for the cgroup (open files): its container
	// has exited or is removed.
	Forget(cgroupsPath string)
	// Pressure reads the cgroup's pressure stall information; nil where the host
	// reports none (v1).
	Pressure(cgroupsPath string) (cpu, memory, io *Pressure, err error)
	// Procs lists the processes in that cgroup and its children.
	Procs(cgroupsPath string) []int
}

// Monitor is the client of one pod's monitor process.
type Monitor interface {
	CreatePodInfra(ctx context.Context, spec *specs.Spec) (pid int, err error)
	Create(ctx context.Context, req CreateRequest) (pid int, err error)
	Start(ctx context.Context, id string) error
	Kill(ctx context.Context, id string, sig syscall.Signal, all bool) error
	State(ctx context.Context, id string) (*ProcState, error) // errdefs.ErrNotFound
	List(ctx context.Context) ([]*ProcState, error)
	// Events delivers exits, OOMKilled set before the exit is sent. It survives
	// reconnects and is closed by Close.
	Events() <-chan *ProcState
	Delete(ctx context.Context, id string) error // idempotent
	Update(ctx context.Context, id string, r *specs.LinuxResources) error
	ReopenLog(ctx context.Context, id string) error
	Exec(ctx context.Context, req ExecRequest) (exitCode int, err error)
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan TermSize) error
	Shutdown(ctx context.Context) error
	Close() error
}

// Runtime starts and finds per-pod monitors.
type Runtime interface {
	// Start starts the monitor of a pod whose runtime handler is handler ("" is the
	// built-in executor); the monitor keeps driving that handler's executor.
	Start(ctx context.Context, podID, stateDir, handler string) (Monitor, error)
	Connect(ctx context.Context, stateDir string) (Monitor, error) // errdefs.ErrUnavailable when gone
	// Cleanup kills what a dead monitor left (processes, cgroups) in stateDir.
	Cleanup(stateDir string) error
}

// Specs turns CRI config into OCI specs. The real one is sandbox/spec (pure functions);
// an interface here so that the state machine is tested apart from spec rules.
type Specs interface {
	PodSpec(in spec.PodInput) (*specs.Spec, error)
	ContainerSpec(in spec.ContainerInput) (*specs.Spec, error)
	ImageVolumes(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) ([]string, error)
	StopSignal(cfg *runtimeapi.ContainerConfig, img ocispec.ImageConfig) (syscall.Signal, error)
	LayerFS(layers ...fs.FS) fs.FS
	ContainerUser(s *specs.Spec) *runtimeapi.ContainerUser
	UpdateResources(s *specs.Spec, r *runtimeapi.LinuxContainerResources) (*specs.LinuxResources, error)
	CRIResources(s *specs.Spec) *runtimeapi.LinuxContainerResources
}

// Devices resolves Container Device Interface (CDI) devices: the CDIDevices of a
// ContainerConfig and its cdi.k8s.io/* annotations.
type Devices interface {
	// Resolve names the devices cfg asks for and checks each is known, before anything is
	// made: errdefs.ErrNotFound for an unknown device, ErrInvalidArgument for a malformed
	// name or annotation. No device asked for is (nil, nil).
	Resolve(cfg *runtimeapi.ContainerConfig) ([]string, error)
	// Inject applies the devices' edits (device nodes and their cgroup rules, mounts, env,
	// hooks) to s.
	Inject(s *specs.Spec, devices []string) error
}

// Hooks adds to a container's spec the OCI hooks that hooks.d files give it.
type Hooks interface {
	// Add appends the hooks matching the container cfg asks for (its annotations, its host
	// mounts) as s runs it. A hooks.d file that does not load is an error
	// (errdefs.ErrFailedPrecondition).
	Add(s *specs.Spec, cfg *runtimeapi.ContainerConfig) error
}

// NRI relays pod and container lifecycle events to Node Resource Interface plugins. Only
// CreateContainer and UpdateContainer can refuse: their error fails the request. The
// others' errors are logged.
type NRI interface {
	RunPod(ctx context.Context, p *Pod) error
	StopPod(ctx context.Context, p *Pod) error
	RemovePod(ctx context.Context, p *Pod) error
	// CreateContainer lets plugins adjust s, c's spec, before c is made (c.Spec is unset).
	CreateContainer(ctx context.Context, p *Pod, c *Container, s *specs.Spec) error
	ContainerCreated(ctx context.Context, p *Pod, c *Container) error
	StartContainer(ctx context.Context, p *Pod, c *Container) error
	ContainerStarted(ctx context.Context, p *Pod, c *Container) error
	StopContainer(ctx context.Context, p *Pod, c *Container) error
	RemoveContainer(ctx context.Context, p *Pod, c *Container) error
	// UpdateContainer lets plugins change r, the resources UpdateContainerResources is about
	// to set: nil keeps r; an error fails the update.
	UpdateContainer(ctx context.Context, p *Pod, c *Container, r *specs.LinuxResources) (*specs.LinuxResources, error)
	ContainerUpdated(ctx context.Context, p *Pod, c *Container) error
}

// Features are what the runtime handler really supports; cmd/crid asks the executor and
// the kernel, and Status advertises only these.
type Features struct {
	RecursiveReadOnlyMounts  bool
	UserNamespaces           bool
	SupplementalGroupsPolicy bool
}

// Config are the Manager's settings.
type Config struct {
	Root  string // persistent: <Root>/sandbox.db
	State string // runtime: <State>/pods/<id>
	// Handlers are the runtime handlers RunPodSandbox accepts besides "", which is the
	// built-in executor with Features.
	Handlers []Handler
	Features Features
	// SpecHost are node facts passed to every spec generation.
	SpecHost spec.Host
	// StopGrace bounds how long a stop waits for the exit after SIGKILL.
	StopGrace time.Duration
	// FsUsageInterval is how often a background collector measures containers'
	// writable layers (0: DefaultFsUsageInterval; negative: never, for tests that run
	// passes themselves). Stats requests only read its samples.
	FsUsageInterval time.Duration
	// StatsInterval is how often, while stats are asked for, a sampler re-reads every
	// running container's cgroup and pod's network counters (0: DefaultStatsInterval;
	// negative: no sampler, requests read what is older than StatsMaxAge themselves).
	StatsInterval time.Duration
	// StatsMaxAge bounds the age of a cgroup or network sample a node-wide stats request
	// reports; an older one is read again (0: twice the interval).
	StatsMaxAge time.Duration
	// FsUsageMaxAge bounds the age of a writable-layer figure a stats request reports:
	// an older sample is left out (0: DefaultFsUsageMaxAge).
	FsUsageMaxAge time.Duration
}

// Deps are the services the Manager drives. All are required.
type Deps struct {
	Images  Images
	Network Network
	Runtime Runtime
	Specs   Specs
	Cgroups Cgroups
	Devices Devices
	Hooks   Hooks
	// NRI is nil when NRI is off.
	NRI NRI
	// Mounter makes and removes the pod's /dev/shm tmpfs; nil means the real syscalls.
	Mounter Mounter
}

// Mounter is the privileged filesystem operations the sandbox does itself.
type Mounter interface {
	MountShm(path string, sizeBytes int64) error
	// MountOverlayRO mounts a read-only overlay of lowers (top first) at target.
	MountOverlayRO(lowers []string, target string) error
	Unmount(path string) error // idempotent: not mounted is fine
}
