package sandbox

import (
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// PodState is a pod's readiness.
type PodState int

// The states of a pod.
const (
	PodReady PodState = iota
	PodNotReady
)

func (s PodState) String() string {
	if s == PodReady {
		return "READY"
	}
	return "NOTREADY"
}

// ContainerState is where a container is in its life.
type ContainerState int

// The states of a container.
const (
	ContainerCreated ContainerState = iota
	ContainerRunning
	ContainerExited
	ContainerUnknown
)

func (s ContainerState) String() string {
	return [...]string{"CREATED", "RUNNING", "EXITED", "UNKNOWN"}[s]
}

// Phase records how far a multi-step operation got, so a restart can finish or undo it.
type Phase string

// The phases of a pod or container record.
const (
	PhaseCreating Phase = "creating" // intent persisted; resources may be half made
	PhaseCreated  Phase = "created"  // complete
	PhaseRemoving Phase = "removing" // removal started; finish it at restart
)

// Pod is an immutable snapshot of a pod. Readers never lock: the Manager swaps in a new
// snapshot on every change (containerd #9770: status readers must not wait on slow work).
type Pod struct {
	ID             string
	Config         *runtimeapi.PodSandboxConfig `json:"-"` // as given to RunPodSandbox; never mutated (stored as protobuf)
	RuntimeHandler string
	State          PodState
	Phase          Phase
	CreatedAt      time.Time
	Dir            string   // <state>/pods/<id>
	NetNS          string   // pinned netns path; "" for host network
	IPs            []string // primary first
	InfraPid       int
	ShmMounted     bool // Dir/shm is a tmpfs crid mounted
	// NetworkDown: no CNI attachment to undo: DEL succeeded (at stop), or the pod never
	// had one (AnnotationNetwork "none"); removal need not run the plugins again.
	NetworkDown bool
	// Resources is the last UpdatePodSandboxResources (kubelet owns the pod cgroup; kept
	// for status).
	Resources *runtimeapi.LinuxContainerResources `json:"-"`
	// Message explains a NOTREADY pod crid found broken (monitor gone at restart).
	Message string
}

// Name is the pod's name reservation key.
func (p *Pod) key() string { return podKey(p.Config.GetMetadata()) }

// ContainerImage names the image a container came from, three ways as CRI wants.
type ContainerImage struct {
	Spec string // the reference the user gave
	Ref  string // repo digest when known, else the id
	ID   string // "sha256:..."
}

// Container is an immutable snapshot of a container.
type Container struct {
	ID         string
	PodID      string
	Config     *runtimeapi.ContainerConfig `json:"-"` // as given; never mutated (stored as protobuf)
	Image      ContainerImage
	State      ContainerState
	Phase      Phase
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	Reason     string // Completed, Error, OOMKilled, StartError, Unknown
	Message    string
	Pid        int
	LogPath    string // absolute; "" = no log
	Dir        string // <pod dir>/containers/<id>
	Spec       *specs.Spec
	StopSignal int
	// ExtraRootfs are the ids of rootfs snapshots held for image-volume mounts.
	ExtraRootfs []string
}

func (c *Container) key() string { return containerKey(c.PodID, c.Config.GetMetadata()) }

// EventType is what happened to a container or pod.
type EventType int

// The event types, as CRI's ContainerEventType.
const (
	EventCreated EventType = iota
	EventStarted
	EventStopped
	EventDeleted
)

// Event is one container or pod sandbox event. For a pod event ID is the pod's id.
// Pod and Containers are snapshots taken when the event happened; Containers are all the
// pod's containers (a deleted one no longer among them).
type Event struct {
	Type       EventType
	ID         string
	Pod        *Pod
	Containers []*Container
	At         time.Time
}
