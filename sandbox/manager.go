package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// Manager owns the node's pods and containers.
//
// Locking: each index's lock guards only its maps (see index). Each object has an op
// lock serialising its slow operations and a small snapshot lock under which a new
// immutable snapshot is persisted, then stored and its event published. Readers load
// snapshots atomically, so List*/Status never wait for an operation.
// Lock order: pod op → container op → snapshot lock → index lock → broker.
type Manager struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store *store

	events   *broker
	podNames *reservations
	ctrNames *reservations

	pods *index[*podEntry]
	ctrs *index[*ctrEntry]

	stats statsCache
	fs    fsUsageCache
	// samples are the last cgroup and network reads stats requests share (stats_sampler.go).
	samples statsSamples

	now func() time.Time // event times; tests may pin it (export_test.go)
	// crashPoint, set by tests only (export_test.go), makes a failed RunPod or
	// CreateContainer return without releasing what it made, as a daemon crash at
	// that step would leave it, so tests check that recover() cleans it up
	// (containerd tests the same with failpoint binaries).
	crashPoint atomic.Bool

	ctx    context.Context // cancelled by Close: ends the event readers
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type podEntry struct {
	op   sync.RWMutex // Lock: run/stop/remove of the pod; RLock: container creation in it
	mu   sync.Mutex   // snapshot swaps
	snap atomic.Pointer[Pod]
	mon  atomic.Pointer[monitorRef]
}

type monitorRef struct{ Monitor }

type ctrEntry struct {
	op     sync.Mutex
	mu     sync.Mutex
	snap   atomic.Pointer[Container]
	exited chan struct{} // closed when the container reaches EXITED; guarded by mu
	// nriStop tells NRI plugins the container stopped: once, by whichever of its own exit
	// and StopContainer comes first, the other waiting until they were told.
	nriStop sync.Once
}

// New opens the store under cfg.Root, loads every pod and container, reconnects to their
// monitors and finishes or rolls back what a crash interrupted. log may be nil.
func New(ctx context.Context, cfg Config, deps Deps, log *slog.Logger) (*Manager, error) {
	if deps.Images == nil || deps.Network == nil || deps.Runtime == nil || deps.Specs == nil || deps.Devices == nil || deps.Hooks == nil {
		return nil, errors.New("sandbox: Images, Network, Runtime, Specs, Devices and Hooks are required")
	}
	if deps.Mounter == nil {
		deps.Mounter = sysMounter{}
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 2 * time.Minute
	}
	if cfg.FsUsageInterval == 0 {
		cfg.FsUsageInterval = DefaultFsUsageInterval
	}
	if cfg.FsUsageMaxAge <= 0 {
		cfg.FsUsageMaxAge = DefaultFsUsageMaxAge
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = DefaultStatsInterval
	}
	if cfg.StatsMaxAge <= 0 {
		cfg.StatsMaxAge = 2 * cfg.StatsInterval
		if cfg.StatsInterval < 0 {
			cfg.StatsMaxAge = 2 * DefaultStatsInterval
		}
	}
	for _, d := range []string{cfg.Root, filepath.Join(cfg.State, "pods")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	st, err := openStore(filepath.Join(cfg.Root, "sandbox.db"))
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	m := &Manager{
		cfg: cfg, deps: deps, log: log, store: st,
		events:   newBroker(),
		podNames: newReservations(), ctrNames: newReservations(),
		pods:    newIndex[*podEntry]("pod sandbox"),
		ctrs:    newIndex[*ctrEntry]("container"),
		stats:   statsCache{samples: map[string]cpuSample{}},
		fs:      newFsUsageCache(),
		samples: newStatsSamples(),
		now:     time.Now,
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.recover(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("sandbox: recover: %w", err)
	}
	m.openRecoveredCgroups()
	if cfg.FsUsageInterval > 0 {
		m.collectFsUsage()
	}
	if cfg.StatsInterval > 0 {
		m.sampleStats()
	}
	return m, nil
}

// Close stops watching monitors and closes the store. Pods and containers keep running:
// the daemon may restart at any time.
func (m *Manager) Close() error {
	m.cancel()
	for _, p := range m.pods.all() {
		if ref := p.mon.Load(); ref != nil {
			ref.Close()
		}
	}
	m.wg.Wait()
	m.samples.netDev.keep(nil)
	return m.store.close()
}

// Subscribe returns the container and pod events from now on; see broker.
func (m *Manager) Subscribe() (<-chan Event, func()) { return m.events.subscribe() }

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b[:])
}

