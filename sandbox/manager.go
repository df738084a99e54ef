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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crid-dev/crid/errdefs"
)

// Manager owns the node's pods and containers.
//
// Locking: m.mu guards only the maps (held for map reads and writes, never during slow
// work). Each object has an op lock serialising its slow operations and a small snapshot
// lock under which a new immutable snapshot is stored, persisted and its event published.
// Readers load snapshots atomically, so List*/Status never wait for an operation.
// Lock order: pod op → container op → snapshot lock → m.mu → broker.
type Manager struct {
	cfg   Config
	deps  Deps
	log   *slog.Logger
	store *store

	events   *broker
	podNames *reservations
	ctrNames *reservations

	mu        sync.RWMutex
	pods      map[string]*podEntry
	ctrs      map[string]*ctrEntry
	podByName map[string]string
	ctrByName map[string]string

	stats statsCache

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
}

// New opens the store under cfg.Root, loads every pod and container, reconnects to their
// monitors and finishes or rolls back what a crash interrupted. log may be nil.
func New(ctx context.Context, cfg Config, deps Deps, log *slog.Logger) (*Manager, error) {
	if deps.Images == nil || deps.Network == nil || deps.Runtime == nil || deps.Specs == nil {
		return nil, errors.New("sandbox: Images, Network, Runtime and Specs are required")
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
		pods: map[string]*podEntry{}, ctrs: map[string]*ctrEntry{},
		podByName: map[string]string{}, ctrByName: map[string]string{},
		stats: statsCache{samples: map[string]cpuSample{}},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if err := m.recover(ctx); err != nil {
		m.Close()
		return nil, fmt.Errorf("sandbox: recover: %w", err)
	}
	return m, nil
}

// Close stops watching monitors and closes the store. Pods and containers keep running:
// the daemon may restart at any time.
func (m *Manager) Close() error {
	m.cancel()
	m.mu.RLock()
	for _, p := range m.pods {
		if ref := p.mon.Load(); ref != nil {
			ref.Close()
		}
	}
	m.mu.RUnlock()
	m.wg.Wait()
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

// lookupPod finds a pod by id or unique id prefix.
func (m *Manager) lookupPod(id string) (*podEntry, error) {
	if id == "" {
		return nil, fmt.Errorf("pod sandbox id: empty: %w", errdefs.ErrInvalidArgument)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.pods[id]; ok {
		return e, nil
	}
	var found *podEntry
	for pid, e := range m.pods {
		if strings.HasPrefix(pid, id) {
			if found != nil {
				return nil, fmt.Errorf("pod sandbox id prefix %q is ambiguous: %w", id, errdefs.ErrInvalidArgument)
			}
			found = e
		}
	}
	if found == nil {
		return nil, fmt.Errorf("pod sandbox %q: %w", id, errdefs.ErrNotFound)
	}
	return found, nil
}

func (m *Manager) lookupContainer(id string) (*ctrEntry, error) {
	if id == "" {
		return nil, fmt.Errorf("container id: empty: %w", errdefs.ErrInvalidArgument)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e, ok := m.ctrs[id]; ok {
		return e, nil
	}
	var found *ctrEntry
	for cid, e := range m.ctrs {
		if strings.HasPrefix(cid, id) {
			if found != nil {
				return nil, fmt.Errorf("container id prefix %q is ambiguous: %w", id, errdefs.ErrInvalidArgument)
			}
			found = e
		}
	}
	if found == nil {
		return nil, fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound)
	}
	return found, nil
}

// Pod returns the snapshot of pod id (or a unique prefix of it).
func (m *Manager) Pod(id string) (*Pod, error) {
	e, err := m.lookupPod(id)
	if err != nil {
		return nil, err
	}
	return e.snap.Load(), nil
}

// Container returns the snapshot of container id (or a unique prefix of it).
func (m *Manager) Container(id string) (*Container, error) {
	e, err := m.lookupContainer(id)
	if err != nil {
		return nil, err
	}
	return e.snap.Load(), nil
}

// PodContainers returns snapshots of the pod's containers, oldest first.
func (m *Manager) PodContainers(podID string) []*Container {
	m.mu.RLock()
	var out []*Container
	for _, e := range m.ctrs {
		if c := e.snap.Load(); c.PodID == podID {
			out = append(out, c)
		}
	}
	m.mu.RUnlock()
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
	pe, err := m.lookupPod(podID)
	if err != nil {
		return nil, err
	}
	return m.monitor(pe)
}

// updatePod swaps in a changed copy of the pod's snapshot, persists it and, when ev is
// not nil, publishes that event. fn returns false when nothing changed: then nothing is
// stored or published. It returns the new snapshot.
func (m *Manager) updatePod(e *podEntry, ev *EventType, fn func(*Pod) bool) (*Pod, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := *e.snap.Load()
	if !fn(&p) {
		return e.snap.Load(), nil
	}
	e.snap.Store(&p)
	err := m.store.putPod(&p)
	if err != nil {
		m.log.Error("persisting pod", "pod", p.ID, "error", err)
	}
	if ev != nil {
		m.events.publish(Event{Type: *ev, ID: p.ID, Pod: &p, Containers: m.PodContainers(p.ID), At: time.Now()})
	}
	return &p, err
}

// updateContainer is updatePod for a container. fn returns false when nothing changed;
// then nothing is stored or published (a transition is announced once).
func (m *Manager) updateContainer(e *ctrEntry, ev *EventType, fn func(*Container) bool) (*Container, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := *e.snap.Load()
	if !fn(&c) {
		return e.snap.Load(), false, nil
	}
	e.snap.Store(&c)
	if c.State == ContainerExited && e.exited != nil {
		select {
		case <-e.exited:
		default:
			close(e.exited)
		}
	}
	err := m.store.putContainer(&c)
	if err != nil {
		m.log.Error("persisting container", "container", c.ID, "error", err)
	}
	if ev != nil {
		m.publishContainer(*ev, &c)
	}
	return &c, true, err
}

// publishContainer announces a change of c with the statuses of all the pod's containers:
// kubelet's evented PLEG takes an event's container list as the pod's whole status (as
// containerd sends it), so one container alone would make the others vanish. c is in
// that list unless it was just deleted.
func (m *Manager) publishContainer(ev EventType, c *Container) {
	var pod *Pod
	if pe, err := m.lookupPod(c.PodID); err == nil {
		pod = pe.snap.Load()
	}
	all := m.PodContainers(c.PodID)
	for i, o := range all {
		if o.ID == c.ID {
			all[i] = c // the caller's snapshot is the newest, even if a newer one raced in
		}
	}
	m.events.publish(Event{Type: ev, ID: c.ID, Pod: pod, Containers: all, At: time.Now()})
}

func (m *Manager) podDir(id string) string { return filepath.Join(m.cfg.State, "pods", id) }

func ptr[T any](v T) *T { return &v }

// timeNow is time.Now; a variable so tests can pin it.
var timeNow = time.Now
