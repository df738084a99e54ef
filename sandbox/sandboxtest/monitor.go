package sandboxtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

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
	// AfterStart, when set, runs once Start made process id RUNNING, before Start
	// returns (it may call Exit: a process that exits at once).
	AfterStart func(id string)
	Updated    map[string]*specs.LinuxResources
	Reopened   []string
	Handler    string // the runtime handler the monitor was started for
}

// InfraPid is the pid the fake gives every pod infra, and container pids start at
// InfraPid+1000: above Linux's PID_MAX_LIMIT (2^22), so no host process has them. What the
// Manager reads of /proc/<pid> (a ready pod's network counters) is then absent, as for a
// pod whose infra is gone, whatever runs on the host: with pid 100 the counters were those
// of whichever host thread had that pid at the time, if any.
const InfraPid = 1<<22 + 100

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
	c.m.procs[sandbox.InfraID] = &sandbox.ProcState{ID: sandbox.InfraID, Pid: InfraPid, Status: sandbox.ProcRunning, StartedAt: time.Now()}
	return InfraPid, nil
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
	pid := InfraPid + 1000 + len(c.m.procs)
	c.m.procs[r.ID] = &sandbox.ProcState{ID: r.ID, Pid: pid, Status: sandbox.ProcCreated, CreatedAt: time.Now()}
	return pid, nil
}

func (c *client) Start(_ context.Context, id string) error {
	if err := c.m.fail.check("start"); err != nil {
		return err
	}
	c.m.mu.Lock()
	p := c.m.procs[id]
	if p == nil {
		c.m.mu.Unlock()
		return fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
	}
	if p.Status != sandbox.ProcCreated {
		c.m.mu.Unlock()
		return fmt.Errorf("container %s is %s: %w", id, p.Status, errdefs.ErrFailedPrecondition)
	}
	p.Status, p.StartedAt = sandbox.ProcRunning, time.Now()
	after := c.m.AfterStart
	c.m.mu.Unlock()
	if after != nil {
		after(id)
	}
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