// Pod returns the snapshot of pod id (or a unique prefix of it).
func (m *Manager) Pod(id string) (*Pod, error) {
	e, err := m.pods.lookup(id)
	if err != nil {
		return nil, err
	}
	return e.snap.Load(), nil
}

// Container returns the snapshot of container id (or a unique prefix of it).
func (m *Manager) Container(id string) (*Container, error) {
	e, err := m.ctrs.lookup(id)
	if err != nil {
		return nil, err
	}
	return e.snap.Load(), nil
}

// PodContainers returns snapshots of the pod's containers, oldest first.
func (m *Manager) PodContainers(podID string) []*Container {
	var out []*Container
	for _, e := range m.ctrs.all() {
		if c := e.snap.Load(); c.PodID == podID {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out
}

func (m *Manager) monitor(p *podEntry) (Monitor, error) {
	ref := p.mon.Load()
	if ref == nil {
		return nil, fmt.Errorf("pod %s: its monitor is gone: %w", p.snap.Load().ID, errdefs.ErrFailedPrecondition)
	}
	return ref.Monitor, nil
}

// podMonitor is the monitor of the pod with id podID.
func (m *Manager) podMonitor(podID string) (Monitor, error) {
	pe, err := m.pods.lookup(podID)
	if err != nil {
		return nil, err
	}
	return m.monitor(pe)
}

// updatePod applies fn to a copy of the pod's snapshot, persists the copy and only then
// makes it the snapshot and, when ev is not nil, publishes that event: what readers see
// is always what a restarted daemon would load, and a failed write changes nothing (the
// error says so; the old snapshot stays). fn returns false when nothing changed: then
// nothing is stored or published. It returns the current snapshot.
func (m *Manager) updatePod(e *podEntry, ev *EventType, fn func(*Pod) bool) (*Pod, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := *e.snap.Load()
	if !fn(&p) {
		return e.snap.Load(), nil
	}
	if err := m.store.putPod(&p); err != nil {
		return e.snap.Load(), fmt.Errorf("pod %s: persist: %w", p.ID, err)
	}
	e.snap.Store(&p)
	if ev != nil {
		m.events.publish(Event{Type: *ev, ID: p.ID, Pod: &p, Containers: m.PodContainers(p.ID), At: m.now()})
	}
	return &p, nil
}

// updateContainer is updatePod for a container; changed reports whether fn changed it
// (a transition is announced once).
func (m *Manager) updateContainer(e *ctrEntry, ev *EventType, fn func(*Container) bool) (_ *Container, changed bool, _ error) {
	return m.updateContainerThen(e, fn, func(c *Container) {
		if ev != nil {
			m.publishContainer(*ev, c)
		}
	})
}

// updateContainerThen is updateContainer with publish in place of one event: it runs once
// the new snapshot is stored, still under the entry's lock, so what it announces stays in
// order with the container's other changes.
func (m *Manager) updateContainerThen(e *ctrEntry, fn func(*Container) bool, publish func(*Container)) (_ *Container, changed bool, _ error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := *e.snap.Load()
	if !fn(&c) {
		return e.snap.Load(), false, nil
	}
	if err := m.store.putContainer(&c); err != nil {
		return e.snap.Load(), false, fmt.Errorf("container %s: persist: %w", c.ID, err)
	}
	e.snap.Store(&c)
	if c.State == ContainerExited && e.exited != nil {
		select {
		case <-e.exited:
		default:
			close(e.exited)
		}
	}
	publish(&c)
	return &c, true, nil
}

// publishContainer announces a change of c with the statuses of all the pod's containers:
// kubelet's evented PLEG takes an event's container list as the pod's whole status (as
// containerd sends it), so one container alone would make the others vanish. c is in
// that list unless it was just deleted.
func (m *Manager) publishContainer(ev EventType, c *Container) {
	var pod *Pod
	if pe, ok := m.pods.get(c.PodID); ok {
		pod = pe.snap.Load()
	}
	all := m.PodContainers(c.PodID)
	for i, o := range all {
		if o.ID == c.ID {
			all[i] = c // the caller's snapshot is the newest, even if a newer one raced in
		}
	}
	m.events.publish(Event{Type: ev, ID: c.ID, Pod: pod, Containers: all, At: m.now()})
}

func (m *Manager) podDir(id string) string { return filepath.Join(m.cfg.State, "pods", id) }

func ptr[T any](v T) *T { return &v }
