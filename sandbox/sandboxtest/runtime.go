package sandboxtest

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"

	"github.com/crid-dev/crid/errdefs"
	"github.com/crid-dev/crid/sandbox"
)

// Runtime is a fake monitor launcher: one Monitor per state dir.
type Runtime struct {
	fail     *Failures
	mu       sync.Mutex
	Monitors map[string]*Monitor // by state dir, alive or not
	Cleaned  []string            // state dirs Cleanup ran for
}

func (r *Runtime) Start(_ context.Context, podID, dir, handler string) (sandbox.Monitor, error) {
	if err := r.fail.check("monitor-start"); err != nil {
		return nil, err
	}
	m := newMonitor(r.fail)
	m.Handler = handler
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

// All returns every monitor started, alive or not.
func (r *Runtime) All() []*Monitor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Values(r.Monitors))
}
